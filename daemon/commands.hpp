#pragma once
// The convened sub-commands. Each returns the process exit status: 0 success, 1 a runtime
// failure (database, migration, bind), 2 bad usage or configuration.
#include <filesystem>
#include <optional>
#include <string>

namespace convene::daemon {

struct CommandOptions {
  std::optional<std::filesystem::path> config_path;  // nullopt: the default path, optional
  bool migrate_first = false;                        // serve --migrate
  // serve --test-clock[=INSTANT]: a simulated clock that POST /v1/admin/clock moves; starts at
  // INSTANT (RFC 3339 UTC) or at the real time.
  bool test_clock = false;
  std::string test_clock_start;
  // token create
  std::string email;
  std::string name;
  std::string role;  // "", "admin" or "committee"
  // import members FILE ("-": standard input)
  std::string file;
  // demo-data --if-empty
  bool if_empty = false;
  // simulate --member EMAIL [--from DATE|INSTANT] [--to DATE|INSTANT] [--json]
  std::string member;
  std::optional<std::string> from, to;
  bool json = false;
};

int serve(const CommandOptions& options);
int migrate(const CommandOptions& options);
int check_config(const CommandOptions& options);
// Bootstraps access: makes the member (when new), grants a global role, prints a new API token.
int token_create(const CommandOptions& options);
// Imports members and memberships from a CSV file in one transaction (POST /v1/import/members's
// rules): prints the summary; on problems prints FILE:LINE: field: message for each and exits 1
// having written nothing; exit 2 when the file cannot be read.
int import_members(const CommandOptions& options);
// Loads the demo data set into an empty database (see demo_data.hpp). With if_empty, a database
// that already has communities is left alone (exit 0); without it, that is an error (exit 1).
int demo_data(const CommandOptions& options);
// Prints what the member would receive in the range (GET /v1/members/{id}/upcoming's list) as
// a table or JSON, in a read-only transaction: nothing is sent or written. Exit 1 for an
// unknown member, 2 for a bad range.
int simulate(const CommandOptions& options);

}  // namespace convene::daemon
