#include "calendar/recurrence.hpp"

#include <libical/ical.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <tuple>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "calendar/libical_lock.hpp"
#include "calendar/transitions.hpp"

namespace convene::calendar {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

// Further than any UTC offset there has ever been: an occurrence at wall time W starts within
// [W - kReach, W + kReach].
constexpr std::chrono::hours kReach{20};

constexpr std::size_t kMaxRruleLength = 500;
constexpr long kMaxInterval = 1000;
constexpr long kMaxCount = 100000;

constexpr std::array<std::string_view, 14> kKnownParts = {"FREQ",     "UNTIL",   "COUNT",    "INTERVAL",   "BYSECOND",
                                                          "BYMINUTE", "BYHOUR",  "BYDAY",    "BYMONTHDAY", "BYYEARDAY",
                                                          "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST"};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// A whole number of at most 7 digits, else -1.
long small_number(std::string_view s) {
  if (s.empty() || s.size() > 7) return -1;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Comma-separated whole numbers, each optionally signed; empty when malformed.
std::vector<long> number_list(std::string_view s) {
  std::vector<long> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t end = std::min(s.find(',', pos), s.size());
    std::string_view item = s.substr(pos, end - pos);
    pos = end + 1;
    long sign = 1;
    if (!item.empty() && (item.front() == '+' || item.front() == '-')) {
      if (item.front() == '-') sign = -1;
      item.remove_prefix(1);
    }
    const long n = small_number(item);
    if (n < 0) return {};
    out.push_back(sign * n);
  }
  return out;
}

// Whether some BYMONTHDAY exists in some BYMONTH month (in some year). Malformed lists are left
// to libical's parser.
bool month_day_can_happen(std::string_view bymonth, std::string_view bymonthday) {
  static constexpr int kLongest[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const auto months = number_list(bymonth);
  const auto month_days = number_list(bymonthday);
  if (months.empty() || month_days.empty()) return true;
  for (long m : months)
    for (long d : month_days) {
      if (m < 1 || m > 12 || d == 0) return true;  // out of range: libical reports it
      if ((d > 0 ? d : -d) <= kLongest[m]) return true;
    }
  return false;
}

// libical's parse of an rrule that passed the syntactic checks; frees what libical allocated.
struct ParsedRule {
  icalrecurrencetype recur;
  explicit ParsedRule(const std::string& text) : recur(icalrecurrencetype_from_string(text.c_str())) {}
  ~ParsedRule() {
    // Only RSCALE allocates, and RSCALE is refused before libical sees the rule; kept for safety.
    if (recur.rscale != nullptr) std::free(recur.rscale);
  }
  ParsedRule(const ParsedRule&) = delete;
  ParsedRule& operator=(const ParsedRule&) = delete;
};

using IteratorPtr = std::unique_ptr<icalrecur_iterator, decltype(&icalrecur_iterator_free)>;

icaltimetype floating_icaltime(LocalDateTime local) { return detail::wall_icaltime(local, nullptr); }

LocalDateTime local_from_icaltime(const icaltimetype& tt) {
  const std::chrono::year_month_day ymd{std::chrono::year{tt.year}, std::chrono::month{unsigned(tt.month)},
                                        std::chrono::day{unsigned(tt.day)}};
  LocalDateTime local{std::chrono::local_days{ymd}};
  if (!tt.is_date) local += std::chrono::hours{tt.hour} + std::chrono::minutes{tt.minute} + seconds{tt.second};
  return local;
}

// With the libical lock held.
std::optional<std::string> rrule_problem_locked(std::string_view rrule) {
  if (rrule.empty()) return "the recurrence rule is empty";
  if (rrule.size() > kMaxRruleLength)
    return "the recurrence rule is longer than " + std::to_string(kMaxRruleLength) + " characters";
  if (upper(rrule.substr(0, 6)) == "RRULE:")
    return "give the rule's value without the \"RRULE:\" name, e.g. FREQ=WEEKLY;BYDAY=MO";
  for (char c : rrule) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "the recurrence rule contains a line break or another control character";
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ';' ||
                    c == '=' || c == ',' || c == '+' || c == '-';
    if (!ok)
      return std::string("the recurrence rule contains an unexpected character '") +
             (u < 0x80 ? std::string(1, c) : std::string("non-ASCII")) + "'";
  }

  std::array<std::optional<std::string>, kKnownParts.size()> values;  // upper-cased, by kKnownParts index
  const auto value_of = [&](std::string_view name) -> const std::optional<std::string>& {
    return values[static_cast<std::size_t>(std::find(kKnownParts.begin(), kKnownParts.end(), name) -
                                           kKnownParts.begin())];
  };
  std::size_t pos = 0;
  while (pos <= rrule.size()) {
    const std::size_t end = std::min(rrule.find(';', pos), rrule.size());
    const std::string_view part = rrule.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty()) return "the recurrence rule has an empty part (\";;\" or a trailing \";\")";
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == part.size())
      return std::string("\"").append(part) + "\" is not of the form NAME=VALUE";
    const std::string name = upper(part.substr(0, eq));
    const auto known = std::find(kKnownParts.begin(), kKnownParts.end(), name);
    if (known == kKnownParts.end()) return "unknown recurrence rule part \"" + name + "\"";
    auto& slot = values[static_cast<std::size_t>(known - kKnownParts.begin())];
    if (slot) return "the recurrence rule part " + name + " appears more than once";
    slot = upper(part.substr(eq + 1));
  }

  const auto& freq = value_of("FREQ");
  if (!freq) return "the recurrence rule has no FREQ";
  if (*freq == "SECONDLY" || *freq == "MINUTELY" || *freq == "HOURLY")
    return "FREQ=" + *freq + " is not supported: meetings recur DAILY, WEEKLY, MONTHLY or YEARLY";
  if (*freq != "DAILY" && *freq != "WEEKLY" && *freq != "MONTHLY" && *freq != "YEARLY")
    return "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY";
  if (value_of("COUNT") && value_of("UNTIL")) return "COUNT and UNTIL cannot both be given";
  if (const auto& interval = value_of("INTERVAL")) {
    const long n = small_number(*interval);
    if (n < 1 || n > kMaxInterval) return "INTERVAL must be a whole number from 1 to " + std::to_string(kMaxInterval);
  }
  if (const auto& count = value_of("COUNT")) {
    const long n = small_number(*count);
    if (n < 1 || n > kMaxCount) return "COUNT must be a whole number from 1 to " + std::to_string(kMaxCount);
  }
  if (const auto& until = value_of("UNTIL")) {
    const std::string& u = *until;
    // RFC 5545: with a zoned DTSTART, a date-time UNTIL must be in UTC.
    const auto all_digits = [](auto b, auto e) {
      return std::all_of(b, e, [](char c) { return c >= '0' && c <= '9'; });
    };
    const bool shape = (u.size() == 8 && all_digits(u.begin(), u.end())) ||
                       (u.size() == 16 && all_digits(u.begin(), u.begin() + 8) && u[8] == 'T' &&
                        all_digits(u.begin() + 9, u.begin() + 15) && u[15] == 'Z');
    if (!shape) return "UNTIL must be a date (20271231) or a UTC date-time (20271231T235959Z)";
  }
  if (const auto& byday = value_of("BYDAY")) {
    const bool numbered = byday->find_first_of("0123456789") != std::string::npos;
    if (numbered && *freq != "MONTHLY" && *freq != "YEARLY")
      return "a numbered BYDAY (such as 2TU) needs FREQ=MONTHLY or FREQ=YEARLY";
    if (numbered && *freq == "YEARLY" && value_of("BYWEEKNO"))
      return "a numbered BYDAY cannot be combined with BYWEEKNO";
  }
  if (value_of("BYWEEKNO") && *freq != "YEARLY") return "BYWEEKNO needs FREQ=YEARLY";
  if (value_of("BYYEARDAY") && *freq != "YEARLY") return "BYYEARDAY needs FREQ=YEARLY";
  if (value_of("BYMONTHDAY") && *freq == "WEEKLY") return "BYMONTHDAY cannot be used with FREQ=WEEKLY";
  if (value_of("BYMONTH") && value_of("BYMONTHDAY") &&
      !month_day_can_happen(*value_of("BYMONTH"), *value_of("BYMONTHDAY")))
    return "no BYMONTHDAY falls in the BYMONTH months";  // libical would search centuries for one
  if (value_of("BYSETPOS")) {
    bool other = false;
    for (std::string_view by :
         {"BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH"})
      other = other || value_of(by).has_value();
    if (!other) return "BYSETPOS needs another BYxxx part to select from";
  }

  const ParsedRule parsed{std::string(rrule)};
  if (parsed.recur.freq == ICAL_NO_RECURRENCE) return "the recurrence rule is not valid RFC 5545 (RRULE) syntax";
  // libical refuses combinations it cannot expand (BYWEEKNO=1;BYMONTH=6) when it makes an
  // iterator; a leap-year DTSTART lets leap-day-only rules through.
  icaltimetype probe = icaltime_null_time();
  probe.year = 2028;
  probe.month = 1;
  probe.day = 3;
  probe.hour = 10;
  const IteratorPtr iterator{icalrecur_iterator_new(parsed.recur, probe), &icalrecur_iterator_free};
  if (!iterator) return "the recurrence rule combines parts that cannot be expanded";
  return std::nullopt;
}

