#pragma once
// Times and durations as an email shows them to a member, in English and in the member's
// zone (DESIGN §3: real zone rules through calendar/local_time). Pure.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "calendar/clock.hpp"

namespace convene::notifiers {

// `zone` when it is in the IANA database, else `fallback` when it is, else "UTC".
std::string usable_zone(std::string_view zone, std::string_view fallback = "UTC");

// "Monday 12 July 2027".
std::string long_date(std::chrono::year_month_day date);

// "Monday 12 July 2027, 14:00 (Europe/Berlin)". `zone` must be usable.
std::string time_point(calendar::Instant t, std::string_view zone);

// "Monday 12 July 2027, 14:00–15:00 (Europe/Berlin)", or with both dates when the end falls
// on another day: "Monday 12 July 2027, 23:00 – Tuesday 13 July 2027, 01:00 (Europe/Berlin)".
std::string time_range(calendar::Instant start, calendar::Instant end, std::string_view zone);

// All-day dates with an exclusive end: "Thursday 8 July 2027" for one day,
// "Thursday 8 July 2027 – Wednesday 14 July 2027" for several.
std::string date_range(std::chrono::year_month_day first, std::chrono::year_month_day end_exclusive);

// "1 week", "1 day", "2 days 3 hours", "30 minutes", "45 seconds" (largest units first, at
// most two of them).
std::string duration_text(std::chrono::seconds duration);

// "2027-07-12T14:00:00Z" or with a fraction ("...00.5Z") as written by
// calendar::format_rfc3339_utc; sub-second parts are dropped. nullopt when malformed.
std::optional<calendar::Instant> parse_utc(std::string_view text);

}  // namespace convene::notifiers
