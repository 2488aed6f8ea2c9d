// convened simulate: what the member would receive in a range (GET /v1/members/{id}/upcoming's
// list) as a table or JSON, in a read-only transaction: nothing is sent or written. Exit 1 for
// an unknown member, 2 for a bad range.
#include "calendar/clock.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/upcoming.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/lifetime.hpp"
#include "jobs/upcoming.hpp"
#include "notifiers/display_time.hpp"
#include "store/database.hpp"

#include <boost/json/serialize.hpp>

#include <iostream>
#include <variant>

namespace convene::daemon::cli {

const Usage simulate_usage{"simulate --member EMAIL [--from DATE] [--to DATE] [--json]",
                           "list every email the current schedules and preferences would send\n"
                           "the member from..to (dates in the member's zone, to inclusive, or\n"
                           "RFC 3339 instants; default the next 30 days, at most 366), with\n"
                           "times in UTC and in the member's zone; sends and writes nothing"};

namespace {

struct SimulateOptions {
  std::string member;  // an email address
  std::optional<std::string> from, to;  // DATE or INSTANT
  bool json = false;
};

}  // namespace

int simulate(const Globals& globals, const Args& args) {
  SimulateOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--member" || arg == "--from" || arg == "--to") {
      if (i + 1 >= args.size()) return usage_error(arg + " needs a value");
      if (arg == "--member") options.member = args[++i];
      else (arg == "--from" ? options.from : options.to) = args[++i];
    } else if (arg == "--json") {
      options.json = true;
    } else {
      return unexpected(arg);
    }
  }
  if (options.member.empty()) return usage_error("simulate needs --member EMAIL");

  auto config = configure_command(globals);
  if (!config) return 2;
  try {
    calendar::SystemClock clock;
    const auto now = clock.now();
    store::Database database(pool_options(*config));
    // Read only: a look must never send or change anything.
    const auto outcome = database.transact(
        [&](pqxx::work& tx) -> std::variant<jobs::UpcomingList, std::string, std::vector<api::FieldError>> {
          const auto rows = tx.exec_params("SELECT id, time_zone FROM members WHERE lower(email) = lower($1)", options.member);
          if (rows.empty()) return "no member has the email address " + options.member;
          const auto range = api::parse_upcoming_range(options.from, options.to,
                                                       notifiers::usable_zone(rows[0][1].as<std::string>()), now);
          if (const auto* errors = std::get_if<std::vector<api::FieldError>>(&range)) return *errors;
          const auto& r = std::get<api::UpcomingRange>(range);
          return *jobs::upcoming_notifications(tx, rows[0][0].as<std::int64_t>(), r.from, r.to, now,
                                               api::kind_settings(*config));
        },
        store::TxOptions{.read_only = true});
    if (const auto* missing = std::get_if<std::string>(&outcome)) {
      std::cerr << "convened: " << *missing << "\n";
      return 1;
    }
    if (const auto* errors = std::get_if<std::vector<api::FieldError>>(&outcome)) {
      for (const auto& e : *errors) std::cerr << "convened: --" << e.field << " " << e.message << "\n";
      return 2;
    }
    const auto& list = std::get<jobs::UpcomingList>(outcome);
    if (options.json)
      std::cout << boost::json::serialize(api::upcoming_json(list)) << "\n";
    else
      std::cout << api::upcoming_table(list);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "convened: simulate failed: " << describe_failure(e, *config) << "\n";
    return 1;
  }
}

}  // namespace convene::daemon::cli
