#pragma once
// The convened sub-commands. Each returns the process exit status: 0 success, 1 a runtime
// failure (database, migration, bind), 2 bad usage or configuration.
#include <filesystem>
#include <optional>

namespace convene::daemon {

struct CommandOptions {
  std::optional<std::filesystem::path> config_path;  // nullopt: the default path, optional
  bool migrate_first = false;                        // serve --migrate
  // token create
  std::string email;
  std::string name;
  std::string role;  // "", "admin" or "committee"
};

int serve(const CommandOptions& options);
int migrate(const CommandOptions& options);
int check_config(const CommandOptions& options);
// Bootstraps access: makes the member (when new), grants a global role, prints a new API token.
int token_create(const CommandOptions& options);

}  // namespace convene::daemon
