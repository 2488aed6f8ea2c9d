#include "calendar/annual.hpp"

#include <mutex>
#include <stdexcept>

#include "calendar/libical_lock.hpp"

namespace convene::calendar {
namespace {

using std::chrono::minutes;

bool overlaps(const Interval& a, Instant start, Instant end) { return a.start < end && start < a.end; }

// [start, end) comes closer than `gap` to `a` (or overlaps it).
bool too_close(const Interval& a, Instant start, Instant end, minutes gap) {
  return a.start < end + gap && start < a.end + gap;
}

void check(const PlanRequest& r) {
  if (r.duration <= minutes{0}) throw std::invalid_argument("the meeting length must be positive");
  if (r.gap < minutes{0}) throw std::invalid_argument("the gap between meetings cannot be negative");
  if (r.day_start < minutes{0} || r.day_end > std::chrono::hours{24} || r.day_start >= r.day_end)
    throw std::invalid_argument("the day's hours must satisfy 00:00 <= start < end <= 24:00");
}

}  // namespace

DateWindow annual_window(int year, const AnnualWindowRule& rule) {
  using namespace std::chrono;
  const year_month_day first{std::chrono::year{year}, month{rule.month}, day{rule.first_day}};
  if (!first.ok() || rule.month < 1 || rule.month > 12)
    throw std::invalid_argument("the annual window rule does not name a real date in " + std::to_string(year));
  if (rule.days < 1 || rule.days > 366) throw std::invalid_argument("the annual window must span 1 to 366 days");
  return DateWindow{first, year_month_day{sys_days{first} + days{rule.days - 1}}};
}

bool in_window(std::chrono::year_month_day d, const DateWindow& w) {
  const std::chrono::sys_days day{d};
  return std::chrono::sys_days{w.first} <= day && day <= std::chrono::sys_days{w.last};
}

std::chrono::year_month_day exclusive_end(const DateWindow& w) {
  return std::chrono::year_month_day{std::chrono::sys_days{w.last} + std::chrono::days{1}};
}

PlanResult plan_annual_meetings(const PlanRequest& request, const std::vector<std::int64_t>& community_ids,
                                const std::vector<Interval>& taken, const std::vector<PlanRoom>& rooms) {
  using namespace std::chrono;
  check(request);
  const DateWindow window = annual_window(request.year, request.window);
  std::vector<PlanRoom> room_state = rooms;
  std::vector<Interval> proposed;
  PlanResult result;
  std::size_t next = 0;

  std::lock_guard lock(libical_mutex());
  icaltimezone* zone = detail::require_zone_locked(request.zone);
  for (sys_days d{window.first}; d <= sys_days{window.last} && next < community_ids.size(); d += days{1}) {
    const weekday wd{d};
    if (request.weekdays_only && (wd == Saturday || wd == Sunday)) continue;
    const local_days day{d.time_since_epoch()};
    const LocalDateTime day_end = day + request.day_end;
    for (minutes offset = request.day_start;
         offset + request.duration <= request.day_end && next < community_ids.size();
         offset += request.duration + request.gap) {
      const Instant start = detail::to_instant_locked(zone, day + offset);
      const Instant end = start + request.duration;
      const LocalDateTime local_start = detail::to_local_locked(zone, start);  // later than planned in a DST gap
      const LocalDateTime local_end = detail::to_local_locked(zone, end);
      if (local_end > day_end) continue;  // a DST change on the day pushed it past the day's end
      bool usable = true;
      for (const Interval& t : taken) usable = usable && !too_close(t, start, end, request.gap);
      for (const Interval& p : proposed) usable = usable && !too_close(p, start, end, request.gap);
      if (!usable) continue;
      std::optional<std::int64_t> room_id;
      if (!room_state.empty()) {
        for (PlanRoom& room : room_state) {
          bool free = true;
          for (const Interval& b : room.busy) free = free && !overlaps(b, start, end);
          if (free) {
            room.busy.push_back(Interval{start, end});
            room_id = room.id;
            break;
          }
        }
        if (!room_id) continue;
      }
      proposed.push_back(Interval{start, end});
      result.slots.push_back(PlanSlot{community_ids[next++], local_start, local_end, start, end, room_id});
    }
  }
  result.unplaced.assign(community_ids.begin() + static_cast<std::ptrdiff_t>(next), community_ids.end());
  return result;
}

}  // namespace convene::calendar