// The local starts of a series, in order: DTSTART first, then what the rule produces, with
// COUNT and UNTIL applied here (libical would compare a floating DTSTART with a UTC UNTIL as if
// both were UTC). Uses libical: only with the lock held.
class LocalStarts {
 public:
  LocalStarts(const Series& series, icaltimezone* zone)
      : zone_(zone), dtstart_(series.start), iterator_(nullptr, &icalrecur_iterator_free) {
    if (!series.rrule) {
      count_ = 1;
      return;
    }
    if (const auto problem = rrule_problem_locked(*series.rrule))
      throw std::invalid_argument("invalid recurrence rule: " + *problem);
    ParsedRule parsed{*series.rrule};
    count_ = parsed.recur.count;
    one_time_of_day_ = parsed.recur.by_hour[0] == ICAL_RECURRENCE_ARRAY_MAX &&
                       parsed.recur.by_minute[0] == ICAL_RECURRENCE_ARRAY_MAX &&
                       parsed.recur.by_second[0] == ICAL_RECURRENCE_ARRAY_MAX;
    const icaltimetype until = parsed.recur.until;
    if (!icaltime_is_null_time(until)) {
      if (until.is_date) {
        until_kind_ = UntilKind::date;
        until_local_ = local_from_icaltime(until) + std::chrono::days{1};  // exclusive bound: the next midnight
      } else if (icaltime_is_utc(until)) {
        until_kind_ = UntilKind::utc;
        until_local_ = local_from_icaltime(until);  // the UTC wall reading
      } else {
        until_kind_ = UntilKind::floating;
        until_local_ = local_from_icaltime(until);
      }
    }
    open_ended_ = count_ == 0 && until_kind_ == UntilKind::none;
    parsed.recur.count = 0;
    parsed.recur.until = icaltime_null_time();
    // libical gives no iterator when the rule matches nothing from this DTSTART on (it looks
    // ahead for a first match; FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29 from an odd year):
    // then DTSTART is the only occurrence.
    iterator_.reset(icalrecur_iterator_new(parsed.recur, floating_icaltime(series.start)));
  }

