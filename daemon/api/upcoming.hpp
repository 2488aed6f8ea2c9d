#pragma once
// "What will this member receive?" (issue 7): GET /v1/members/{id}/upcoming and
// GET /v1/members/{id}/digest-preview (upcoming.cpp), and `convened simulate`, which reads the
// same range and prints the same list (jobs/upcoming.hpp does the finding).
#include "daemon/api/reply.hpp"
#include "jobs/upcoming.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace convene::api {

inline constexpr auto kDefaultUpcomingSpan = std::chrono::days(30);
inline constexpr auto kMaxUpcomingSpan = std::chrono::days(366);

struct UpcomingRange {
  calendar::Instant from, to;
};

// `from` and `to` as given (nullopt: not given): RFC 3339 instants, or dates in the member's
// `zone` (from: the start of the day; to: its end, so from = to = one date is that day).
// Defaults: from now, to 30 days after from. Problems name the field ("from", "to"): a bad
// value, to before from, a span over 366 days.
std::variant<UpcomingRange, std::vector<FieldError>> parse_upcoming_range(const std::optional<std::string>& from,
                                                                          const std::optional<std::string>& to,
                                                                          std::string_view zone, calendar::Instant now);

// The list as the API answers it (docs/api.md).
boost::json::object upcoming_json(const jobs::UpcomingList& list);

// The list as `convened simulate` prints it: a heading, one line per item with the instant
// in UTC and in the member's zone, and a count.
std::string upcoming_table(const jobs::UpcomingList& list);

}  // namespace convene::api
