#include "daemon/cli/common.hpp"

#include "base/log.hpp"
#include "calendar/zones.hpp"
#include "daemon/lifetime.hpp"
#include "store/conninfo.hpp"

#include <pqxx/connection>
#include <pqxx/except>

#include <iostream>

namespace convene::daemon::cli {

int usage_error(const std::string& message) {
  std::cerr << "convened: " << message << "\nsee 'convened help'\n";
  return 2;
}

bool is_option(const std::string& arg) { return !arg.empty() && arg[0] == '-'; }

int unexpected(const std::string& arg) {
  return usage_error(is_option(arg) ? "unknown option '" + arg + "'" : "unexpected argument '" + arg + "'");
}

std::optional<Config> load_or_report(const Globals& globals) {
  try {
    return load_config(globals.config_path, process_environment());
  } catch (const ConfigError& e) {
    std::cerr << "convened: " << e.what() << "\n";
    return std::nullopt;
  }
}

std::optional<Config> configure_command(const Globals& globals) {
  auto config = load_or_report(globals);
  if (!config) return config;
  log::configure(config->log_level, config->log_format);
  calendar::preload_zones();
  return config;
}

void apply_migrations(const Config& config, const std::vector<store::Migration>& migrations) {
  const auto options = pool_options(config);
  pqxx::connection connection(
      store::with_session_defaults(options.conninfo, options.connect_timeout, "convened-migrate"));
  const auto outcome = store::migrate(connection, migrations, [](const std::string& name, double seconds) {
    log::info("migration applied", {{"migration", name}, {"seconds", seconds}});
  });
  if (outcome.applied.empty())
    log::info("schema is up to date", {{"migrations", static_cast<unsigned long>(outcome.already_applied)}});
}

std::string describe_failure(const std::exception& e, const Config& config) {
  std::string what = e.what();
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr)
    return "cannot connect to the database " + store::redact_conninfo(config.database_url) + ": " + what;
  return what;
}

}  // namespace convene::daemon::cli
