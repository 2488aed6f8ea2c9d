#include "daemon/readiness.hpp"

#include "base/log.hpp"
#include "store/conninfo.hpp"

#include <pqxx/transaction>

namespace convene::daemon {
namespace {

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

store::SchemaStatus Readiness::schema_status() const {
  const auto& options = database_.pool_options();
  // One more try on a fresh connection after a PostgreSQL restart dropped the old one.
  for (int attempt = 1;; ++attempt) {
    try {
      if (!connection_ || !connection_->is_open())
        connection_ = std::make_unique<pqxx::connection>(
            store::with_session_defaults(options.conninfo, options.connect_timeout, "convened-readyz"));
      pqxx::read_transaction tx(*connection_);
      tx.exec("SET LOCAL statement_timeout = 2000");
      return store::schema_status(tx, migrations_);
    } catch (const pqxx::broken_connection&) {
      connection_.reset();
      if (attempt == 2) throw;
    }
  }
}

ReadinessReport Readiness::check() const {
  std::lock_guard lock(mutex_);
  ReadinessReport report;
  store::SchemaStatus status;
  try {
    status = schema_status();
  } catch (const std::exception& e) {
    connection_.reset();
    // The reason goes to the log (libpq's text names hosts); the probe only learns the state.
    log::warn("readiness check: database unreachable",
              {{"database", store::redact_conninfo(database_.pool_options().conninfo)}, {"error", std::string(e.what())}});
    report.problems.push_back("database unreachable");
    return report;
  }
  if (!status.pending.empty()) report.problems.push_back("migrations pending: " + list(status.pending));
  if (!status.changed.empty()) report.problems.push_back("applied migrations changed: " + list(status.changed));
  // Requests gave up waiting for a pooled connection since the last check: the database
  // answers, but this instance cannot take more work now.
  const auto timeouts = database_.stats().pool.acquire_timeouts_total;
  if (timeouts > acquire_timeouts_seen_) report.problems.push_back("pool busy");
  acquire_timeouts_seen_ = timeouts;
  report.ready = report.problems.empty();
  return report;
}

}  // namespace convene::daemon
