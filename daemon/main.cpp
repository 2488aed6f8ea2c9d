// convened: the Convene scheduling and notification daemon.
#include "daemon/commands.hpp"
#include "daemon/version.hpp"

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage = R"(usage: convened [--config FILE] COMMAND [OPTIONS]

commands:
  serve [--migrate] [--test-clock[=INSTANT]]
                      run the daemon (with --migrate, apply pending migrations first;
                      with --test-clock, time is simulated: it starts at INSTANT, a UTC
                      instant such as 2027-06-01T08:00:00Z, or now, and only moves when an
                      admin calls POST /v1/admin/clock; for end-to-end tests, never production)
  migrate             apply pending database migrations and exit
  check-config        validate the configuration and print the effective settings
  token create --email E [--role admin|committee] [--name N]
                      create the member if needed, grant a global role, print a new API token
  import members FILE.csv
                      import members and memberships from CSV (FILE '-' reads standard
                      input) in one transaction; prints what changed; on problems prints
                      FILE:LINE: field: message for each, writes nothing and exits 1
  demo-data [--if-empty]
                      load a small demo data set (communities, rooms, leaders, members,
                      meetings, topics) through the API and print API tokens to try it;
                      only into a database without communities (--if-empty: skip quietly)
  simulate --member EMAIL [--from DATE] [--to DATE] [--json]
                      list every email the current schedules and preferences would send
                      the member from..to (dates in the member's zone, to inclusive, or
                      RFC 3339 instants; default the next 30 days, at most 366), with
                      times in UTC and in the member's zone; sends and writes nothing
  version             print the version (also --version)
  help                print this help (also --help)

--config FILE defaults to /etc/convene/convened.toml (optional when it is the default).
Every setting can be overridden by the environment variable CONVENE_<SETTING>, for
example CONVENE_DATABASE_URL or CONVENE_HTTP_LISTEN.
)";

int usage_error(const std::string& message) {
  std::cerr << "convened: " << message << "\nsee 'convened help'\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace convene::daemon;
  CommandOptions options;
  std::string command;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--config") {
      if (i + 1 >= args.size()) return usage_error("--config needs a file");
      options.config_path = args[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      options.config_path = arg.substr(9);
    } else if (arg == "--version" || arg == "-V") {
      command = "version";
    } else if (arg == "--help" || arg == "-h") {
      command = "help";
    } else if (arg == "--migrate" && command == "serve") {
      options.migrate_first = true;
    } else if ((arg == "--test-clock" || arg.rfind("--test-clock=", 0) == 0) && command == "serve") {
      options.test_clock = true;
      if (arg.size() > 13) options.test_clock_start = arg.substr(13);
      const auto& t = options.test_clock_start;
      if (arg.size() > 12 && (t.size() < 20 || t.back() != 'Z' || t[10] != 'T'))
        return usage_error("--test-clock= needs a UTC instant such as 2027-06-01T08:00:00Z");
    } else if ((arg == "--email" || arg == "--role" || arg == "--name") && command == "token create") {
      if (i + 1 >= args.size()) return usage_error(arg + " needs a value");
      (arg == "--email" ? options.email : arg == "--role" ? options.role : options.name) = args[++i];
    } else if ((arg == "--member" || arg == "--from" || arg == "--to") && command == "simulate") {
      if (i + 1 >= args.size()) return usage_error(arg + " needs a value");
      if (arg == "--member") options.member = args[++i];
      else (arg == "--from" ? options.from : options.to) = args[++i];
    } else if (arg == "--json" && command == "simulate") {
      options.json = true;
    } else if (arg == "--if-empty" && command == "demo-data") {
      options.if_empty = true;
    } else if (arg == "-" && command == "import members" && options.file.empty()) {
      options.file = arg;
    } else if (!arg.empty() && arg[0] == '-') {
      return usage_error("unknown option '" + arg + "'");
    } else if (command.empty()) {
      command = arg;
    } else if (command == "token" && arg == "create") {
      command = "token create";
    } else if (command == "import" && arg == "members") {
      command = "import members";
    } else if (command == "import members" && options.file.empty()) {
      options.file = arg;
    } else {
      return usage_error("unexpected argument '" + arg + "'");
    }
  }
  if (command == "serve") return serve(options);
  if (command == "migrate") return migrate(options);
  if (command == "check-config") return check_config(options);
  if (command == "token create") {
    if (options.email.empty()) return usage_error("token create needs --email");
    return token_create(options);
  }
  if (command == "import") return usage_error("import needs what to import: import members FILE.csv");
  if (command == "import members") {
    if (options.file.empty()) return usage_error("import members needs a CSV file (or - for standard input)");
    return import_members(options);
  }
  if (command == "demo-data") return demo_data(options);
  if (command == "simulate") {
    if (options.member.empty()) return usage_error("simulate needs --member EMAIL");
    return simulate(options);
  }
  if (command == "version") {
    std::cout << "convened " << kVersion << "\n";
    return 0;
  }
  if (command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  return usage_error("unknown command '" + command + "'");
}
