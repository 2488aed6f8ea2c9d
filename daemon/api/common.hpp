#pragma once
// Helpers shared by the v1 resource handlers.
#include "daemon/api/api.hpp"
#include "calendar/local_time.hpp"
#include "daemon/api/input.hpp"
#include "jobs/kinds/kinds.hpp"
#include <pqxx/pqxx>

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace convene::api {

// A positive id from a path segment; nullopt for anything else (answer 404).
std::optional<std::int64_t> parse_id(std::string_view text);

// Problems with values shared by several resources, or nullopt.
std::optional<std::string> email_problem(std::string_view email);
std::optional<std::string> slug_problem(std::string_view slug);
std::optional<std::string> url_problem(std::string_view url);  // absolute http(s), no spaces

// Dates the service schedules: from 1970 to 2200 (a year 0 or 9999 is a typo, and
// PostgreSQL cannot hold every instant near the edges). The message, or nullopt.
std::optional<std::string> date_range_problem(std::chrono::year_month_day date);
std::optional<std::string> date_range_problem(calendar::LocalDateTime local);

// A ?from= or ?to= bound: an RFC 3339 instant ("2027-03-01T10:00:00Z", "...T05:00:00-05:00"),
// or a date meaning midnight in `zone`, `date_offset_days` later (1: the end of that day).
// nullopt for anything else, or outside date_range_problem's years.
std::optional<calendar::Instant> parse_time_bound(std::string_view text, std::string_view zone, int date_offset_days = 0);

// The host of public_url: the right-hand side of every UID this instance makes.
std::string uid_domain(const daemon::Config& config);

// The job kinds' settings (jobs/kinds/kinds.hpp) from the configuration: the engine runs with
// them, and "what will this member receive?" follows them.
jobs::KindSettings kind_settings(const daemon::Config& config);

// Writes an outbox event in the request's transaction (DESIGN §4).
void emit_event(Call& call, std::string_view kind, std::optional<std::int64_t> community_id,
                boost::json::object payload);

struct Page {
  std::int64_t page = 1;
  std::int64_t per_page = 50;
  std::int64_t offset() const { return (page - 1) * per_page; }
};
// ?page= and ?per_page= (1..200); a bad value is a 422 reply.
std::optional<Page> parse_page(const Call& call, Reply& error);
boost::json::object page_json(const Page& page, std::int64_t total, boost::json::array items);

// timestamptz text from PostgreSQL ("2027-07-12 13:00:00+00") as RFC 3339 UTC.
std::string rfc3339(const std::string& sql_timestamptz);

// Community lookups every handler needs.
struct CommunityRef {
  std::int64_t id = 0;
  std::string slug;
  std::string name;
  std::string status;
  std::string time_zone;
};
std::optional<CommunityRef> find_community(Call& call, std::string_view slug, bool for_update = false);

}  // namespace convene::api
