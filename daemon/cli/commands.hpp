#pragma once
// The commands main's table lists, one file each (daemon/cli/NAME.cpp): its usage for
// `convened help` and its run, which parses the command's own options and returns the exit status.
#include "daemon/cli/common.hpp"

namespace convene::daemon::cli {

extern const Usage serve_usage;
int serve(const Globals& globals, const Args& args);

extern const Usage migrate_usage;
int migrate(const Globals& globals, const Args& args);

extern const Usage check_config_usage;
int check_config(const Globals& globals, const Args& args);

extern const Usage token_create_usage;
int token_create(const Globals& globals, const Args& args);

extern const Usage import_members_usage;
int import_members(const Globals& globals, const Args& args);

extern const Usage demo_data_usage;
int demo_data(const Globals& globals, const Args& args);

extern const Usage simulate_usage;
int simulate(const Globals& globals, const Args& args);

}  // namespace convene::daemon::cli