  // The next local start, or nullopt when the series has ended or the step guard was reached.
  std::optional<LocalDateTime> next() {
    if (done_) return std::nullopt;
    std::optional<LocalDateTime> candidate;
    if (emitted_ == 0) {
      candidate = dtstart_;
    } else if (iterator_) {
      while (!candidate) {
        if (steps_ >= kMaxRecurrenceSteps) {
          guard_hit_ = true;
          break;
        }
        ++steps_;
        const icaltimetype t = icalrecur_iterator_next(iterator_.get());
        if (icaltime_is_null_time(t)) break;
        const LocalDateTime local = local_from_icaltime(t);
        if (local > last_) candidate = local;  // skips DTSTART again, and anything out of order
      }
    }
    if (!candidate || (count_ > 0 && emitted_ >= count_) || past_until(*candidate)) {
      done_ = true;
      return std::nullopt;
    }
    ++emitted_;
    last_ = *candidate;
    return candidate;
  }

  bool guard_hit() const { return guard_hit_; }
  // Every occurrence at DTSTART's time of day (no BYHOUR, BYMINUTE or BYSECOND), without end.
  bool open_ended_at_one_time_of_day() const { return open_ended_ && one_time_of_day_; }

 private:
  enum class UntilKind { none, utc, date, floating };

