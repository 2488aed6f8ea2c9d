// convened serve: run the daemon (daemon/lifetime.hpp) until it is stopped.
#include "base/log.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/lifetime.hpp"
#include "daemon/version.hpp"
#include "store/conninfo.hpp"

namespace convene::daemon::cli {

const Usage serve_usage{
    "serve [--migrate] [--test-clock[=INSTANT]]",
    "run the daemon (with --migrate, apply pending migrations first;\n"
    "with --test-clock, time is simulated: it starts at INSTANT, a UTC\n"
    "instant such as 2027-06-01T08:00:00Z, or now, and only moves when an\n"
    "admin calls POST /v1/admin/clock; for end-to-end tests, never production)"};

int serve(const Globals& globals, const Args& args) {
  DaemonOptions options{.config_path = globals.config_path};
  bool migrate_first = false;
  for (const auto& arg : args) {
    if (arg == "--migrate") {
      migrate_first = true;
    } else if (arg == "--test-clock" || arg.rfind("--test-clock=", 0) == 0) {
      options.test_clock = true;
      if (arg.size() > 13) options.test_clock_start = arg.substr(13);
      const auto& t = options.test_clock_start;
      if (arg.size() > 12 && (t.size() < 20 || t.back() != 'Z' || t[10] != 'T'))
        return usage_error("--test-clock= needs a UTC instant such as 2027-06-01T08:00:00Z");
    } else {
      return unexpected(arg);
    }
  }

  auto config = configure_command(globals);
  if (!config) return 2;
  try {
    auto migrations = store::load_migrations(config->schema_dir);
    log::info("starting", {{"version", std::string(kVersion)},
                           {"database", store::redact_conninfo(config->database_url)},
                           {"pool_size", static_cast<unsigned long>(config->database_pool_size)},
                           {"state_directory", config->state_directory.string()}});
    if (migrate_first) apply_migrations(*config, migrations);
    return run_daemon(options, *config, std::move(migrations));
  } catch (const std::exception& e) {
    log::error("convened cannot start", {{"error", describe_failure(e, *config)}});
    return 1;
  }
}

}  // namespace convene::daemon::cli
