#include "calendar/ics.hpp"

#include "calendar/utf8.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "calendar/durations.hpp"
#include "calendar/recurrence.hpp"
#include "calendar/vtimezone.hpp"

namespace convene::calendar {
namespace {

using std::chrono::days;
using std::chrono::seconds;

constexpr std::size_t kFoldOctets = 75;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::size_t kMaxUrlLength = 2048;

bool is_upper_token(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; });
}

// Properties written by render_ics itself; an extra property may not repeat them.
constexpr std::array<std::string_view, 22> kReserved = {
    "BEGIN",    "END",     "UID",         "DTSTAMP",  "CREATED",       "LAST-MODIFIED", "SEQUENCE", "STATUS",
    "TRANSP",   "SUMMARY", "DESCRIPTION", "LOCATION", "URL",           "ORGANIZER",     "DTSTART",  "DTEND",
    "DURATION", "RRULE",   "RDATE",       "EXDATE",   "RECURRENCE-ID", "EXRULE"};

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// An http(s) URL of printable ASCII without characters RFC 3986 never allows, with a host.
bool acceptable_url(std::string_view url) {
  std::size_t rest = 0;
  if (starts_with_ci(url, "https://"))
    rest = 8;
  else if (starts_with_ci(url, "http://"))
    rest = 7;
  else
    return false;
  if (url.size() > kMaxUrlLength || url.size() == rest) return false;
  if (url[rest] == '/' || url[rest] == '?' || url[rest] == '#') return false;
  return std::none_of(url.begin(), url.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c >= 0x7F || std::string_view("\"<>\\^`{|}").find(ch) != std::string_view::npos;
  });
}

bool acceptable_email(std::string_view email) {
  if (email.empty() || email.size() > 254) return false;
  const std::size_t at = email.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == email.size() ||
      email.find('@', at + 1) != std::string_view::npos)
    return false;
  return std::none_of(email.begin(), email.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c >= 0x7F || std::string_view("\"<>\\,;:").find(ch) != std::string_view::npos;
  });
}

// User text made safe: UTF-8 repaired (U+FFFD), C0/DEL/C1 controls stripped. As a TEXT value
// (RFC 5545 §3.3.11): backslash, ';' and ',' escaped, CRLF/CR/LF as "\n", TAB as a space. As a parameter
// value (§3.2, which has no escapes): newlines and TAB as a space, '"' as '\''.
enum class Form { text, parameter };

std::string clean(std::string_view value, Form form);

// A parameter value, quoted when it holds ';', ':' or ','.
std::string param_value(std::string_view raw) {
  std::string value = clean(raw, Form::parameter);
  if (value.find_first_of(";:,") != std::string::npos) return '"' + value + '"';
  return value;
}

void line(std::string& out, std::string_view content) { out += fold_line(content); }

void prop(std::string& out, std::string_view name, std::string_view value) {
  std::string content;
  content.reserve(name.size() + 1 + value.size());
  content.append(name).append(":").append(value);
  out += fold_line(content);
}

std::string utc(Instant t) { return detail::ical_utc(std::chrono::floor<seconds>(t)); }

// "DTSTART;TZID=America/New_York:20270301T100000" / "DTSTART;VALUE=DATE:20270301" style values.
struct TimeForm {
  bool all_day = false;
  std::string tzid;
  std::string params() const { return all_day ? ";VALUE=DATE" : ";TZID=" + tzid; }
  std::string value(LocalDateTime t) const { return all_day ? detail::ical_date(t) : detail::ical_local(t); }
};

// A DTSTART or DTEND: a wall-clock time in the event's zone, or an instant (the end of an
// occurrence the rule gives lasts the series' exact duration, DESIGN §3).
using When = std::variant<LocalDateTime, Instant>;

// An occurrence of a series written as a VEVENT of its own (RECURRENCE-ID): moved by a
// coordinator, or at a local time that does not exist or repeats.
struct Moved {
  LocalDateTime recurrence_id;
  When start, end;
  int sequence = 0;
};

struct Prepared {
  const IcsEvent* event = nullptr;
  TimeForm form;
  std::string rrule;                 // upper-cased, empty when none
  std::vector<std::string> exdates;  // rendered values, sorted, unique
  std::vector<Moved> overrides;      // sorted by RECURRENCE-ID, unique, none cancelled
  std::vector<seconds> alarms;       // distinct, in the given order
  std::optional<LocalDateTime> last_start;  // a timed series: its last start before the horizon
};

