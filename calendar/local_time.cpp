#include "calendar/local_time.hpp"

#include <libical/ical.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "calendar/libical_lock.hpp"
#include "calendar/transitions.hpp"

namespace convene::calendar {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::sys_seconds;

// Exactly `n` ASCII digits at `pos`.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// "YYYY-MM-DD" at the start of `s` (the caller checks what follows).
std::optional<std::chrono::year_month_day> date_prefix(std::string_view s) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const auto y = digits(s, 0, 4), m = digits(s, 5, 2), d = digits(s, 8, 2);
  if (!y || !m || !d) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*y}, std::chrono::month{static_cast<unsigned>(*m)},
                                        std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  return ymd;
}

// Further than any UTC offset there has ever been (LMT offsets reached about ±16h).
constexpr hours kReach{20};

}  // namespace

std::optional<LocalDateTime> parse_local_datetime(std::string_view text) {
  if (text.size() != 16 && text.size() != 19) return std::nullopt;
  const auto date = date_prefix(text);
  if (!date || text[10] != 'T' || text[13] != ':') return std::nullopt;
  const auto h = digits(text, 11, 2), mi = digits(text, 14, 2);
  if (!h || !mi || *h > 23 || *mi > 59) return std::nullopt;
  int s = 0;
  if (text.size() == 19) {
    const auto sec = digits(text, 17, 2);
    if (text[16] != ':' || !sec || *sec > 59) return std::nullopt;
    s = *sec;
  }
  return LocalDateTime{std::chrono::local_days{*date}} + hours{*h} + std::chrono::minutes{*mi} + seconds{s};
}

std::optional<std::chrono::year_month_day> parse_date(std::string_view text) {
  if (text.size() != 10) return std::nullopt;
  return date_prefix(text);
}

std::string format_local_datetime(LocalDateTime local) {
  const auto day = std::chrono::floor<days>(local);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<seconds> tod{local - day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ld", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()), long(tod.hours().count()), long(tod.minutes().count()),
                long(tod.seconds().count()));
  return buf;
}

std::string format_date(std::chrono::year_month_day date) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", int(date.year()), unsigned(date.month()), unsigned(date.day()));
  return buf;
}

namespace detail {

icaltimezone* require_zone_locked(std::string_view name) {
  icaltimezone* zone = find_zone_locked(name);
  if (zone == nullptr) throw UnknownZone("unknown time zone \"" + std::string(name.substr(0, 64)) + "\"");
  return zone;
}

seconds utc_offset_locked(icaltimezone* zone, sys_seconds t) { return zone_state_locked(zone, t).offset; }

ResolvedLocal resolve_local_locked(icaltimezone* zone, LocalDateTime local) {
  const sys_seconds wall{local.time_since_epoch()};  // the wall reading, as if it were UTC
  const auto offset_at = [zone](sys_seconds t) { return utc_offset_locked(zone, t); };
  const auto at = [](sys_seconds t) { return std::chrono::time_point_cast<std::chrono::microseconds>(t); };

  // Usual case: one offset on both sides, and it maps back.
  const seconds before = offset_at(wall - kReach), after = offset_at(wall + kReach);
  if (before == after && offset_at(wall - before) == before) return {at(wall - before), LocalTimeKind::unique};

  // Every offset in force within reach of the wall reading: an instant for `local` must be
  // wall - offset for one of them.
  std::array<seconds, 12> offsets{};
  std::size_t count = 0;
  const auto add = [&](seconds o) {
    for (std::size_t i = 0; i < count; ++i)
      if (offsets[i] == o) return;
    if (count < offsets.size()) offsets[count++] = o;
  };
  add(before);
  add(offset_at(wall));
  add(after);
  for (int round = 0; round < 2; ++round) {
    const std::size_t known = count;
    for (std::size_t i = 0; i < known; ++i) add(offset_at(wall - offsets[i]));
  }

  // Instants whose wall reading is exactly `local`; twice in a fall-back: the earlier one.
  std::optional<sys_seconds> first;
  int readings = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const sys_seconds t = wall - offsets[i];
    if (offset_at(t) == offsets[i]) {
      ++readings;
      if (!first || t < *first) first = t;
    }
  }
  if (first) return {at(*first), readings > 1 ? LocalTimeKind::repeated : LocalTimeKind::unique};

