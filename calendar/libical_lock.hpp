#pragma once
// Internal to calendar/: the one lock around libical.
//
// libical fills its zone table lazily and caches each zone's expanded transitions inside the
// zone object, neither thread-safely, and the daemon reaches zones from several HTTP threads.
// Every calendar/ function that touches libical (zone lookups, offsets, recurrence iterators,
// parsing) holds libical_mutex() for the duration of that use. Not part of the public API.
#include <libical/ical.h>

#include <chrono>
#include <mutex>
#include <string_view>

#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"

namespace convene::calendar {

std::mutex& libical_mutex();

namespace detail {

// With libical_mutex() held. nullptr for malformed or unknown names (zones.cpp).
icaltimezone* find_zone_locked(std::string_view name);

// With libical_mutex() held (local_time.cpp).
icaltimezone* require_zone_locked(std::string_view name);  // throws UnknownZone
std::chrono::seconds utc_offset_locked(icaltimezone* zone, std::chrono::sys_seconds t);
Instant to_instant_locked(icaltimezone* zone, LocalDateTime local);
ResolvedLocal resolve_local_locked(icaltimezone* zone, LocalDateTime local);
LocalDateTime to_local_locked(icaltimezone* zone, Instant t);

// A wall-clock reading as libical's time struct, in `zone` (nullptr: floating).
inline icaltimetype wall_icaltime(LocalDateTime local, icaltimezone* zone) {
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<std::chrono::seconds> tod{local - day};
  icaltimetype tt = icaltime_null_time();
  tt.year = int(ymd.year());
  tt.month = int(unsigned(ymd.month()));
  tt.day = int(unsigned(ymd.day()));
  tt.hour = int(tod.hours().count());
  tt.minute = int(tod.minutes().count());
  tt.second = int(tod.seconds().count());
  tt.is_date = 0;
  tt.zone = zone;
  return tt;
}

}  // namespace detail
}  // namespace convene::calendar
