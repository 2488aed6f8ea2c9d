#include "jobs/schedule.hpp"

#include "calendar/recurrence.hpp"

#include <boost/json/value.hpp>

#include <stdexcept>

namespace convene::jobs {

namespace {

// Expansion walks from DTSTART, so a daily rule started in 2000 takes thousands of steps to
// reach today. For the plain rules the engine writes (daily_at, yearly_at: no COUNT, UNTIL or
// INTERVAL) moving DTSTART forward by whole periods to just before `after` keeps every later
// run the same.
calendar::LocalDateTime fast_forward(const Schedule& s, calendar::Instant after) {
  using namespace std::chrono;
  const auto start_day = floor<days>(s.start);
  const auto time_of_day = s.start - start_day;
  const auto after_day = floor<days>(calendar::to_local(after, s.zone));
  const bool plain = s.rrule.find("COUNT") == std::string::npos && s.rrule.find("UNTIL") == std::string::npos &&
                     s.rrule.find("INTERVAL") == std::string::npos;
  if (s.rrule == "FREQ=DAILY" || (plain && s.rrule.rfind("FREQ=DAILY;", 0) == 0)) {
    const auto day = after_day - days(2);
    return day > start_day ? day + time_of_day : s.start;
  }
  // Whole weeks keep the weekday of DTSTART (weekly_at starts on the rule's weekday).
  if (plain && s.rrule.rfind("FREQ=WEEKLY;BYDAY=", 0) == 0) {
    const auto weeks_ahead = floor<weeks>(after_day - start_day) - weeks(1);
    return weeks_ahead > weeks(0) ? s.start + weeks_ahead : s.start;
  }
  if (s.rrule.rfind("FREQ=YEARLY;BYMONTH=", 0) == 0 && s.rrule.find("COUNT") == std::string::npos &&
      s.rrule.find("UNTIL") == std::string::npos && s.rrule.find("INTERVAL") == std::string::npos) {
    const year_month_day start_date{start_day}, after_date{after_day};
    const year_month_day moved{after_date.year() - years(1), start_date.month(), start_date.day()};
    if (moved.ok() && local_days{moved} > start_day) return local_days{moved} + time_of_day;
  }
  return s.start;
}

}  // namespace

std::optional<calendar::Instant> next_run_after(const Schedule& schedule, calendar::Instant after) {
  const calendar::Series series{fast_forward(schedule, after), std::chrono::seconds(0), schedule.zone, schedule.rrule, {}};
  const auto next = calendar::next_occurrence_after(series, after);
  if (!next) return std::nullopt;
  return next->start;
}

std::vector<calendar::Instant> runs_between(const Schedule& schedule, calendar::Instant from, calendar::Instant to,
                                            std::size_t limit) {
  std::vector<calendar::Instant> out;
  // next_run_after is strict: start just before `from`.
  auto t = next_run_after(schedule, from - std::chrono::microseconds(1));
  while (t && *t < to && out.size() < limit) {
    out.push_back(*t);
    t = next_run_after(schedule, *t);
  }
  return out;
}

namespace {
calendar::LocalDateTime at(std::chrono::year_month_day day, std::chrono::minutes time_of_day) {
  return calendar::LocalDateTime{std::chrono::local_days{day}.time_since_epoch() + time_of_day};
}
}  // namespace

Schedule yearly_at(unsigned month, unsigned day, std::chrono::minutes time_of_day, std::string zone) {
  using namespace std::chrono;
  return Schedule{"FREQ=YEARLY;BYMONTH=" + std::to_string(month) + ";BYMONTHDAY=" + std::to_string(day),
                  at(year_month_day{year{2000}, std::chrono::month{month}, std::chrono::day{day}}, time_of_day),
                  std::move(zone)};
}

Schedule daily_at(std::chrono::minutes time_of_day, std::string zone) {
  using namespace std::chrono;
  return Schedule{"FREQ=DAILY", at(year_month_day{year{2000}, January, day{1}}, time_of_day), std::move(zone)};
}

Schedule weekly_at(unsigned iso_weekday, std::chrono::minutes time_of_day, std::string zone) {
  using namespace std::chrono;
  static constexpr const char* codes[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
  if (iso_weekday < 1 || iso_weekday > 7) throw std::invalid_argument("ISO weekday must be 1 (Monday) to 7 (Sunday)");
  // 2000-01-03 was a Monday: DTSTART falls on the rule's own weekday.
  const auto first = sys_days{year{2000} / January / day{3}} + days(iso_weekday - 1);
  return Schedule{std::string("FREQ=WEEKLY;BYDAY=") + codes[iso_weekday - 1], at(year_month_day{first}, time_of_day),
                  std::move(zone)};
}

boost::json::object to_json(const Schedule& schedule) {
  return {{"rrule", schedule.rrule},
          {"start", calendar::format_local_datetime(schedule.start)},
          {"zone", schedule.zone}};
}

std::optional<Schedule> schedule_from_json(const boost::json::value& value) {
  const auto* o = value.if_object();
  if (o == nullptr) return std::nullopt;
  const auto* rrule = o->if_contains("rrule");
  const auto* start = o->if_contains("start");
  const auto* zone = o->if_contains("zone");
  if (rrule == nullptr || !rrule->is_string() || start == nullptr || !start->is_string() || zone == nullptr ||
      !zone->is_string())
    return std::nullopt;
  const auto local = calendar::parse_local_datetime(start->get_string());
  if (!local) return std::nullopt;
  return Schedule{std::string(rrule->get_string()), *local, std::string(zone->get_string())};
}

}  // namespace convene::jobs
