#pragma once
// The annual-meeting window (DESIGN §2) and a planner that proposes non-overlapping slots for
// every community inside it. Pure and thread-safe.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"

namespace convene::calendar {

// Inclusive range of calendar dates.
struct DateWindow {
  std::chrono::year_month_day first, last;
};

// `days` consecutive days from `month`/`first_day`. The default, July 8-14, holds the second
// Monday, second Tuesday, ... second Sunday of July of every year.
struct AnnualWindowRule {
  unsigned month = 7;
  unsigned first_day = 8;
  unsigned days = 7;
};

// The window of `year`. Throws std::invalid_argument for a rule that names no real date
// (month 13, June 31, February 29 of a common year) or has days outside 1..366.
DateWindow annual_window(int year, const AnnualWindowRule& rule = {});

bool in_window(std::chrono::year_month_day d, const DateWindow& w);

// The day after the window: the exclusive end of the all-day placeholder (DTEND), which spans
// window first .. last + 1 (July 8 .. July 15 exclusive by default).
std::chrono::year_month_day exclusive_end(const DateWindow& w);

struct PlanRequest {
  int year = 0;
  std::string zone;                                          // the organisation's zone
  std::chrono::minutes day_start{9 * 60}, day_end{17 * 60};  // local time of day; 0 <= start < end <= 24h
  std::chrono::minutes duration{60}, gap{15};                // duration > 0, gap >= 0
  bool weekdays_only = true;
  AnnualWindowRule window;
};

struct Interval {
  Instant start, end;  // [start, end)
};

struct PlanRoom {
  std::int64_t id = 0;
  std::vector<Interval> busy;  // existing bookings
};

struct PlanSlot {
  std::int64_t community_id = 0;
  LocalDateTime local_start, local_end;  // wall clock in the request's zone
  Instant start, end;
  std::optional<std::int64_t> room_id;
};

struct PlanResult {
  std::vector<PlanSlot> slots;         // in the order of community_ids
  std::vector<std::int64_t> unplaced;  // communities that did not fit, in the given order
};

// Greedy and deterministic. Candidate slots: the days of the window in order (Saturdays and
// Sundays skipped when weekdays_only), starts from day_start stepping by duration + gap while
// start + duration <= day_end (local). A candidate is usable when it keeps `gap` on both sides
// of every interval in `taken` (already confirmed annual meetings) and of every slot already
// proposed, ends by day_end in local time, and, when `rooms` is non-empty, some room has no
// booking overlapping [start, end) (the first such room in the given order; the slot is then
// added to that room's bookings for later candidates). With `rooms` empty, room_id stays
// nullopt. Communities get the usable candidates in the given order; those left over are
// `unplaced`. Throws UnknownZone, and std::invalid_argument for a malformed request.
PlanResult plan_annual_meetings(const PlanRequest& request, const std::vector<std::int64_t>& community_ids,
                                const std::vector<Interval>& taken, const std::vector<PlanRoom>& rooms);

}  // namespace convene::calendar
