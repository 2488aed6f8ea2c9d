#pragma once
// One request, one transaction: Database::transact runs a function in a transaction on a
// pooled connection and replays it after a serialization failure, a deadlock or a broken
// connection. A COMMIT whose outcome is unknown (in doubt) is never replayed blindly.
#include "store/errors.hpp"
#include "store/pool.hpp"

#include <pqxx/transaction>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <type_traits>

namespace convene::store {

enum class Isolation { read_committed, repeatable_read, serializable };

struct TxOptions {
  Isolation isolation = Isolation::read_committed;
  int max_attempts = 5;
  bool read_only = false;
  std::chrono::milliseconds statement_timeout{0};  // 0: the server's setting
};

// Exponential backoff: the ceiling doubles per attempt from `base` up to `cap`; `unit_random`
// is in [0, 1) (store::unit_random()).
struct Backoff {
  std::chrono::milliseconds base{20};
  std::chrono::milliseconds cap{2000};
  // Full jitter, 0 to the ceiling: replayed transactions spread out as much as possible.
  std::chrono::milliseconds delay(int attempt, double unit_random) const;
  // Equal jitter, half the ceiling to the ceiling: a failed job or delivery is never retried
  // much sooner than its step, and retries of many still spread out.
  std::chrono::milliseconds equal_jitter(int attempt, double unit_random) const;
};

// Uniform in [0, 1), from a generator of the calling thread.
double unit_random();

struct DatabaseStats {
  PoolStats pool;
  std::uint64_t transactions_total = 0;
  std::uint64_t transaction_retries_total = 0;
  std::uint64_t transaction_failures_total = 0;
};

class Database {
 public:
  explicit Database(PoolOptions options) : pool_(std::move(options)) {}

  // `work(pqxx::work&)` may run more than once: it must have no effects outside the database.
  template <class Work>
  std::invoke_result_t<Work&, pqxx::work&> transact(Work&& work, TxOptions options = {});

  ConnectionPool& pool() { return pool_; }
  const PoolOptions& pool_options() const { return pool_.options(); }
  DatabaseStats stats() const;

 private:
  static void begin(pqxx::work& tx, const TxOptions& options);
  // Records the failure; returns how long to wait before the next attempt, or nothing to give up.
  std::optional<std::chrono::milliseconds> retry_delay(const std::exception_ptr& error, ConnectionPool::Lease* lease, int attempt,
                    const TxOptions& options);

  ConnectionPool pool_;
  Backoff backoff_;
  std::atomic<std::uint64_t> transactions_total_{0};
  std::atomic<std::uint64_t> retries_total_{0};
  std::atomic<std::uint64_t> failures_total_{0};
};

template <class Work>
std::invoke_result_t<Work&, pqxx::work&> Database::transact(Work&& work, TxOptions options) {
  using Result = std::invoke_result_t<Work&, pqxx::work&>;
  ++transactions_total_;
  for (int attempt = 1;; ++attempt) {
    std::optional<ConnectionPool::Lease> lease;
    try {
      lease.emplace(pool_.acquire());
      pqxx::work tx(**lease);
      begin(tx, options);
      if constexpr (std::is_void_v<Result>) {
        work(tx);
        tx.commit();
        return;
      } else {
        Result result = work(tx);
        tx.commit();
        return result;
      }
    } catch (...) {
      const auto delay = retry_delay(std::current_exception(), lease ? &*lease : nullptr, attempt, options);
      if (!delay) throw;
      lease.reset();  // do not hold a connection while backing off
      std::this_thread::sleep_for(*delay);
    }
  }
}

}  // namespace convene::store