// The parameters and value of a DTSTART or DTEND that no client can read as another instant
// (DESIGN §3): a local time that exists once, with its TZID; a local time in a gap as the wall
// reading it becomes; the first of a repeated local time, or an instant that reads as one, in
// UTC. Plain dates as they are.
std::pair<std::string, std::string> unambiguous(const TimeForm& form, const When& when) {
  if (const auto* local = std::get_if<LocalDateTime>(&when)) {
    if (form.all_day) return {form.params(), form.value(*local)};
    const ResolvedLocal resolved = resolve_local(*local, form.tzid);
    if (resolved.kind == LocalTimeKind::unique) return {form.params(), form.value(*local)};
    return unambiguous(form, resolved.instant);
  }
  const Instant instant = std::get<Instant>(when);
  const LocalDateTime reading = to_local(instant, form.tzid);
  const ResolvedLocal back = resolve_local(reading, form.tzid);
  if (back.kind == LocalTimeKind::unique && back.instant == instant) return {form.params(), form.value(reading)};
  return {"", utc(instant)};
}

// DTEND: never before DTSTART; an all-day event lasts at least one day.
LocalDateTime end_of(const TimeForm& form, LocalDateTime start, LocalDateTime end) {
  if (form.all_day) {
    const auto first = std::chrono::floor<days>(start), last = std::chrono::floor<days>(end);
    return last <= first ? LocalDateTime{first + days{1}} : LocalDateTime{last};
  }
  return end < start ? start : end;
}

// The series an event's DTSTART, DTEND, zone, RRULE and EXDATEs describe, lasting the exact
// time between its start and end instants, as the daemon's meetings do.
Series series_of(const IcsEvent& e) {
  Series s;
  s.start = e.start;
  s.zone = e.zone;
  s.duration = std::chrono::duration_cast<seconds>(to_instant(std::max(e.end, e.start), e.zone) - to_instant(e.start, e.zone));
  s.duration = std::max(s.duration, seconds{0});
  s.rrule = e.rrule;
  s.exdates = e.exdates;
  return s;
}

Prepared prepare(const IcsEvent& e, Instant horizon) {
  Prepared p;
  p.event = &e;
  p.form.all_day = e.all_day;
  p.form.tzid = e.zone;
  if (e.status != "TENTATIVE" && e.status != "CONFIRMED" && e.status != "CANCELLED")
    throw std::invalid_argument("ics: unknown STATUS \"" + e.status.substr(0, 32) + "\"");
  for (const auto& [name, value] : e.categories) {
    if (!is_upper_token(name) || std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end())
      throw std::invalid_argument("ics: unacceptable extra property name \"" + name.substr(0, 64) + "\"");
  }
  if (e.rrule) {
    for (char c : *e.rrule) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ';' ||
                      c == '=' || c == ',' || c == '+' || c == '-';
      if (!ok) throw std::invalid_argument("ics: RRULE with an unacceptable character");
    }
    if (e.rrule->empty()) throw std::invalid_argument("ics: empty RRULE");
    p.rrule = *e.rrule;
    for (char& c : p.rrule)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');

    for (const LocalDateTime& x : e.exdates) p.exdates.push_back(p.form.value(x));
    std::sort(p.exdates.begin(), p.exdates.end());
    p.exdates.erase(std::unique(p.exdates.begin(), p.exdates.end()), p.exdates.end());

    for (const IcsOverride& o : e.overrides)
      p.overrides.push_back(Moved{o.recurrence_id, o.start, end_of(p.form, o.start, o.end), o.sequence});
    const auto by_id = [&](const Moved& a, const Moved& b) {
      return p.form.value(a.recurrence_id) < p.form.value(b.recurrence_id);
    };
    std::stable_sort(p.overrides.begin(), p.overrides.end(), by_id);
    p.overrides.erase(std::unique(p.overrides.begin(), p.overrides.end(),
                                  [&](const Moved& a, const Moved& b) { return !by_id(a, b) && !by_id(b, a); }),
                      p.overrides.end());
    std::erase_if(p.overrides, [&](const Moved& o) {
      return std::binary_search(p.exdates.begin(), p.exdates.end(), p.form.value(o.recurrence_id));
    });
    if (!e.all_day) {
      // Occurrences the rule puts in a gap or a repeat, up to the horizon, each with its instant
      // (a moved one already has its own times).
      const SeriesScan scan = scan_series(series_of(e), horizon);
      p.last_start = scan.last_start;
      std::vector<Moved> irregular;
      for (const IrregularOccurrence& i : scan.irregular) {
        const Moved m{i.occurrence.local_start, i.occurrence.start, i.occurrence.end, e.sequence};
        if (!std::binary_search(p.overrides.begin(), p.overrides.end(), m, by_id)) irregular.push_back(m);
      }
      const auto middle = p.overrides.insert(p.overrides.end(), irregular.begin(), irregular.end());
      std::inplace_merge(p.overrides.begin(), middle, p.overrides.end(), by_id);
    }
  }
  for (seconds a : e.alarms)
    if (std::find(p.alarms.begin(), p.alarms.end(), a) == p.alarms.end()) p.alarms.push_back(a);
  return p;
}

