#include "calendar/transitions.hpp"

#include <algorithm>

namespace convene::calendar::detail {
namespace {

using std::chrono::days;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr days kStep{7};

}  // namespace

ZoneState zone_state_locked(icaltimezone* zone, sys_seconds t) {
  icaltimetype tt = icaltime_from_timet_with_zone(static_cast<time_t>(t.time_since_epoch().count()), 0,
                                                  icaltimezone_get_utc_timezone());
  int is_dst = 0;
  const int offset = icaltimezone_get_utc_offset_of_utc_time(zone, &tt, &is_dst);
  return {seconds{offset}, is_dst != 0};
}

std::vector<Transition> transitions_locked(icaltimezone* zone, sys_seconds begin, sys_seconds end) {
  std::vector<Transition> out;
  sys_seconds lo = begin;
  ZoneState at_lo = zone_state_locked(zone, lo);
  while (lo < end) {
    const sys_seconds hi = std::min<sys_seconds>(lo + kStep, end);
    const ZoneState at_hi = zone_state_locked(zone, hi);
    while (at_hi.offset != at_lo.offset) {
      // The first instant in (lo, hi] with another offset than lo's.
      sys_seconds a = lo, b = hi;
      while (b - a > seconds{1}) {
        const sys_seconds mid = a + (b - a) / 2;
        if (zone_state_locked(zone, mid).offset == at_lo.offset)
          a = mid;
        else
          b = mid;
      }
      const ZoneState at_b = zone_state_locked(zone, b);
      Transition t;
      t.at = b;
      t.from = at_lo.offset;
      t.to = at_b.offset;
      t.daylight = at_lo.dst != at_b.dst ? t.to > t.from : at_b.dst;
      t.onset = LocalDateTime{(b + t.from).time_since_epoch()};
      out.push_back(t);
      lo = b;
      at_lo = at_b;
    }
    lo = hi;
    at_lo = at_hi;
  }
  return out;
}

}  // namespace convene::calendar::detail
