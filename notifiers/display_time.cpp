#include "notifiers/display_time.hpp"

#include <array>
#include <cstdio>

#include "calendar/local_time.hpp"
#include "calendar/zones.hpp"

namespace convene::notifiers {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> kWeekdays{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                    "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths{"January", "February", "March",     "April",   "May",      "June",
                                                   "July",    "August",   "September", "October", "November", "December"};

std::string clock_text(calendar::LocalDateTime local) {
  const hh_mm_ss clock{local - floor<days>(local)};
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%02d:%02d", static_cast<int>(clock.hours().count()),
                static_cast<int>(clock.minutes().count()));
  return buffer;
}

year_month_day date_of(calendar::LocalDateTime local) { return year_month_day{floor<days>(local)}; }

std::string plural(long long n, std::string_view unit) {
  return std::to_string(n) + " " + std::string(unit) + (n == 1 ? "" : "s");
}

}  // namespace

std::string usable_zone(std::string_view zone, std::string_view fallback) {
  if (calendar::is_known_zone(zone)) return std::string(zone);
  if (calendar::is_known_zone(fallback)) return std::string(fallback);
  return "UTC";
}

std::string long_date(year_month_day date) {
  if (!date.ok()) return "?";
  return std::string(kWeekdays[weekday{sys_days{date}}.c_encoding()]) + " " +
         std::to_string(static_cast<unsigned>(date.day())) + " " +
         std::string(kMonths[static_cast<unsigned>(date.month()) - 1]) + " " + std::to_string(static_cast<int>(date.year()));
}

std::string time_point(calendar::Instant t, std::string_view zone) {
  const auto local = calendar::to_local(t, zone);
  return long_date(date_of(local)) + ", " + clock_text(local) + " (" + std::string(zone) + ")";
}

std::string time_range(calendar::Instant start, calendar::Instant end, std::string_view zone) {
  const auto from = calendar::to_local(start, zone), to = calendar::to_local(end, zone);
  std::string text = long_date(date_of(from)) + ", " + clock_text(from);
  if (date_of(to) == date_of(from))
    text += "\xE2\x80\x93" + clock_text(to);  // en dash
  else
    text += " \xE2\x80\x93 " + long_date(date_of(to)) + ", " + clock_text(to);
  return text + " (" + std::string(zone) + ")";
}

std::string date_range(year_month_day first, year_month_day end_exclusive) {
  const year_month_day last{sys_days{end_exclusive} - days{1}};
  if (!end_exclusive.ok() || sys_days{last} <= sys_days{first}) return long_date(first);
  return long_date(first) + " \xE2\x80\x93 " + long_date(last);
}

std::string duration_text(seconds duration) {
  if (duration < seconds{0}) duration = -duration;
  const long long total = duration.count();
  if (total == 0) return "0 minutes";
  if (total % (7 * 86400) == 0) return plural(total / (7 * 86400), "week");
  struct Unit {
    long long seconds;
    std::string_view name;
  };
  constexpr std::array<Unit, 4> units{{{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}}};
  std::string text;
  int parts = 0;
  long long rest = total;
  for (const auto& unit : units) {
    if (parts == 2) break;
    const long long n = rest / unit.seconds;
    if (n == 0) continue;
    text.append(parts ? " " : "").append(plural(n, unit.name));
    rest -= n * unit.seconds;
    ++parts;
  }
  return text;
}

std::optional<calendar::Instant> parse_utc(std::string_view text) {
  if (text.size() < 20 || text.back() != 'Z') return std::nullopt;
  std::string_view fraction = text.substr(19, text.size() - 20);
  if (!fraction.empty()) {
    if (fraction.size() < 2 || fraction.size() > 7 || fraction.front() != '.') return std::nullopt;
    for (char c : fraction.substr(1))
      if (c < '0' || c > '9') return std::nullopt;
  }
  const auto local = calendar::parse_local_datetime(text.substr(0, 19));
  if (!local) return std::nullopt;
  return calendar::Instant{local->time_since_epoch()};
}

}  // namespace convene::notifiers
