#include "daemon/readiness.hpp"

#include "store/conninfo.hpp"

namespace convene::daemon {
namespace {

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

ReadinessReport Readiness::check() const {
  ReadinessReport report;
  store::SchemaStatus status;
  try {
    store::TxOptions options;
    options.read_only = true;
    options.max_attempts = 2;  // one more try on a fresh connection after a PostgreSQL restart
    options.statement_timeout = std::chrono::milliseconds(2000);
    status = database_.transact([&](pqxx::work& tx) { return store::schema_status(tx, migrations_); }, options);
  } catch (const std::exception& e) {
    // libpq messages can quote the connection target but never the password.
    report.problems.push_back(std::string("database unreachable: ") + e.what());
    while (!report.problems.back().empty() && report.problems.back().back() == '\n') report.problems.back().pop_back();
    return report;
  }
  if (!status.pending.empty()) report.problems.push_back("migrations pending: " + list(status.pending));
  if (!status.changed.empty()) report.problems.push_back("applied migrations changed: " + list(status.changed));
  report.ready = report.problems.empty();
  return report;
}

}  // namespace convene::daemon
