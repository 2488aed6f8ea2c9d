#include "calendar/vtimezone.hpp"

#include <libical/ical.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "calendar/ics.hpp"
#include "calendar/libical_lock.hpp"
#include "calendar/transitions.hpp"

namespace convene::calendar {
namespace {

using std::chrono::days;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

constexpr int kMinYear = 1900, kMaxYear = 2500, kMaxSpan = 200;
// Years scanned past the last year asked for, so that a yearly rule shows itself in enough
// years to tell "2SU" from "SU on or after the 8th" or "-1SU" from "4SU".
constexpr int kExtraYears = 10;
// libical 3.0.16 takes a zone's explicit transitions from tzdata's 32-bit data, which ends in
// January 2038, and continues with rules it derives, which are off by minutes to hours around
// some transitions (America/Santiago, Australia/Lord_Howe, ...). The scan does not go past 2037
// unless events do: the open-ended rules found up to then are tzdata's.
constexpr int kReliableUntil = 2037;
constexpr std::size_t kMaxMemo = 512;

using detail::Transition;

std::chrono::year_month_day date_of(LocalDateTime t) {
  return std::chrono::year_month_day{std::chrono::floor<days>(t)};
}

// What is known of the day-of-month rule that a run of yearly transitions follows.
struct DayRule {
  bool same_weekday = true;
  unsigned weekday = 0;                         // 0 = Sunday
  int nth = 0;                                  // the n-th such weekday of the month (1..4), 0 when the years disagree
  bool last = true;                             // the last such weekday of the month in every year
  int on_or_after_lo = 1, on_or_after_hi = 31;  // "weekday on or after day X" for X in [lo, hi]
  int fixed_day = 0;                            // the same day of the month every year, else 0

