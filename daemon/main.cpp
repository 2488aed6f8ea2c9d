// convened: the Convene scheduling and notification daemon. The commands live in daemon/cli/,
// one file each; this file lists them and reads the global options.
#include "daemon/cli/commands.hpp"
#include "daemon/version.hpp"

#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace convene::daemon::cli;

int version(const Globals&, const Args& args);
int help(const Globals&, const Args& args);

struct Command {
  std::string_view name;  // one or two words
  const Usage& usage;
  int (*run)(const Globals&, const Args&);
};

const Usage version_usage{"version", "print the version (also --version)"};
const Usage help_usage{"help", "print this help (also --help)"};

// In the order `convened help` lists them.
const Command kCommands[] = {
    {"serve", serve_usage, serve},
    {"migrate", migrate_usage, migrate},
    {"check-config", check_config_usage, check_config},
    {"token create", token_create_usage, token_create},
    {"import members", import_members_usage, import_members},
    {"demo-data", demo_data_usage, demo_data},
    {"simulate", simulate_usage, simulate},
    {"version", version_usage, version},
    {"help", help_usage, help},
};

const Command* find_command(std::string_view name) {
  for (const auto& command : kCommands)
    if (command.name == name) return &command;
  return nullptr;
}

std::string usage_text() {
  constexpr std::size_t kColumn = 22;  // where the descriptions start
  std::string text = "usage: convened [--config FILE] COMMAND [OPTIONS]\n\ncommands:\n";
  for (const auto& command : kCommands) {
    std::string line = "  " + std::string(command.usage.synopsis);
    if (line.size() + 2 > kColumn) {
      text += line + "\n";
      line.clear();
    }
    std::string_view rest = command.usage.description;
    for (;;) {
      const auto end = rest.find('\n');
      line.resize(kColumn, ' ');
      text += line + std::string(rest.substr(0, end)) + "\n";
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
      line.clear();
    }
  }
  text += R"(
--config FILE defaults to /etc/convene/convened.toml (optional when it is the default).
Every setting can be overridden by the environment variable CONVENE_<SETTING>, for
example CONVENE_DATABASE_URL or CONVENE_HTTP_LISTEN.
)";
  return text;
}

int version(const Globals&, const Args& args) {
  if (!args.empty()) return unexpected(args.front());
  std::cout << "convened " << convene::daemon::kVersion << "\n";
  return 0;
}

int help(const Globals&, const Args& args) {
  if (!args.empty()) return unexpected(args.front());
  std::cout << usage_text();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Globals globals;
  std::string command;  // its name as read so far: empty, a word, or two words
  Args args;            // the command's own arguments, for it to parse
  const std::vector<std::string> all(argv + 1, argv + argc);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string& arg = all[i];
    if (arg == "--config") {
      if (i + 1 >= all.size()) return usage_error("--config needs a file");
      globals.config_path = all[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      globals.config_path = arg.substr(9);
    } else if (arg == "--version" || arg == "-V" || arg == "--help" || arg == "-h") {
      command = arg == "--version" || arg == "-V" ? "version" : "help";
      args.clear();
    } else if (find_command(command) != nullptr) {
      args.push_back(arg);
    } else if (is_option(arg)) {
      return unexpected(arg);
    } else if (command.empty()) {
      command = arg;
    } else if (find_command(command + " " + arg) != nullptr) {
      command += " " + arg;
    } else {
      return unexpected(arg);
    }
  }
  if (const auto* found = find_command(command)) return found->run(globals, args);
  if (command.empty()) {
    std::cerr << usage_text();
    return 2;
  }
  if (command == "import") return usage_error("import needs what to import: import members FILE.csv");
  return usage_error("unknown command '" + command + "'");
}
