// convened import members FILE.csv: members and memberships from CSV in one transaction
// (POST /v1/import/members's rules). Prints the summary; on problems prints FILE:LINE: field:
// message for each and exits 1 having written nothing; exit 2 when the file cannot be read.
#include "base/log.hpp"
#include "calendar/clock.hpp"
#include "calendar/zones.hpp"
#include "daemon/api/import.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/lifetime.hpp"
#include "store/database.hpp"
#include "store/sql_time.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

namespace convene::daemon::cli {

const Usage import_members_usage{"import members FILE.csv",
                                 "import members and memberships from CSV (FILE '-' reads standard\n"
                                 "input) in one transaction; prints what changed; on problems prints\n"
                                 "FILE:LINE: field: message for each, writes nothing and exits 1"};

namespace {

// The whole file (at most `limit` + 1 bytes, so a caller can tell it is too large), or a message.
std::optional<std::string> read_input(const std::string& path, std::size_t limit, std::string& error) {
  std::string content;
  auto read_all = [&](std::istream& in) {
    char buffer[65536];
    while (content.size() <= limit && in.read(buffer, sizeof buffer).gcount() > 0)
      content.append(buffer, static_cast<std::size_t>(in.gcount()));
  };
  if (path == "-") {
    read_all(std::cin);
    if (std::cin.bad()) {
      error = "cannot read standard input";
      return std::nullopt;
    }
    return content;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = "cannot read " + path + ": it is a directory";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  read_all(in);
  if (in.bad()) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return content;
}

// Thrown inside the transaction to roll the import back.
struct ImportRefused {
  api::ImportResult result;
};

}  // namespace

int import_members(const Globals& globals, const Args& args) {
  std::string file;  // "-": standard input
  for (const auto& arg : args) {
    if ((arg == "-" || !is_option(arg)) && file.empty())
      file = arg;
    else
      return unexpected(arg);
  }
  if (file.empty()) return usage_error("import members needs a CSV file (or - for standard input)");

  auto config = load_or_report(globals);
  if (!config) return 2;
  log::configure(config->log_level, config->log_format);
  const std::string name = file == "-" ? "<stdin>" : file;
  std::string error;
  const auto content = read_input(file, api::kImportMaxBytes, error);
  if (!content) {
    std::cerr << "convened: " << error << "\n";
    return 2;
  }
  if (content->size() > api::kImportMaxBytes) {
    std::cerr << "convened: " << name << " is larger than 20 MiB; split it into several files\n";
    return 1;
  }
  calendar::preload_zones();
  try {
    calendar::SystemClock clock;
    store::Database database(pool_options(*config));
    const api::ImportContext context{store::sql_instant(clock.now()), config->organisation_time_zone, std::nullopt};
    const auto result = database.transact([&](pqxx::work& tx) {
      auto r = api::import_members(tx, *content, context);
      if (r.outcome != api::ImportOutcome::imported) throw ImportRefused{std::move(r)};
      return r;
    });
    const auto& s = result.summary;
    std::cout << "imported " << name << "\n"
              << "members: " << s.members_created << " created, " << s.members_updated << " updated, "
              << s.members_unchanged << " unchanged\n"
              << "memberships: " << s.memberships_created << " created, " << s.memberships_updated << " updated\n";
    return 0;
  } catch (const ImportRefused& refused) {
    const auto& r = refused.result;
    for (const auto& e : r.errors) {
      std::cerr << name;
      if (e.line > 0) std::cerr << ":" << e.line;
      std::cerr << ": " << (e.field.empty() ? "" : e.field + ": ") << e.message << "\n";
    }
    std::cerr << "convened: " << name << ": " << r.detail << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "convened: import failed: " << describe_failure(e, *config) << "\n";
    return 1;
  }
}

}  // namespace convene::daemon::cli