void write_vevent(std::string& out, const Prepared& p, const Moved* moved) {
  const IcsEvent& e = *p.event;
  const std::string params = p.form.params();
  line(out, "BEGIN:VEVENT");
  prop(out, "UID", escape_text(e.uid));
  if (moved != nullptr) prop(out, "RECURRENCE-ID" + params, p.form.value(moved->recurrence_id));
  prop(out, "DTSTAMP", utc(e.dtstamp));
  prop(out, "CREATED", utc(e.created));
  prop(out, "LAST-MODIFIED", utc(e.last_modified));
  prop(out, "SEQUENCE", std::to_string(moved != nullptr ? std::max(moved->sequence, e.sequence) : e.sequence));
  prop(out, "STATUS", e.status);
  prop(out, "TRANSP", e.transparent ? "TRANSPARENT" : "OPAQUE");
  if (moved == nullptr && !p.rrule.empty()) {
    // The series' own DTSTART and DTEND are the rule's nominal local times; an occurrence
    // whose local time needs DESIGN §3's rule has a VEVENT of its own.
    prop(out, "DTSTART" + params, p.form.value(e.start));
    prop(out, "DTEND" + params, p.form.value(end_of(p.form, e.start, e.end)));
    prop(out, "RRULE", p.rrule);
    for (const std::string& x : p.exdates) prop(out, "EXDATE" + params, x);
  } else {
    const When start = moved != nullptr ? moved->start : When{std::in_place_type<LocalDateTime>, e.start};
    const When end = moved != nullptr ? moved->end : When{std::in_place_type<LocalDateTime>, end_of(p.form, e.start, e.end)};
    for (const auto& [name, when] : {std::pair<const char*, const When&>{"DTSTART", start}, {"DTEND", end}}) {
      const auto [when_params, value] = unambiguous(p.form, when);
      prop(out, name + when_params, value);
    }
  }
  const std::string summary = escape_text(e.summary);
  prop(out, "SUMMARY", summary);
  if (!e.description.empty()) prop(out, "DESCRIPTION", escape_text(e.description));
  if (!e.location.empty()) prop(out, "LOCATION", escape_text(e.location));
  if (e.url && acceptable_url(*e.url)) prop(out, "URL", *e.url);
  if (e.organizer_email && acceptable_email(*e.organizer_email)) {
    std::string name = "ORGANIZER";
    if (e.organizer_name && !e.organizer_name->empty()) {
      const std::string cn = param_value(*e.organizer_name);
      if (!cn.empty() && cn != "\"\"") name += ";CN=" + cn;
    }
    prop(out, name, "mailto:" + *e.organizer_email);
  }
  for (const auto& [extra, value] : e.categories) prop(out, extra, escape_text(value));
  for (seconds before : p.alarms) {
    line(out, "BEGIN:VALARM");
    prop(out, "ACTION", "DISPLAY");
    prop(out, "DESCRIPTION", summary.empty() ? std::string("Reminder") : summary);
    prop(out, "TRIGGER", format_iso8601_duration(-before));
    line(out, "END:VALARM");
  }
  line(out, "END:VEVENT");
}

}  // namespace

