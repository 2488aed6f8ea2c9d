#pragma once
// Internal to calendar/: a zone's offset changes, found from libical's reading of tzdata. Used
// by VTIMEZONE rendering (vtimezone.cpp) and by the series scan that looks for occurrences in
// a gap or a repeat (recurrence.cpp). With libical_mutex() held.
#include <libical/ical.h>

#include <chrono>
#include <vector>

#include "calendar/local_time.hpp"

namespace convene::calendar::detail {

struct ZoneState {
  std::chrono::seconds offset{0};
  bool dst = false;
};

ZoneState zone_state_locked(icaltimezone* zone, std::chrono::sys_seconds t);

struct Transition {
  std::chrono::sys_seconds at;  // the first instant with the new offset
  std::chrono::seconds from{0}, to{0};
  // Into or out of DST: the larger offset is daylight time (tzdata marks Irish winter time as
  // "DST" with a negative save; clients expect the summer offset to be DAYLIGHT). A change of
  // standard time keeps tzdata's flag.
  bool daylight = false;
  LocalDateTime onset;  // wall clock just before the change (at + from): an observance's DTSTART

  // The wall readings that happen twice (the clocks go back) or never (forward): from the
  // earlier of the two readings of `at` to the later.
  LocalDateTime window_begin() const { return LocalDateTime{(at + std::min(from, to)).time_since_epoch()}; }
  LocalDateTime window_end() const { return LocalDateTime{(at + std::max(from, to)).time_since_epoch()}; }
};

// The offset changes in (begin, end], in order. Offsets are sampled a week apart and each change
// found to the second: no zone changes its offset and back within a week.
std::vector<Transition> transitions_locked(icaltimezone* zone, std::chrono::sys_seconds begin,
                                           std::chrono::sys_seconds end);

}  // namespace convene::calendar::detail
