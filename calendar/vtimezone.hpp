#pragma once
// VTIMEZONE components (RFC 5545 §3.6.5) for IANA zones, as calendar clients want them
// (DESIGN §5): the plain IANA name as TZID (never libical's "/freeassociation.sourceforge.net/"
// prefix), rule-based and truncated to the years that matter instead of libical's kilobytes of
// history. Pure and thread-safe.
#include <chrono>
#include <string>
#include <string_view>

#include "calendar/local_time.hpp"

namespace convene::calendar {

// The VTIMEZONE of `zone` ("BEGIN:VTIMEZONE\r\n" ... "END:VTIMEZONE\r\n", folded, CRLF) for
// local times from January 1 of `first_year` on. Derived from the zone's offsets as libical
// reads them from tzdata (the same rules as to_instant/to_local), scanned from `first_year` - 1
// to max(first_year, last_year) + 10, but not past 2037 (where libical's own rules drift from
// tzdata's) unless last_year is later, and at least one year past last_year:
// - transitions that recur yearly (same month, time of day, offsets, and a day rule: the n-th
//   or last weekday of the month, a weekday on or after a day, or a fixed day) become one
//   STANDARD or DAYLIGHT observance with RRULE:FREQ=YEARLY;BYMONTH=..;BYDAY=.. (2SU, -1SU, ...),
//   with UNTIL when the rule ended within the scan and open-ended otherwise;
// - other transitions become observances with RDATEs, grouped by offsets;
// - a transition into daylight saving time (or, for a zone whose tzdata marks winter as DST,
//   the change to the larger offset) is DAYLIGHT, the others STANDARD;
// - when no transition happens in first_year - 1, an observance from January 1 of that year
//   for the offset then in force (TZOFFSETFROM = TZOFFSETTO): a zone without DST gets a single
//   STANDARD.
// TZNAMEs come from libical's definition of the zone. For America/New_York from 2027: one
// DAYLIGHT (BYMONTH=3;BYDAY=2SU) and one STANDARD (BYMONTH=11;BYDAY=1SU), about 400 bytes.
// Years are clamped to 1900..2500 and the scan to 200 years. Results are memoized per
// (zone, years). Throws UnknownZone.
std::string render_vtimezone(std::string_view zone, int first_year, int last_year);

namespace detail {
// iCalendar DATE-TIME and DATE forms shared with ics.cpp.
std::string ical_local(LocalDateTime t);           // "20270301T100000"
std::string ical_date(LocalDateTime t);            // "20270301"
std::string ical_utc(std::chrono::sys_seconds t);  // "20270301T150000Z"
}  // namespace detail

}  // namespace convene::calendar