  bool past_until(LocalDateTime local) const {
    switch (until_kind_) {
      case UntilKind::none:
        return false;
      case UntilKind::date:
        return local >= until_local_;
      case UntilKind::floating:
        return local > until_local_;
      case UntilKind::utc: {
        const sys_seconds until{until_local_.time_since_epoch()};
        const sys_seconds wall{local.time_since_epoch()};
        if (wall + kReach < until) return false;
        if (wall - kReach > until) return true;
        return detail::to_instant_locked(zone_, local) > until;
      }
    }
    return false;
  }

  icaltimezone* zone_;
  LocalDateTime dtstart_;
  IteratorPtr iterator_;
  int count_ = 0;  // 0: unbounded
  int emitted_ = 0;
  LocalDateTime last_{};
  UntilKind until_kind_ = UntilKind::none;
  LocalDateTime until_local_{};
  std::size_t steps_ = 0;
  bool guard_hit_ = false;
  bool done_ = false;
  bool open_ended_ = false, one_time_of_day_ = false;
};

void check_series(const Series& series) {
  if (series.duration < seconds{0}) throw std::invalid_argument("a series cannot have a negative duration");
}

bool cancelled(const std::vector<LocalDateTime>& sorted_exdates, LocalDateTime local) {
  return std::binary_search(sorted_exdates.begin(), sorted_exdates.end(), local);
}

std::vector<LocalDateTime> sorted(std::vector<LocalDateTime> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

std::optional<std::string> rrule_problem(std::string_view rrule) {
  std::lock_guard lock(libical_mutex());
  return rrule_problem_locked(rrule);
}

Expansion expand(const Series& series, Instant from, Instant to, std::size_t limit) {
  check_series(series);
  const auto exdates = sorted(series.exdates);
  Expansion out;
  std::lock_guard lock(libical_mutex());
  icaltimezone* zone = detail::require_zone_locked(series.zone);
  LocalStarts starts{series, zone};
  if (from >= to) return out;
  while (const auto local = starts.next()) {
    const sys_seconds wall{local->time_since_epoch()};
    if (wall - kReach >= to) return out;                   // starts at or after `to`, as all later ones
    if (wall + kReach + series.duration < from) continue;  // ends before `from`
    const Instant start = detail::to_instant_locked(zone, *local);
    if (start >= to) return out;
    const Instant end = start + series.duration;
    const bool intersects = end > from || (series.duration == seconds{0} && start >= from);
    if (!intersects || cancelled(exdates, *local)) continue;
    if (out.occurrences.size() == limit) {
      out.truncated = true;
      return out;
    }
    out.occurrences.push_back(Occurrence{*local, start, end});
  }
  if (starts.guard_hit()) out.truncated = true;
  return out;
}

std::optional<Occurrence> next_occurrence_after(const Series& series, Instant after) {
  check_series(series);
  const auto exdates = sorted(series.exdates);
  std::lock_guard lock(libical_mutex());
  icaltimezone* zone = detail::require_zone_locked(series.zone);
  LocalStarts starts{series, zone};
  while (const auto local = starts.next()) {
    const sys_seconds wall{local->time_since_epoch()};
    if (wall + kReach <= after || cancelled(exdates, *local)) continue;
    const Instant start = detail::to_instant_locked(zone, *local);
    if (start > after) return Occurrence{*local, start, start + series.duration};
  }
  return std::nullopt;
}

namespace {

// The zone's offset changes in the years [first_year, last_year], memoized (feeds scan many
// series of few zones). With the libical lock held.
const std::vector<detail::Transition>& transitions_in_years(icaltimezone* zone, int first_year, int last_year) {
  constexpr std::size_t kMaxMemo = 256;
  static std::map<std::tuple<icaltimezone*, int, int>, std::vector<detail::Transition>> memo;
  const auto key = std::make_tuple(zone, first_year, last_year);
  if (const auto it = memo.find(key); it != memo.end()) return it->second;
  if (memo.size() >= kMaxMemo) memo.clear();
  const sys_seconds begin{std::chrono::sys_days{std::chrono::year{first_year} / 1 / 1}};
  const sys_seconds end{std::chrono::sys_days{std::chrono::year{last_year + 1} / 1 / 1}};
  return memo.emplace(key, detail::transitions_locked(zone, begin, end)).first->second;
}

int year_of(LocalDateTime t) { return int(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)}.year()); }