  // None: `local` is in a spring-forward gap. RFC 5545 §3.3.5: it is read with the offset in
  // force before the gap, which shifts it forward by the gap's length (02:30 -> 03:30 EDT).
  // Find the transition to the second; the offset before it is the one just before.
  sys_seconds lo = wall - kReach, hi = wall + kReach;  // reading(lo) <= wall < reading(hi)
  if (lo + offset_at(lo) > wall || hi + offset_at(hi) <= wall) return {at(wall - before), LocalTimeKind::in_gap};
  while (hi - lo > seconds{1}) {
    const sys_seconds mid = lo + (hi - lo) / 2;
    if (mid + offset_at(mid) > wall)
      hi = mid;
    else
      lo = mid;
  }
  return {at(wall - offset_at(lo)), LocalTimeKind::in_gap};
}

Instant to_instant_locked(icaltimezone* zone, LocalDateTime local) { return resolve_local_locked(zone, local).instant; }

LocalDateTime to_local_locked(icaltimezone* zone, Instant t) {
  const sys_seconds s = std::chrono::floor<seconds>(t);
  return LocalDateTime{(s + utc_offset_locked(zone, s)).time_since_epoch()};
}

}  // namespace detail

Instant to_instant(LocalDateTime local, std::string_view zone) {
  std::lock_guard lock(libical_mutex());
  return detail::to_instant_locked(detail::require_zone_locked(zone), local);
}

ResolvedLocal resolve_local(LocalDateTime local, std::string_view zone) {
  std::lock_guard lock(libical_mutex());
  return detail::resolve_local_locked(detail::require_zone_locked(zone), local);
}

LocalDateTime to_local(Instant t, std::string_view zone) {
  std::lock_guard lock(libical_mutex());
  return detail::to_local_locked(detail::require_zone_locked(zone), t);
}

std::chrono::seconds utc_offset(Instant t, std::string_view zone) {
  std::lock_guard lock(libical_mutex());
  return detail::utc_offset_locked(detail::require_zone_locked(zone), std::chrono::floor<seconds>(t));
}

std::string format_rfc3339_local(Instant t, std::string_view zone) {
  const auto whole = std::chrono::floor<seconds>(t);
  const auto offset = utc_offset(whole, zone);
  const auto minutes = std::abs(offset.count()) / 60;
  char suffix[48];  // roomy: GCC cannot see that an offset is under a day
  std::snprintf(suffix, sizeof suffix, "%c%02ld:%02ld", offset.count() < 0 ? '-' : '+', long(minutes / 60),
                long(minutes % 60));
  return format_local_datetime(LocalDateTime{(whole + offset).time_since_epoch()}) + suffix;
}

std::optional<Instant> parse_rfc3339(std::string_view text) {
  if (text.size() < 20) return std::nullopt;
  seconds offset{0};
  std::string_view local = text;
  if (text.back() == 'Z') {
    local.remove_suffix(1);
  } else {
    // "+hh:mm" or "-hh:mm" at the end.
    const auto tail = text.substr(text.size() - 6);
    const auto h = digits(tail, 1, 2), m = digits(tail, 4, 2);
    if ((tail[0] != '+' && tail[0] != '-') || !h || tail[3] != ':' || !m || *h > 23 || *m > 59) return std::nullopt;
    offset = seconds((*h * 60 + *m) * 60 * (tail[0] == '-' ? -1 : 1));
    local.remove_suffix(6);
  }
  const auto wall = parse_local_datetime(local);
  if (!wall) return std::nullopt;
  return Instant{wall->time_since_epoch() - offset};
}

std::chrono::year_month_day local_date(Instant t, std::string_view zone) {
  return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(to_local(t, zone))};
}

}  // namespace convene::calendar
