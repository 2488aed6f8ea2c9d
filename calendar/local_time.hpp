#pragma once
// Wall-clock times without a zone, and their conversion to instants with the real rules of an
// IANA zone (through libical and the system's tzdata). Pure: no clock reads, no I/O beyond
// libical reading tzdata. Thread-safe (libical is used under calendar's libical lock).
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "calendar/clock.hpp"

namespace convene::calendar {

// A wall-clock reading with no zone attached, to the second ("July 12, 14:00").
using LocalDateTime = std::chrono::local_time<std::chrono::seconds>;

// "2027-07-12T14:00" or "2027-07-12T14:00:00". Strict: four-digit year, two-digit fields, a
// capital 'T', a real calendar date, hours 00-23, minutes and seconds 00-59, no zone suffix,
// no fractions, no surrounding spaces. nullopt otherwise.
std::optional<LocalDateTime> parse_local_datetime(std::string_view text);

// "2027-07-12". Strict in the same way.
std::optional<std::chrono::year_month_day> parse_date(std::string_view text);

// "2027-07-12T14:00:00" (always with seconds).
std::string format_local_datetime(LocalDateTime local);

// "2027-07-12".
std::string format_date(std::chrono::year_month_day date);

// A zone name that is malformed or not in the system's IANA database.
class UnknownZone : public std::invalid_argument {
 public:
  using invalid_argument::invalid_argument;
};

// The instant at which `local` happens in `zone`, by the one rule of DESIGN §3 (RFC 5545
// §3.3.5, java.time, Python's zoneinfo with fold=0):
// - a local time that does not exist (spring-forward gap) is read with the offset in force
//   before the gap, which shifts it forward by the gap's length (02:30 on 2027-03-14 in
//   America/New_York -> 07:30Z, which is 03:30 EDT);
// - a local time that happens twice (fall back) maps to the first (earlier) instant
//   (01:30 on 2027-11-07 in America/New_York -> 05:30Z, still EDT).
// Throws UnknownZone.
Instant to_instant(LocalDateTime local, std::string_view zone);

// Whether a local time names one instant, none (a gap) or two (a repeat).
enum class LocalTimeKind { unique, in_gap, repeated };

struct ResolvedLocal {
  Instant instant;  // to_instant's answer
  LocalTimeKind kind = LocalTimeKind::unique;
};

// to_instant, and whether the local time needed the rule: calendars that read a local time
// differently (ical.js takes the offset after a gap and the second of a repeat) must be given
// such times as an instant. Throws UnknownZone.
ResolvedLocal resolve_local(LocalDateTime local, std::string_view zone);

// The wall-clock reading in `zone` at `t`, truncated to the second. Throws UnknownZone.
LocalDateTime to_local(Instant t, std::string_view zone);

// RFC 3339 with the zone's offset at `t`: "2027-03-14T03:00:00-04:00" ("+00:00" for UTC),
// to the second. Throws UnknownZone.
std::string format_rfc3339_local(Instant t, std::string_view zone);

// An RFC 3339 instant with "Z" or a numeric offset ("2027-03-14T03:00:00-04:00"); the date
// and time as parse_local_datetime reads them (seconds optional, no fraction). nullopt otherwise.
std::optional<Instant> parse_rfc3339(std::string_view text);

// The calendar date of `t` in `zone` ("today" for dated roles and yearly windows).
std::chrono::year_month_day local_date(Instant t, std::string_view zone);

// Seconds to add to UTC to get the wall clock of `zone` at `t` (-05:00 -> -18000s).
// Throws UnknownZone.
std::chrono::seconds utc_offset(Instant t, std::string_view zone);

}  // namespace convene::calendar
