#include "daemon/readiness.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include <gtest/gtest.h>

using namespace convene;
using convene::testing::DatabaseTest;
using convene::testing::project_migrations;

namespace {

store::PoolOptions options_for(const std::string& url) {
  store::PoolOptions o;
  o.conninfo = url;
  o.max_size = 2;
  o.connect_timeout = std::chrono::seconds(2);
  return o;
}

std::string joined(const daemon::ReadinessReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += p + "\n";
  return out;
}

}  // namespace

class ReadinessCheck : public DatabaseTest {};

TEST_F(ReadinessCheck, NotReadyUntilMigrated) {
  store::Database database(options_for(db.url()));
  daemon::Readiness readiness(database, project_migrations());
  auto report = readiness.check();
  EXPECT_FALSE(report.ready);
  EXPECT_NE(joined(report).find("migrations pending: 001_core"), std::string::npos) << joined(report);

  db.migrate();
  report = readiness.check();
  EXPECT_TRUE(report.ready) << joined(report);
  EXPECT_TRUE(report.problems.empty());
}

TEST_F(ReadinessCheck, NotReadyWhenAnAppliedMigrationChanged) {
  db.migrate();
  auto edited = project_migrations();
  edited[0].checksum = store::sha256_hex(edited[0].sql + "\n-- edited");
  store::Database database(options_for(db.url()));
  const auto report = daemon::Readiness(database, edited).check();
  EXPECT_FALSE(report.ready);
  EXPECT_NE(joined(report).find("applied migrations changed: 001_core"), std::string::npos) << joined(report);
}

TEST_F(ReadinessCheck, ReportsAnUnreachableDatabaseWithoutThePassword) {
  const std::string url =
      "postgresql://convene:topsecretpw@127.0.0.1:" + std::to_string(convene::testing::free_port()) + "/convene";
  store::Database database(options_for(url));
  const auto report = daemon::Readiness(database, project_migrations()).check();
  EXPECT_FALSE(report.ready);
  ASSERT_EQ(report.problems.size(), 1u);
  // The probe learns the state, not libpq's text (which names hosts); the log has the reason.
  EXPECT_EQ(report.problems[0], "database unreachable");
}

TEST_F(ReadinessCheck, RecoversOnceTheDatabaseComesBack) {
  db.migrate();
  store::Database database(options_for(db.url()));
  daemon::Readiness readiness(database, project_migrations());
  ASSERT_TRUE(readiness.check().ready);
  {
    pqxx::connection admin(db.url());
    pqxx::nontransaction tx(admin);
    const auto killed = tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = 'convened-readyz' AND datname = current_database() "
                                "AND pid <> pg_backend_pid()");
    ASSERT_EQ(killed.size(), 1u) << "the check keeps one connection of its own";
  }
  EXPECT_TRUE(readiness.check().ready) << "a dropped connection is replaced, not reported";
}

TEST_F(ReadinessCheck, AnswersWhileEveryPooledConnectionIsBusy) {
  db.migrate();
  auto options = options_for(db.url());
  options.max_size = 1;
  options.acquire_timeout = std::chrono::milliseconds(100);
  store::Database database(options);
  daemon::Readiness readiness(database, project_migrations());
  auto held = database.pool().acquire();  // the pool's only connection, busy
  EXPECT_TRUE(readiness.check().ready) << "the check does not wait for the pool";
  EXPECT_THROW(database.transact([](pqxx::work&) {}), store::PoolExhausted);
  const auto report = readiness.check();
  EXPECT_FALSE(report.ready);
  EXPECT_EQ(joined(report), "pool busy\n") << "busy, not unreachable";
  EXPECT_TRUE(readiness.check().ready) << "no request was turned away since the last check";
}
