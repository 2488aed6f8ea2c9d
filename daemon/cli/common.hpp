#pragma once
// What the commands share: the global options, usage errors, loading the configuration,
// migrating, and describing a failure. Every command returns the process exit status: 0
// success, 1 a runtime failure (database, migration, bind), 2 bad usage or configuration.
#include "daemon/config.hpp"
#include "store/migrations.hpp"

#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convene::daemon::cli {

// What main reads before the command's own options: --config FILE.
struct Globals {
  std::optional<std::filesystem::path> config_path;  // nullopt: the default path, optional
};

// The arguments after the command's name, without the global options.
using Args = std::vector<std::string>;

// One entry of `convened help`: the synopsis, then what the command does (lines split by '\n').
struct Usage {
  std::string_view synopsis;
  std::string_view description;
};

// Prints "convened: MESSAGE" and a pointer to the help; returns 2.
int usage_error(const std::string& message);
// An argument the command does not take: "unknown option '-x'" or "unexpected argument 'x'".
int unexpected(const std::string& arg);
bool is_option(const std::string& arg);

std::optional<Config> load_or_report(const Globals& globals);
// A command's configuration with its logging set up and the zone database loaded;
// nullopt (exit 2) when the configuration is bad, already reported.
std::optional<Config> configure_command(const Globals& globals);
// Applies pending migrations on a dedicated session (the advisory lock is per session).
void apply_migrations(const Config& config, const std::vector<store::Migration>& migrations);
std::string describe_failure(const std::exception& e, const Config& config);

}  // namespace convene::daemon::cli
