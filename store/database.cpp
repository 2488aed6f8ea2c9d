#include "store/database.hpp"

#include <random>
#include <algorithm>

namespace convene::store {

namespace {

long long ceiling_ms(const Backoff& backoff, int attempt) {
  const int exponent = std::clamp(attempt - 1, 0, 20);
  return std::min<long long>(backoff.cap.count(), backoff.base.count() * (1LL << exponent));
}

}  // namespace

std::chrono::milliseconds Backoff::delay(int attempt, double unit_random) const {
  return std::chrono::milliseconds(static_cast<long long>(ceiling_ms(*this, attempt) * std::clamp(unit_random, 0.0, 1.0)));
}

std::chrono::milliseconds Backoff::equal_jitter(int attempt, double unit_random) const {
  const double half = ceiling_ms(*this, attempt) / 2.0;
  return std::chrono::milliseconds(static_cast<long long>(half + half * std::clamp(unit_random, 0.0, 1.0)));
}

double unit_random() {
  thread_local std::minstd_rand generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

void Database::begin(pqxx::work& tx, const TxOptions& options) {
  switch (options.isolation) {
    case Isolation::read_committed: break;
    case Isolation::repeatable_read: tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); break;
    case Isolation::serializable: tx.exec("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"); break;
  }
  if (options.read_only) tx.exec("SET TRANSACTION READ ONLY");
  if (options.statement_timeout.count() > 0)
    tx.exec("SET LOCAL statement_timeout = " + std::to_string(options.statement_timeout.count()));
}

std::optional<std::chrono::milliseconds> Database::retry_delay(const std::exception_ptr& error, ConnectionPool::Lease* lease, int attempt,
                            const TxOptions& options) {
  const FailureKind kind = classify(error);
  if (kind == FailureKind::connection || kind == FailureKind::in_doubt) {
    if (lease != nullptr) lease->discard();
    pool_.invalidate_idle();
  }
  if (!is_retryable(kind) || attempt >= options.max_attempts) {
    ++failures_total_;
    return std::nullopt;
  }
  ++retries_total_;
  return backoff_.delay(attempt, unit_random());
}

DatabaseStats Database::stats() const {
  DatabaseStats s;
  s.pool = pool_.stats();
  s.transactions_total = transactions_total_.load();
  s.transaction_retries_total = retries_total_.load();
  s.transaction_failures_total = failures_total_.load();
  return s;
}

}  // namespace convene::store
