#include "store/database.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include <gtest/gtest.h>

#include <barrier>
#include <thread>

using namespace convene::store;
using namespace std::chrono_literals;
using convene::testing::DatabaseTest;

namespace {

PoolOptions options_for(const std::string& url, std::size_t size = 4) {
  PoolOptions o;
  o.conninfo = url;
  o.max_size = size;
  o.connect_timeout = 2s;
  o.acquire_timeout = 300ms;
  o.application_name = "convene-pool-test";
  return o;
}

}  // namespace

class Pool : public DatabaseTest {
 protected:
  void admin(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
};

TEST_F(Pool, ReusesConnections) {
  Database database(options_for(db.url()));
  for (int i = 0; i < 10; ++i) database.transact([](pqxx::work& tx) { tx.exec("SELECT 1"); });
  const auto s = database.stats();
  EXPECT_EQ(s.pool.connects_total, 1u);
  EXPECT_EQ(s.pool.acquisitions_total, 10u);
  EXPECT_EQ(s.pool.in_use, 0u);
  EXPECT_EQ(s.pool.open, 1u);
}

TEST_F(Pool, ReconnectsWhenTheServerDropsEveryConnection) {
  Database database(options_for(db.url()));
  {
    // Open two connections so both sit idle in the pool.
    auto a = database.pool().acquire();
    auto b = database.pool().acquire();
  }
  ASSERT_EQ(database.stats().pool.open, 2u);
  // What a PostgreSQL restart does to every session.
  admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'convene-pool-test'");

  const int value = database.transact([](pqxx::work& tx) { return tx.exec("SELECT 42")[0][0].as<int>(); });
  EXPECT_EQ(value, 42);
  const auto s = database.stats();
  EXPECT_GE(s.pool.broken_total, 1u);
  EXPECT_GE(s.pool.connects_total, 3u);
  EXPECT_GE(s.transaction_retries_total, 1u);
  EXPECT_EQ(s.transaction_failures_total, 0u);
  // The second stale connection was invalidated too, so the next transaction needs no retry.
  const auto retries = s.transaction_retries_total;
  database.transact([](pqxx::work& tx) { tx.exec("SELECT 1"); });
  EXPECT_EQ(database.stats().transaction_retries_total, retries);
}

TEST_F(Pool, ReplaysSerializationFailuresSoNoUpdateIsLost) {
  admin("CREATE TABLE counter (v int NOT NULL); INSERT INTO counter VALUES (0)");
  Database database(options_for(db.url()));
  std::barrier both_read(2);
  std::atomic<int> first_attempts{0};
  auto increment = [&] {
    TxOptions options;
    options.isolation = Isolation::serializable;
    database.transact(
        [&](pqxx::work& tx) {
          const int v = tx.exec("SELECT v FROM counter")[0][0].as<int>();
          // Both transactions read before either writes, on their first attempt only.
          if (first_attempts.fetch_add(1) < 2) both_read.arrive_and_wait();
          tx.exec_params("UPDATE counter SET v = $1", v + 1);
        },
        options);
  };
  std::thread a(increment), b(increment);
  a.join();
  b.join();
  pqxx::connection c(db.url());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT v FROM counter")[0][0].as<int>(), 2);
  EXPECT_GE(database.stats().transaction_retries_total, 1u);
}

TEST_F(Pool, PermanentErrorsFailAtOnceAndRollBack) {
  admin("CREATE TABLE t (k int PRIMARY KEY); INSERT INTO t VALUES (1)");
  Database database(options_for(db.url()));
  int calls = 0;
  EXPECT_THROW(database.transact([&](pqxx::work& tx) {
    ++calls;
    tx.exec("INSERT INTO t VALUES (2)");
    tx.exec("INSERT INTO t VALUES (1)");  // duplicate key
  }),
               pqxx::unique_violation);
  EXPECT_EQ(calls, 1);
  pqxx::connection c(db.url());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM t")[0][0].as<int>(), 1) << "the first insert must be rolled back";
  EXPECT_EQ(database.stats().transaction_failures_total, 1u);
}

TEST_F(Pool, IsBoundedAndTimesOutWhenExhausted) {
  Database database(options_for(db.url(), 2));
  auto a = database.pool().acquire();
  auto b = database.pool().acquire();
  EXPECT_THROW(database.pool().acquire(), PoolExhausted);
  EXPECT_EQ(database.stats().pool.acquire_timeouts_total, 1u);
  // A connection returned by another thread wakes a waiter.
  std::thread returner([lease = std::move(a)]() mutable {
    std::this_thread::sleep_for(50ms);
    auto gone = std::move(lease);
  });
  EXPECT_NO_THROW(database.pool().acquire());
  returner.join();
  EXPECT_LE(database.stats().pool.open, 2u);
}

TEST_F(Pool, AnUnreachableServerFailsAfterTheConfiguredAttempts) {
  const std::string closed = "postgresql://convene@127.0.0.1:" + std::to_string(convene::testing::free_port()) + "/x";
  Database database(options_for(closed));
  TxOptions options;
  options.max_attempts = 3;
  EXPECT_THROW(database.transact([](pqxx::work& tx) { tx.exec("SELECT 1"); }, options), pqxx::broken_connection);
  const auto s = database.stats();
  EXPECT_EQ(s.pool.connect_failures_total, 3u);
  EXPECT_EQ(s.pool.open, 0u) << "failed connects must not leak pool slots";
  EXPECT_EQ(s.transaction_failures_total, 1u);
}

TEST_F(Pool, ReadOnlyTransactionsCannotWrite) {
  admin("CREATE TABLE t (k int)");
  Database database(options_for(db.url()));
  TxOptions options;
  options.read_only = true;
  EXPECT_THROW(database.transact([](pqxx::work& tx) { tx.exec("INSERT INTO t VALUES (1)"); }, options),
               pqxx::sql_error);
}