// Whether some change of the zone's offset in these years skips or repeats the wall time of day
// `time_of_day`.
bool time_of_day_ever_irregular(const std::vector<detail::Transition>& transitions, seconds time_of_day) {
  return std::any_of(transitions.begin(), transitions.end(), [&](const detail::Transition& t) {
    for (const LocalDateTime edge : {t.window_begin(), t.window_end()}) {
      const LocalDateTime candidate = std::chrono::floor<std::chrono::days>(edge) + time_of_day;
      if (t.window_begin() <= candidate && candidate < t.window_end()) return true;
    }
    return false;
  });
}

}  // namespace

SeriesScan scan_series(const Series& series, Instant to) {
  check_series(series);
  const auto exdates = sorted(series.exdates);
  SeriesScan out;
  std::lock_guard lock(libical_mutex());
  icaltimezone* zone = detail::require_zone_locked(series.zone);
  LocalStarts starts{series, zone};
  const LocalDateTime to_reading{std::chrono::floor<seconds>(to).time_since_epoch()};  // within a day of `to`
  // Walking the rule is the costly part (libical computes dates with ICU): a rule that keeps
  // DTSTART's time of day can only give irregular occurrences if some offset change skips or
  // repeats that time of day, and one without an end then runs to `to`.
  if (starts.open_ended_at_one_time_of_day() && series.start < to_reading) {
    const auto& transitions = transitions_in_years(zone, year_of(series.start) - 1, year_of(to_reading) + 1);
    if (!time_of_day_ever_irregular(transitions, series.start - std::chrono::floor<std::chrono::days>(series.start))) {
      out.last_start = to_reading;
      return out;
    }
  }
  while (const auto local = starts.next()) {
    const sys_seconds wall{local->time_since_epoch()};
    if (wall - kReach >= to) break;
    // One offset on both sides of the wall reading: the usual case needs no closer look.
    if (const seconds offset = detail::utc_offset_locked(zone, wall - kReach);
        offset == detail::utc_offset_locked(zone, wall + kReach)) {
      if (wall - offset < to) out.last_start = *local;
      continue;
    }
    const ResolvedLocal resolved = detail::resolve_local_locked(zone, *local);
    if (resolved.instant >= to) break;
    out.last_start = *local;
    if (resolved.kind == LocalTimeKind::unique || cancelled(exdates, *local)) continue;
    out.irregular.push_back({Occurrence{*local, resolved.instant, resolved.instant + series.duration}, resolved.kind});
  }
  return out;
}

std::vector<std::optional<LocalDateTime>> local_starts_of(const Series& series, const std::vector<Instant>& starts) {
  std::vector<std::optional<LocalDateTime>> out(starts.size());
  if (starts.empty()) return out;
  const auto [earliest, latest] = std::minmax_element(starts.begin(), starts.end());
  Series all = series;
  all.exdates.clear();
  const auto found = expand(all, *earliest, *latest + std::chrono::microseconds(1), kMaxRecurrenceSteps);
  // By instant, not by position: in a gap, a later local time can start earlier.
  std::map<Instant, LocalDateTime> by_start;
  for (const Occurrence& o : found.occurrences) by_start.emplace(o.start, o.local_start);
  for (std::size_t i = 0; i < starts.size(); ++i)
    if (const auto match = by_start.find(starts[i]); match != by_start.end()) out[i] = match->second;
  return out;
}

std::vector<LocalDateTime> recurrence_ids_of(const Series& series, const std::vector<Instant>& starts) {
  const auto locals = local_starts_of(series, starts);
  std::vector<LocalDateTime> out;
  out.reserve(starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i) out.push_back(locals[i] ? *locals[i] : to_local(starts[i], series.zone));
  return out;
}

Series stored_series(LocalDateTime start_local, Instant start, Instant end, std::string zone,
                     std::optional<std::string> rrule, const std::vector<Instant>& cancelled) {
  Series s{start_local, std::chrono::duration_cast<seconds>(end - start), std::move(zone), std::move(rrule), {}};
  s.exdates = recurrence_ids_of(s, cancelled);
  return s;
}

}  // namespace convene::calendar
