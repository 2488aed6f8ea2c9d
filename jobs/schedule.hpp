#pragma once
// Recurring schedules: an RRULE in a zone ("every June 1 at 09:00 in Europe/London"), expanded
// by the calendar library, so DST rules (DESIGN §3) are those of meeting series: a local time
// in a spring-forward gap runs at the transition, one that happens twice runs the first time.
// Pure: "now" is an argument.
#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

namespace convene::jobs {

struct Schedule {
  std::string rrule;              // e.g. "FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1"
  calendar::LocalDateTime start;  // DTSTART: the first run's wall-clock time in `zone`
  std::string zone;               // IANA

  bool operator==(const Schedule&) const = default;
};

// The first run strictly after `after`; nullopt when the rule has ended. Throws
// std::invalid_argument for a bad rule and calendar::UnknownZone for a bad zone.
std::optional<calendar::Instant> next_run_after(const Schedule& schedule, calendar::Instant after);

// The runs t with from <= t < to, in order; at most `limit` of them.
std::vector<calendar::Instant> runs_between(const Schedule& schedule, calendar::Instant from, calendar::Instant to,
                                            std::size_t limit = 10000);

// "Every year on month-day at hh:mm in zone", starting in 2000 (so every year counts).
Schedule yearly_at(unsigned month, unsigned day, std::chrono::minutes time_of_day, std::string zone);
// "Every day at hh:mm in zone".
Schedule daily_at(std::chrono::minutes time_of_day, std::string zone);
// "Every week on the ISO weekday (1 = Monday ... 7 = Sunday) at hh:mm in zone". Throws
// std::invalid_argument for a weekday outside 1-7.
Schedule weekly_at(unsigned iso_weekday, std::chrono::minutes time_of_day, std::string zone);

// The schedule as a job's payload field and back; nullopt when the payload has none or it is
// malformed.
boost::json::object to_json(const Schedule& schedule);
std::optional<Schedule> schedule_from_json(const boost::json::value& value);

}  // namespace convene::jobs
