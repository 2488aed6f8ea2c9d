#pragma once
// Recurrence rules (RFC 5545 RRULE) in a zone, expanded by libical. One engine for every timed
// thing: meeting series, digests, yearly jobs. Pure and thread-safe.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"

namespace convene::calendar {

// nullopt when `rrule` (the value of an RRULE, without the "RRULE:" name) is acceptable, else
// a message for a person. Acceptable: at most 500 characters of ASCII letters, digits and
// ";=,+-" (no CR/LF or other control characters); NAME=VALUE parts, each NAME (any case) once
// and one of FREQ, UNTIL, COUNT, INTERVAL, BYSECOND, BYMINUTE, BYHOUR, BYDAY, BYMONTHDAY,
// BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS, WKST; FREQ present and DAILY, WEEKLY, MONTHLY or
// YEARLY (SECONDLY/MINUTELY/HOURLY are not meeting-like); not both COUNT and UNTIL; COUNT
// 1..100000; INTERVAL 1..1000; the RFC 5545 combinations (a numbered BYDAY only with MONTHLY or
// YEARLY, BYWEEKNO only with YEARLY, BYYEARDAY not with DAILY/WEEKLY/MONTHLY, BYMONTHDAY not
// with WEEKLY, BYSETPOS only beside another BYxxx); and libical parses it and can expand it.
std::optional<std::string> rrule_problem(std::string_view rrule);

struct Series {
  LocalDateTime start;                 // DTSTART, wall clock in `zone`
  std::chrono::seconds duration{0};    // > 0 (0 is accepted: a point in time, e.g. a deadline)
  std::string zone;                    // IANA
  std::optional<std::string> rrule;    // none: a one-off
  std::vector<LocalDateTime> exdates;  // cancelled occurrences, by their original local start
};

struct Occurrence {
  LocalDateTime local_start;  // original local start (the RECURRENCE-ID)
  Instant start;              // to_instant(local_start, zone): DST rules of DESIGN §3
  Instant end;                // start + duration (absolute time)
};

struct Expansion {
  std::vector<Occurrence> occurrences;
  bool truncated = false;  // more occurrences in the range than `limit`, or the step guard hit
};

// Upper bound on recurrence iterator steps per expand / next_occurrence_after call.
inline constexpr std::size_t kMaxRecurrenceSteps = 100000;

// The occurrences whose [start, end) intersects [from, to), in order, EXDATEs removed, at most
// `limit` of them (truncated = true when the range holds more). A zero-length occurrence counts
// when from <= start < to.
// - Occurrences are wall-clock times in the series' zone: a weekly meeting at 10:00
//   America/New_York stays at 10:00 local across DST (its UTC instant moves by an hour).
// - DTSTART is always the first occurrence (RFC 5545 §3.8.5.3), even when the rule would not
//   produce it; COUNT counts it, and counts cancelled (EXDATE) occurrences too.
// - UNTIL is inclusive: a UTC date-time ("...Z") bounds the instant, a DATE bounds the local
//   date, a floating date-time bounds the local wall time.
// - At most kMaxRecurrenceSteps iterator steps, counted from DTSTART; reaching the guard before
//   `to` sets truncated.
// Throws UnknownZone, and std::invalid_argument for an unacceptable rrule (the message of
// rrule_problem) or a negative duration.
Expansion expand(const Series& series, Instant from, Instant to, std::size_t limit);

// The first non-cancelled occurrence whose start is after `after` (strictly); nullopt when the
// series has ended (or the step guard was reached). Throws as expand does.
std::optional<Occurrence> next_occurrence_after(const Series& series, Instant after);

// An occurrence whose local start names no instant (a spring-forward gap) or two (a fall-back
// repeat): its instant comes from the rule of DESIGN §3, which calendar clients do not all
// follow, so calendars must be given it explicitly.
struct IrregularOccurrence {
  Occurrence occurrence;
  LocalTimeKind kind = LocalTimeKind::in_gap;
};

struct SeriesScan {
  std::vector<IrregularOccurrence> irregular;  // in order, EXDATEs removed
  // The last occurrence's start before `to`; for a series without an end that keeps DTSTART's
  // time of day and has no irregular occurrence, `to`'s wall reading in UTC (a bound, found
  // without walking the rule). nullopt when no occurrence starts before `to`.
  std::optional<LocalDateTime> last_start;
};

// The series from DTSTART up to `to` (occurrences starting before it): the irregular
// occurrences, and the last start. At most kMaxRecurrenceSteps steps. Throws as expand does.
SeriesScan scan_series(const Series& series, Instant to);

// The local start (the RECURRENCE-ID) of the occurrence of `series` starting at each of
// `starts` (EXDATEs ignored), nullopt for an instant at which none starts. to_local is not the
// inverse of an occurrence's start: one in a gap starts at a later wall reading than its own
// (02:30 New York on a spring-forward Sunday starts at 03:30 EDT). Throws as expand does.
std::vector<std::optional<LocalDateTime>> local_starts_of(const Series& series, const std::vector<Instant>& starts);

// The RECURRENCE-IDs of exceptions stored by instant (cancelled or moved occurrences):
// local_starts_of, and to_local for an instant at which no occurrence starts.
std::vector<LocalDateTime> recurrence_ids_of(const Series& series, const std::vector<Instant>& starts);

// The series of a stored meeting: its first occurrence's local start and its start and end
// instants (the duration is exact), zone and rule, with the occurrences starting at `cancelled`
// (stored by instant) as EXDATEs.
Series stored_series(LocalDateTime start_local, Instant start, Instant end, std::string zone,
                     std::optional<std::string> rrule, const std::vector<Instant>& cancelled);

}  // namespace convene::calendar
