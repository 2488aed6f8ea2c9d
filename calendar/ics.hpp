#pragma once
// iCalendar (RFC 5545, RFC 7986) rendering from plain structs (DESIGN §5). The text is written
// here, not through libical components, so escaping, folding, TZIDs and the order of properties
// are under our control; libical is only used (under the libical lock) to read the zone rules
// from which VTIMEZONE components are derived (calendar/vtimezone.hpp). Pure and thread-safe:
// no I/O beyond libical reading tzdata, no clock reads.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"

namespace convene::calendar {

// A moved occurrence of a recurring event: a VEVENT with the series' UID and a RECURRENCE-ID.
struct IcsOverride {
  LocalDateTime recurrence_id;  // original local start in the event's zone
  LocalDateTime start, end;     // new local times in the event's zone
  int sequence = 0;             // written as max(sequence, event's sequence)
};

struct IcsEvent {
  std::string uid;
  int sequence = 0;
  std::string status = "CONFIRMED";            // TENTATIVE | CONFIRMED | CANCELLED (else invalid_argument)
  bool transparent = false;                    // TRANSP:TRANSPARENT (else OPAQUE)
  std::string summary, description, location;  // user text: escaped, control chars stripped
  std::optional<std::string> url;              // URL: only http(s) URLs of printable ASCII; else omitted
  bool all_day = false;                        // start/end are dates (VALUE=DATE, DTEND exclusive)
  LocalDateTime start, end;                    // wall clock in `zone` (all_day: midnight of the dates)
  std::string zone;                            // IANA; ignored for all_day
  std::optional<std::string> rrule;            // already validated RRULE value (without "RRULE:")
  std::vector<LocalDateTime> exdates;          // cancelled occurrences (original local starts)
  std::vector<IcsOverride> overrides;          // moved occurrences
  Instant created, last_modified, dtstamp;     // written in UTC ("...Z")
  std::vector<std::chrono::seconds> alarms;    // VALARM ACTION:DISPLAY, TRIGGER this long before start
  std::optional<std::string> organizer_email, organizer_name;   // ORGANIZER;CN=...:mailto:...
  std::vector<std::pair<std::string, std::string>> categories;  // extra properties, e.g.
                                                                // {"CATEGORIES","Annual"}; values escaped
};

struct IcsCalendar {
  std::string name;                    // NAME and X-WR-CALNAME (omitted when empty)
  std::string description;             // DESCRIPTION and X-WR-CALDESC (omitted when empty)
  std::chrono::seconds refresh{3600};  // REFRESH-INTERVAL;VALUE=DURATION and X-PUBLISHED-TTL; > 0
  std::optional<std::string> method;   // METHOD (e.g. "PUBLISH" for email attachments); feeds: none
  std::string prodid = "-//Convene//convened//EN";
  std::vector<IcsEvent> events;
  // How far ahead the calendar is read: occurrences of a series up to here whose local time does
  // not exist or repeats are written as VEVENTs of their own, and each VTIMEZONE covers the
  // years up to here. Callers pass now + kIcsHorizon.
  Instant horizon{};
};

// The horizon of feeds and attachments: calendar apps show years ahead.
inline constexpr std::chrono::years kIcsHorizon{5};

// The VCALENDAR text:
// - CRLF line ends, content lines folded at 75 octets (fold_line), user text escaped
//   (escape_text), including the X-WR-* values;
// - VERSION:2.0, PRODID, CALSCALE:GREGORIAN, METHOD when set, NAME/X-WR-CALNAME,
//   DESCRIPTION/X-WR-CALDESC, REFRESH-INTERVAL/X-PUBLISHED-TTL;
// - one VTIMEZONE per zone used by a timed event, in TZID order: plain IANA TZID, rule-based
//   and truncated to the years of that zone's events (render_vtimezone);
// - the events in the given order, each a VEVENT with UID, DTSTAMP, CREATED, LAST-MODIFIED,
//   SEQUENCE, STATUS, TRANSP, SUMMARY, DESCRIPTION and LOCATION (when not empty), URL,
//   ORGANIZER, DTSTART/DTEND (";TZID=zone" or, for all_day, ";VALUE=DATE" with DTEND exclusive;
//   a DTEND before DTSTART is written as DTSTART, and an all-day DTEND not after DTSTART as the
//   next day), RRULE (upper-cased), one EXDATE per cancelled occurrence (sorted, deduplicated,
//   with the TZID and value type of DTSTART), the extra properties, and one VALARM per distinct
//   alarm offset; then, for a recurring event, one VEVENT per moved occurrence (sorted by
//   RECURRENCE-ID, which carries the TZID and value type of DTSTART; a duplicate RECURRENCE-ID
//   or one that is also an EXDATE is dropped) repeating the series' descriptive properties and
//   alarms. EXDATEs and overrides of an event without an RRULE are ignored.
// - One instant per occurrence for every client (DESIGN §3): the times of a one-off event and
//   of a moved occurrence are written so that no client can read them as another instant (a
//   local time in a gap as the wall reading it becomes, 02:30 -> 03:30 on a New York
//   spring-forward day; the first of a repeated local time in UTC); a series' occurrence up to
//   `horizon` whose local time is in a gap or repeats gets a VEVENT of its own with its
//   RECURRENCE-ID, its instant as start and its end the series' exact duration later. The
//   series' own DTSTART, DTEND, EXDATEs and RECURRENCE-IDs keep the nominal local times.
// - ORGANIZER only when the email is plausible (one '@', printable ASCII without
//   space, quote, angle brackets, backslash, ',', ';' or ':'); CN is quoted when it must be,
//   with control characters stripped and '"' replaced by '\''.
// Deterministic: the same input gives the same bytes (feeds are ETagged by content hash).
// Throws UnknownZone for the zone of a timed event, std::invalid_argument for programming errors
// (and for an RRULE that recurrence.hpp refuses):
// an unknown status, refresh <= 0, a METHOD or extra property name that is not an upper-case
// token (or is one of the properties written here, BEGIN or END), an rrule with characters
// outside [A-Za-z0-9;=,+-].
std::string render_ics(const IcsCalendar& calendar);

// RFC 5545 TEXT escaping: '\' ';' ',' are backslash-escaped; CRLF, CR and LF each become "\n";
// TAB becomes a space; other control characters (C0, DEL, C1) are stripped; invalid UTF-8 is
// replaced by U+FFFD.
std::string escape_text(std::string_view value);

// The physical lines of one content line (which must not contain CR or LF): at most 75 octets
// each, continuation lines starting with one space, each ending in CRLF (so the result always
// ends in CRLF). Never splits a UTF-8 sequence. Removing every "\r\n " (and the final CRLF)
// gives back the input.
std::string fold_line(std::string_view content_line);

}  // namespace convene::calendar
