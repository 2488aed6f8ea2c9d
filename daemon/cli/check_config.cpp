// convened check-config: validate the configuration and print the effective settings.
#include "daemon/cli/commands.hpp"

#include <iostream>

namespace convene::daemon::cli {

const Usage check_config_usage{"check-config", "validate the configuration and print the effective settings"};

int check_config(const Globals& globals, const Args& args) {
  if (!args.empty()) return unexpected(args.front());
  auto config = load_or_report(globals);
  if (!config) return 2;
  try {
    const auto migrations = store::load_migrations(config->schema_dir);
    for (const auto& line : describe(*config)) std::cout << line << "\n";
    std::cout << "# " << migrations.size() << " migration(s) in " << config->schema_dir.string() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "convened: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace convene::daemon::cli
