// convened migrate: apply pending database migrations and exit.
#include "base/log.hpp"
#include "daemon/cli/commands.hpp"

#include <iostream>

namespace convene::daemon::cli {

const Usage migrate_usage{"migrate", "apply pending database migrations and exit"};

int migrate(const Globals& globals, const Args& args) {
  if (!args.empty()) return unexpected(args.front());
  auto config = load_or_report(globals);
  if (!config) return 2;
  log::configure(config->log_level, config->log_format);
  try {
    apply_migrations(*config, store::load_migrations(config->schema_dir));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "convened: migration failed: " << describe_failure(e, *config) << "\n";
    return 1;
  }
}

}  // namespace convene::daemon::cli
