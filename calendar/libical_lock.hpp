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
LocalDateTime to_local_locked(icaltimezone* zone, Instant t);

}  // namespace detail
}  // namespace convene::calendar
