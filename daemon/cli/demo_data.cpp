// convened demo-data: load the demo data set (daemon/demo_data.hpp) into an empty database.
// With --if-empty, a database that already has communities is left alone (exit 0); without
// it, that is an error (exit 1).
#include "calendar/clock.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/demo_data.hpp"
#include "daemon/lifetime.hpp"
#include "store/database.hpp"

#include <iostream>

namespace convene::daemon::cli {

const Usage demo_data_usage{"demo-data [--if-empty]",
                            "load a small demo data set (communities, rooms, leaders, members,\n"
                            "meetings, topics) through the API and print API tokens to try it;\n"
                            "only into a database without communities (--if-empty: skip quietly)"};

int demo_data(const Globals& globals, const Args& args) {
  bool if_empty = false;
  for (const auto& arg : args) {
    if (arg == "--if-empty")
      if_empty = true;
    else
      return unexpected(arg);
  }

  auto config = configure_command(globals);
  if (!config) return 2;
  try {
    calendar::SystemClock clock;
    store::Database database(pool_options(*config));
    const auto outcome = load_demo_data(database, *config, clock);
    if (!outcome.loaded && !if_empty) {
      std::cerr << "convened: " << outcome.report.front()
                << "; demo data goes only into an empty database (--if-empty skips quietly)\n";
      return 1;
    }
    for (const auto& line : outcome.report) std::cout << line << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "convened: demo-data failed: " << describe_failure(e, *config)
              << "\n(what was made before the failure stays; start from an empty database to load it again)\n";
    return 1;
  }
}

}  // namespace convene::daemon::cli
