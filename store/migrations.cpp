#include "store/migrations.hpp"

#include <openssl/evp.h>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>

namespace convene::store {
namespace {

// Arbitrary but fixed: the key of the session advisory lock held while migrating ("convene").
constexpr long long kMigrationLockKey = 0x636f6e76656e65;

constexpr const char* kCreateTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL
))sql";

struct Applied {
  std::string name;
  std::string checksum;
};

std::map<int, Applied> read_applied(pqxx::transaction_base& tx) {
  std::map<int, Applied> applied;
  const auto exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return applied;
  for (const auto& row : tx.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version"))
    applied[row[0].template as<int>()] = Applied{row[1].template as<std::string>(), row[2].template as<std::string>()};
  return applied;
}

SchemaStatus compare(const std::map<int, Applied>& applied, const std::vector<Migration>& migrations) {
  SchemaStatus status;
  for (const auto& m : migrations) {
    const auto it = applied.find(m.version);
    if (it == applied.end()) {
      status.pending.push_back(m.name);
    } else if (it->second.checksum != m.checksum) {
      status.changed.push_back(m.name);
    }
  }
  for (const auto& [version, a] : applied) {
    const bool known = std::any_of(migrations.begin(), migrations.end(),
                                   [v = version](const Migration& m) { return m.version == v; });
    if (!known) status.unknown.push_back(a.name);
  }
  return status;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

class AdvisoryLock {
 public:
  explicit AdvisoryLock(pqxx::connection& c) : connection_(c) {
    pqxx::nontransaction(connection_).exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  }
  ~AdvisoryLock() {
    try {
      pqxx::nontransaction(connection_).exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    } catch (...) {
      // The session ends with the connection, and the lock with it.
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection& connection_;
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::vector<Migration> load_migrations(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw MigrationError("migrations directory " + dir.string() + " does not exist or is not a directory");
  static const std::regex file_name(R"(^([0-9]{3,})_([a-z0-9_]+)\.sql$)");
  std::vector<Migration> migrations;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    std::smatch match;
    if (!std::regex_match(name, match, file_name))
      throw MigrationError("migration file " + name + " is not named NNN_lower_case_name.sql");
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw MigrationError("cannot read migration " + entry.path().string());
    Migration m;
    m.version = std::stoi(match[1].str());
    m.name = name.substr(0, name.size() - 4);
    m.sql = text.str();
    m.checksum = sha256_hex(m.sql);
    migrations.push_back(std::move(m));
  }
  std::sort(migrations.begin(), migrations.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < migrations.size(); ++i)
    if (migrations[i].version == migrations[i - 1].version)
      throw MigrationError("migrations " + migrations[i - 1].name + " and " + migrations[i].name +
                           " share version " + std::to_string(migrations[i].version));
  return migrations;
}

SchemaStatus schema_status(pqxx::transaction_base& tx, const std::vector<Migration>& migrations) {
  return compare(read_applied(tx), migrations);
}

MigrationOutcome migrate(pqxx::connection& connection, const std::vector<Migration>& migrations,
                         const MigrationLog& on_applied) {
  AdvisoryLock lock(connection);
  {
    pqxx::work tx(connection);
    tx.exec(kCreateTable);
    tx.commit();
  }
  std::map<int, Applied> applied;
  {
    pqxx::read_transaction tx(connection);
    applied = read_applied(tx);
  }
  const SchemaStatus status = compare(applied, migrations);
  if (!status.changed.empty())
    throw MigrationError("applied migration(s) " + join(status.changed) +
                         " changed since they were applied (checksum mismatch); restore the original "
                         "file(s) and put the change in a new migration");
  const int newest_applied = applied.empty() ? 0 : applied.rbegin()->first;
  MigrationOutcome outcome;
  outcome.already_applied = migrations.size() - status.pending.size();
  for (const auto& m : migrations) {
    if (applied.count(m.version) != 0) continue;
    if (m.version < newest_applied)
      throw MigrationError("migration " + m.name + " is numbered below the newest applied migration " +
                           applied.rbegin()->second.name + "; give it a higher number");
    const auto started = std::chrono::steady_clock::now();
    pqxx::work tx(connection);
    try {
      tx.exec(m.sql);
    } catch (const pqxx::sql_error& e) {
      throw MigrationError("migration " + m.name + " failed (nothing of it was applied): " + e.what());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    tx.exec_params("INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
                   m.version, m.name, m.checksum, static_cast<int>(seconds * 1000));
    tx.commit();
    outcome.applied.push_back(m.name);
    if (on_applied) on_applied(m.name, seconds);
  }
  return outcome;
}

}  // namespace convene::store