  bool usable() const {
    return (same_weekday && (last || nth != 0 || on_or_after_lo <= on_or_after_hi)) || fixed_day != 0;
  }
};

DayRule day_rule_of(LocalDateTime onset) {
  const auto ymd = date_of(onset);
  const int d = static_cast<int>(unsigned(ymd.day()));
  const int month_length = static_cast<int>(unsigned((ymd.year() / ymd.month() / std::chrono::last).day()));
  const int shortest = unsigned(ymd.month()) == 2 ? 28 : month_length;
  DayRule r;
  r.weekday = std::chrono::weekday{std::chrono::floor<days>(onset)}.c_encoding();
  r.nth = (d - 1) / 7 + 1;
  if (r.nth > 4) r.nth = 0;
  r.last = d + 7 > month_length;
  r.on_or_after_lo = std::max(1, d - 6);
  r.on_or_after_hi = std::min(d, shortest - 6);
  r.fixed_day = d;
  return r;
}

DayRule merge(const DayRule& a, const DayRule& b) {
  DayRule r;
  r.same_weekday = a.same_weekday && b.same_weekday && a.weekday == b.weekday;
  r.weekday = a.weekday;
  r.nth = a.nth == b.nth ? a.nth : 0;
  r.last = a.last && b.last;
  r.on_or_after_lo = std::max(a.on_or_after_lo, b.on_or_after_lo);
  r.on_or_after_hi = std::min(a.on_or_after_hi, b.on_or_after_hi);
  r.fixed_day = a.fixed_day == b.fixed_day ? a.fixed_day : 0;
  return r;
}

constexpr const char* kWeekdays[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};

// BYDAY/BYMONTHDAY of a usable rule. The last weekday wins over the 4th (tzdata's "lastSun"
// is far more common than "Sun>=22"); the n-th over "on or after".
std::string by_day(const DayRule& r) {
  if (r.same_weekday && r.last) return std::string(";BYDAY=-1") + kWeekdays[r.weekday];
  if (r.same_weekday && r.nth != 0) return ";BYDAY=" + std::to_string(r.nth) + kWeekdays[r.weekday];
  if (r.same_weekday && r.on_or_after_lo <= r.on_or_after_hi) {
    std::string out = std::string(";BYDAY=") + kWeekdays[r.weekday] + ";BYMONTHDAY=";
    for (int d = r.on_or_after_hi; d < r.on_or_after_hi + 7; ++d)
      out.append(d == r.on_or_after_hi ? "" : ",").append(std::to_string(d));
    return out;
  }
  return ";BYMONTHDAY=" + std::to_string(r.fixed_day);
}

struct Run {
  std::vector<Transition> members;
  DayRule rule;
  int last_year = 0;
};

using RunKey = std::tuple<bool, long, long, unsigned, long>;  // daylight, from, to, month, time of day

RunKey key_of(const Transition& t) {
  const auto day = std::chrono::floor<days>(t.onset);
  return {t.daylight, long(t.from.count()), long(t.to.count()), unsigned(date_of(t.onset).month()),
          long((t.onset - day).count())};
}

std::string format_offset(seconds offset) {
  const char sign = offset < seconds{0} ? '-' : '+';
  const long s = std::abs(long(offset.count()));
  char buf[64];
  if (s % 60 != 0)
    std::snprintf(buf, sizeof buf, "%c%02ld%02ld%02ld", sign, s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%c%02ld%02ld", sign, s / 3600, s / 60 % 60);
  return buf;
}

// TZNAMEs of libical's own definition of the zone.
struct NamedObservance {
  seconds from{0}, to{0};
  LocalDateTime start;
  std::string name;
};

std::vector<NamedObservance> libical_names(icaltimezone* zone) {
  std::vector<NamedObservance> out;
  icalcomponent* vtimezone = icaltimezone_get_component(zone);  // owned by the zone
  if (vtimezone == nullptr) return out;
  for (icalcomponent* c = icalcomponent_get_first_component(vtimezone, ICAL_ANY_COMPONENT); c != nullptr;
       c = icalcomponent_get_next_component(vtimezone, ICAL_ANY_COMPONENT)) {
    const icalcomponent_kind kind = icalcomponent_isa(c);
    if (kind != ICAL_XSTANDARD_COMPONENT && kind != ICAL_XDAYLIGHT_COMPONENT) continue;
    NamedObservance o;
    bool has_name = false, has_to = false;
    for (icalproperty* p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p != nullptr;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
      switch (icalproperty_isa(p)) {
        case ICAL_TZOFFSETFROM_PROPERTY:
          o.from = seconds{icalproperty_get_tzoffsetfrom(p)};
          break;
        case ICAL_TZOFFSETTO_PROPERTY:
          o.to = seconds{icalproperty_get_tzoffsetto(p)};
          has_to = true;
          break;
        case ICAL_TZNAME_PROPERTY:
          if (const char* name = icalproperty_get_tzname(p); name != nullptr && *name != '\0') {
            o.name = name;
            has_name = true;
          }
          break;
        case ICAL_DTSTART_PROPERTY: {
          const icaltimetype t = icalproperty_get_dtstart(p);
          o.start = LocalDateTime{std::chrono::local_days{std::chrono::year{t.year} / t.month / t.day}} +
                    std::chrono::hours{t.hour} + std::chrono::minutes{t.minute} + seconds{t.second};
          break;
        }
        default:
          break;
      }
    }
    if (has_name && has_to) out.push_back(std::move(o));
  }
  return out;
}

// The name libical gives the offset `to` reached from `from` at `onset`: same offsets and the
// latest definition in force by then preferred.
std::optional<std::string> tz_name(const std::vector<NamedObservance>& names, seconds from, seconds to,
                                   LocalDateTime onset) {
  const NamedObservance* best = nullptr;
  auto score = [&](const NamedObservance& o) {
    const bool started = o.start <= onset;
    return std::make_tuple(o.from == from, started,
                           started ? o.start.time_since_epoch().count() : -o.start.time_since_epoch().count());
  };
  for (const auto& o : names) {
    if (o.to != to) continue;
    if (best == nullptr || score(o) > score(*best)) best = &o;
  }
  if (best == nullptr) return std::nullopt;
  return best->name;
}

struct Observance {
  bool daylight = false;
  seconds from{0}, to{0};
  LocalDateTime start;
  std::string rrule;  // without "RRULE:", empty for none
  std::vector<LocalDateTime> rdates;
};

void line(std::string& out, const std::string& content) { out += fold_line(content); }

std::string render_locked(icaltimezone* zone, const std::string& tzid, int first_year, int last_year) {
  const int latest = std::max(first_year, last_year);
  const int scan_first = first_year - 1,
            scan_last = std::max(std::min(latest + kExtraYears, kReliableUntil), latest + 1);
  const sys_seconds begin{sys_days{std::chrono::year{scan_first} / 1 / 1}};
  const sys_seconds end{sys_days{std::chrono::year{scan_last + 1} / 1 / 1}};
  const std::vector<Transition> transitions = detail::transitions_locked(zone, begin, end);

  // Yearly runs: consecutive years, same key, a common day rule.
  std::vector<Run> runs;
  std::map<RunKey, std::size_t> open;
  for (const Transition& t : transitions) {
    const int y = int(date_of(t.onset).year());
    const RunKey key = key_of(t);
    const DayRule rule = day_rule_of(t.onset);
    if (const auto it = open.find(key); it != open.end()) {
      Run& run = runs[it->second];
      const DayRule merged = merge(run.rule, rule);
      if (run.last_year == y - 1 && merged.usable()) {
        run.members.push_back(t);
        run.rule = merged;
        run.last_year = y;
        continue;
      }
    }
    open[key] = runs.size();
    runs.push_back(Run{{t}, rule, y});
  }

  std::vector<Observance> observances;
  std::map<std::tuple<bool, long, long>, std::size_t> by_offsets;  // one-off transitions
  for (const Run& run : runs) {
    const Transition& first = run.members.front();
    if (run.members.size() >= 2) {
      std::string rrule =
          "FREQ=YEARLY;BYMONTH=" + std::to_string(unsigned(date_of(first.onset).month())) + by_day(run.rule);
      if (run.last_year < scan_last) {
        const auto until = run.members.back().at;
        rrule = "FREQ=YEARLY;UNTIL=" + detail::ical_utc(until) + rrule.substr(std::string("FREQ=YEARLY").size());
      }
      observances.push_back(Observance{first.daylight, first.from, first.to, first.onset, std::move(rrule), {}});
      continue;
    }
    const std::tuple<bool, long, long> key{first.daylight, long(first.from.count()), long(first.to.count())};
    if (const auto it = by_offsets.find(key); it != by_offsets.end()) {
      observances[it->second].rdates.push_back(first.onset);
    } else {
      by_offsets.emplace(key, observances.size());
      observances.push_back(Observance{first.daylight, first.from, first.to, first.onset, {}, {}});
    }
  }

  // The offset in force from the start of first_year, unless a transition before then covers it.
  const LocalDateTime year_start{std::chrono::local_days{std::chrono::year{first_year} / 1 / 1}};
  const bool covered =
      std::any_of(transitions.begin(), transitions.end(), [&](const Transition& t) { return t.onset < year_start; });
  if (!covered) {
    const detail::ZoneState initial = detail::zone_state_locked(zone, begin);
    const auto reaches = [&](bool daylight) {
      return std::any_of(transitions.begin(), transitions.end(),
                         [&](const Transition& t) { return t.daylight == daylight && t.to == initial.offset; });
    };
    const bool daylight = reaches(true) && !reaches(false);
    observances.push_back(Observance{daylight,
                                     initial.offset,
                                     initial.offset,
                                     LocalDateTime{std::chrono::local_days{std::chrono::year{scan_first} / 1 / 1}},
                                     {},
                                     {}});
  }

  std::sort(observances.begin(), observances.end(), [](const Observance& a, const Observance& b) {
    return std::tie(a.start, a.daylight) < std::tie(b.start, b.daylight);
  });

  const std::vector<NamedObservance> names = libical_names(zone);
  std::string out;
  line(out, "BEGIN:VTIMEZONE");
  line(out, "TZID:" + tzid);
  line(out, "X-LIC-LOCATION:" + tzid);
  for (const Observance& o : observances) {
    const char* kind = o.daylight ? "DAYLIGHT" : "STANDARD";
    line(out, std::string("BEGIN:") + kind);
    line(out, "DTSTART:" + detail::ical_local(o.start));
    if (!o.rrule.empty()) line(out, "RRULE:" + o.rrule);
    if (!o.rdates.empty()) {
      std::string rdate = "RDATE:";
      for (std::size_t i = 0; i < o.rdates.size(); ++i) rdate += (i == 0 ? "" : ",") + detail::ical_local(o.rdates[i]);
      line(out, rdate);
    }
    line(out, "TZOFFSETFROM:" + format_offset(o.from));
    line(out, "TZOFFSETTO:" + format_offset(o.to));
    if (const auto name = tz_name(names, o.from, o.to, o.start)) line(out, "TZNAME:" + escape_text(*name));
    line(out, std::string("END:") + kind);
  }
  line(out, "END:VTIMEZONE");
  return out;
}

}  // namespace

namespace detail {

std::string ical_local(LocalDateTime t) {
  const auto day = std::chrono::floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<seconds> tod{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02ld%02ld%02ld", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()), long(tod.hours().count()), long(tod.minutes().count()),
                long(tod.seconds().count()));
  return buf;
}

std::string ical_date(LocalDateTime t) {
  const std::chrono::year_month_day ymd{std::chrono::floor<days>(t)};
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()));
  return buf;
}

std::string ical_utc(sys_seconds t) { return ical_local(LocalDateTime{t.time_since_epoch()}) + "Z"; }

}  // namespace detail

std::string render_vtimezone(std::string_view zone_name, int first_year, int last_year) {
  first_year = std::clamp(first_year, kMinYear, kMaxYear);
  last_year = std::clamp(last_year, first_year, std::min(kMaxYear, first_year + kMaxSpan));

  std::lock_guard lock(libical_mutex());
  icaltimezone* zone = detail::require_zone_locked(zone_name);
  static std::map<std::tuple<std::string, int, int>, std::string, std::less<>> memo;
  std::tuple<std::string, int, int> key{std::string(zone_name), first_year, last_year};
  if (const auto it = memo.find(key); it != memo.end()) return it->second;
  std::string text = render_locked(zone, std::get<0>(key), first_year, last_year);
  if (memo.size() >= kMaxMemo) memo.clear();
  memo.emplace(std::move(key), text);
  return text;
}

}  // namespace convene::calendar
