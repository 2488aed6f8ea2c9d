#pragma once
// Numbered SQL migrations (schema/NNN_name.sql), applied in order, each in its own
// transaction, recorded in schema_migrations with a SHA-256 checksum. An applied migration
// whose file changed is refused; an advisory lock makes concurrent runs safe.
#include <pqxx/connection>
#include <pqxx/transaction_base>

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace convene::store {

class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Migration {
  int version = 0;
  std::string name;      // "001_core" (the file name without .sql)
  std::string sql;
  std::string checksum;  // hex SHA-256 of the file's bytes
};

// Reads every *.sql file of `dir`, sorted by version. Throws MigrationError for a badly named
// file, a duplicate version or an unreadable directory.
std::vector<Migration> load_migrations(const std::filesystem::path& dir);

std::string sha256_hex(std::string_view data);

struct SchemaStatus {
  std::vector<std::string> pending;  // known here, not yet applied
  std::vector<std::string> changed;  // applied, but the file's checksum differs now
  std::vector<std::string> unknown;  // applied by a newer release than this one
  bool up_to_date() const { return pending.empty() && changed.empty(); }
};

// Compares the database with `migrations`; works (all pending) when the table does not exist.
SchemaStatus schema_status(pqxx::transaction_base& tx, const std::vector<Migration>& migrations);

struct MigrationOutcome {
  std::vector<std::string> applied;  // applied by this run, in order
  std::size_t already_applied = 0;
};

using MigrationLog = std::function<void(const std::string& name, double seconds)>;

// Applies what is pending. Throws MigrationError (nothing applied) when an applied migration
// changed or a new one is numbered below the newest applied one.
MigrationOutcome migrate(pqxx::connection& connection, const std::vector<Migration>& migrations,
                         const MigrationLog& on_applied = {});

}  // namespace convene::store
