#pragma once
// The daemon's lifetime: build every part from the configuration, run the loop until SIGINT or
// SIGTERM (SIGHUP reloads), shut down within shutdown_timeout. `convened serve` is its caller.
#include "daemon/config.hpp"
#include "store/pool.hpp"
#include "store/migrations.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace convene::daemon {

struct DaemonOptions {
  std::optional<std::filesystem::path> config_path;  // read again on SIGHUP; nullopt: the default
  // A simulated clock that POST /v1/admin/clock moves; starts at test_clock_start (RFC 3339
  // UTC) or at the real time.
  bool test_clock = false;
  std::string test_clock_start;
};

// Runs the daemon until it is stopped; returns the exit status (0 after a clean stop). Throws
// when a part cannot be built (bad templates, the HTTP address in use, a bad test clock).
int run_daemon(const DaemonOptions& options, Config config, std::vector<store::Migration> migrations);

// The connection pool's settings; the daemon and the one-shot commands open the database alike.
store::PoolOptions pool_options(const Config& config);

}  // namespace convene::daemon