namespace {

std::string clean(std::string_view value, Form form) {
  const bool text = form == Form::text;
  std::string out;
  out.reserve(value.size() + value.size() / 8);
  for (std::size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x80) {
      switch (c) {
        case '\\':
          out += text ? "\\\\" : "\\";
          break;
        case ';':
          out += text ? "\\;" : ";";
          break;
        case ',':
          out += text ? "\\," : ",";
          break;
        case '"':
          out += text ? '"' : '\'';
          break;
        case '\r':
          out += text ? "\\n" : " ";
          if (i + 1 < value.size() && value[i + 1] == '\n') ++i;
          break;
        case '\n':
          out += text ? "\\n" : " ";
          break;
        case '\t':
          out += ' ';
          break;
        default:
          if (c >= 0x20 && c != 0x7F) out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    char32_t code_point = 0;
    const std::size_t len = utf8_sequence(value, i, code_point);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (code_point > 0x9F) out.append(value.substr(i, len));  // U+0080..U+009F: C1 controls
    i += len;
  }
  return out;
}

}  // namespace

std::string escape_text(std::string_view value) { return clean(value, Form::text); }

std::string fold_line(std::string_view content_line) {
  std::string out;
  out.reserve(content_line.size() + 3 * (content_line.size() / (kFoldOctets - 1) + 1));
  std::size_t pos = 0, limit = kFoldOctets;
  while (content_line.size() - pos > limit) {
    std::size_t cut = limit;
    // Back off to the start of a UTF-8 sequence (at most 3 continuation bytes in valid text).
    while (cut > 0 && (static_cast<unsigned char>(content_line[pos + cut]) & 0xC0) == 0x80) --cut;
    if (cut == 0) cut = limit;  // not UTF-8 at all: cut anywhere rather than loop
    out.append(content_line.substr(pos, cut)).append("\r\n ");
    pos += cut;
    limit = kFoldOctets - 1;  // the leading space counts
  }
  out.append(content_line.substr(pos)).append("\r\n");
  return out;
}

std::string render_ics(const IcsCalendar& calendar) {
  if (calendar.refresh <= seconds{0}) throw std::invalid_argument("ics: refresh interval must be positive");
  if (calendar.method && !is_upper_token(*calendar.method))
    throw std::invalid_argument("ics: unacceptable METHOD \"" + calendar.method->substr(0, 32) + "\"");

  std::vector<Prepared> events;
  events.reserve(calendar.events.size());
  std::map<std::string, std::pair<int, int>, std::less<>> zone_years;  // first and last year used
  for (const IcsEvent& e : calendar.events) {
    events.push_back(prepare(e, calendar.horizon));
    if (e.all_day) continue;
    const auto note = [&](const When& when) {
      const auto* local = std::get_if<LocalDateTime>(&when);
      const LocalDateTime t = local != nullptr ? *local : to_local(std::get<Instant>(when), e.zone);
      const int y = int(std::chrono::year_month_day{std::chrono::floor<days>(t)}.year());
      auto [it, inserted] = zone_years.try_emplace(e.zone, y, y);
      if (!inserted) {
        it->second.first = std::min(it->second.first, y);
        it->second.second = std::max(it->second.second, y);
      }
    };
    const Prepared& p = events.back();
    note(e.start);
    note(end_of(p.form, e.start, e.end));
    if (e.rrule) {
      if (p.last_start) note(*p.last_start + (end_of(p.form, e.start, e.end) - e.start));
      for (const LocalDateTime& x : e.exdates) note(x);
      for (const Moved& o : p.overrides) {
        note(o.recurrence_id);
        note(o.start);
        note(o.end);
      }
    }
  }

  std::string out;
  out.reserve(1024 + calendar.events.size() * 600);
  line(out, "BEGIN:VCALENDAR");
  prop(out, "VERSION", "2.0");
  prop(out, "PRODID", escape_text(calendar.prodid));
  prop(out, "CALSCALE", "GREGORIAN");
  if (calendar.method) prop(out, "METHOD", *calendar.method);
  if (!calendar.name.empty()) {
    const std::string name = escape_text(calendar.name);
    prop(out, "NAME", name);
    prop(out, "X-WR-CALNAME", name);
  }
  if (!calendar.description.empty()) {
    const std::string description = escape_text(calendar.description);
    prop(out, "DESCRIPTION", description);
    prop(out, "X-WR-CALDESC", description);
  }
  const std::string refresh = format_iso8601_duration(calendar.refresh);
  prop(out, "REFRESH-INTERVAL;VALUE=DURATION", refresh);
  prop(out, "X-PUBLISHED-TTL", refresh);
  // render_vtimezone checks each zone (UnknownZone), so only real IANA names reach TZID params.
  for (const auto& [zone, years] : zone_years) out += render_vtimezone(zone, years.first, years.second);
  for (const Prepared& p : events) {
    write_vevent(out, p, nullptr);
    for (const Moved& o : p.overrides) write_vevent(out, p, &o);
  }
  line(out, "END:VCALENDAR");
  return out;
}

}  // namespace convene::calendar
