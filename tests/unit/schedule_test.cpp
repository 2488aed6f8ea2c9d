// Recurring job schedules across DST changes (DESIGN §3): a local time in a spring-forward gap
// runs at the transition, a local time that happens twice runs once (the first time), and a
// daily schedule runs exactly once per local day, never twice, never skipped.
#include "calendar/local_time.hpp"
#include "jobs/schedule.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <set>

using namespace std::chrono;
using convene::calendar::Instant;
using convene::jobs::daily_at;
using convene::jobs::next_run_after;
using convene::jobs::Schedule;
using convene::jobs::yearly_at;

namespace {

Instant utc(int y, unsigned mo, unsigned d, int h, int mi) {
  return Instant{sys_days{year{y} / mo / d}.time_since_epoch() + hours(h) + minutes(mi)};
}

// Every run in [from, to).
std::vector<Instant> runs(const Schedule& s, Instant from, Instant to) {
  std::vector<Instant> out;
  Instant t = from - microseconds(1);
  while (auto next = next_run_after(s, t)) {
    if (*next >= to) break;
    out.push_back(*next);
    t = *next;
  }
  return out;
}

// A daily schedule over the 10 days around a transition: one run per local date, each at the
// scheduled wall time except on the date where it does not exist.
void expect_one_run_per_local_day(const Schedule& s, Instant from, Instant to, const std::string& zone) {
  const auto all = runs(s, from, to);
  std::set<std::string> dates;
  for (const auto t : all) {
    const auto date = convene::calendar::format_date(convene::calendar::local_date(t, zone));
    EXPECT_TRUE(dates.insert(date).second) << "two runs on " << date << " in " << zone;
  }
  EXPECT_EQ(all.size(), 10u) << zone;
}

}  // namespace

TEST(Schedule, NewYorkSpringForwardGapRunsShiftedByTheGap) {
  const auto s = daily_at(hours(2) + minutes(30), "America/New_York");
  // 2027-03-14 02:30 does not exist (02:00 EST -> 03:00 EDT at 07:00Z): 03:30 EDT, as RFC 5545.
  EXPECT_EQ(next_run_after(s, utc(2027, 3, 13, 8, 0)), utc(2027, 3, 14, 7, 30));
  EXPECT_EQ(next_run_after(s, utc(2027, 3, 12, 8, 0)), utc(2027, 3, 13, 7, 30));  // 02:30 EST
  EXPECT_EQ(next_run_after(s, utc(2027, 3, 14, 7, 30)), utc(2027, 3, 15, 6, 30));  // 02:30 EDT
  expect_one_run_per_local_day(s, utc(2027, 3, 9, 12, 0), utc(2027, 3, 19, 12, 0), "America/New_York");
}

TEST(Schedule, NewYorkFallBackRunsOnceTheFirstTime) {
  const auto s = daily_at(hours(1) + minutes(30), "America/New_York");
  // 2027-11-07 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST): only the first.
  EXPECT_EQ(next_run_after(s, utc(2027, 11, 6, 12, 0)), utc(2027, 11, 7, 5, 30));
  EXPECT_EQ(next_run_after(s, utc(2027, 11, 7, 5, 30)), utc(2027, 11, 8, 6, 30));
  expect_one_run_per_local_day(s, utc(2027, 11, 2, 12, 0), utc(2027, 11, 12, 12, 0), "America/New_York");
}

TEST(Schedule, LondonGapAndOverlap) {
  const auto s = daily_at(hours(1) + minutes(30), "Europe/London");
  EXPECT_EQ(next_run_after(s, utc(2027, 3, 27, 12, 0)), utc(2027, 3, 28, 1, 30));   // gap: 02:30 BST
  EXPECT_EQ(next_run_after(s, utc(2027, 3, 28, 1, 30)), utc(2027, 3, 29, 0, 30));   // 01:30 BST
  EXPECT_EQ(next_run_after(s, utc(2027, 10, 30, 12, 0)), utc(2027, 10, 31, 0, 30)); // first 01:30 (BST)
  EXPECT_EQ(next_run_after(s, utc(2027, 10, 31, 0, 30)), utc(2027, 11, 1, 1, 30));  // not 01:30 GMT the same day
  expect_one_run_per_local_day(s, utc(2027, 3, 23, 12, 0), utc(2027, 4, 2, 12, 0), "Europe/London");
  expect_one_run_per_local_day(s, utc(2027, 10, 26, 12, 0), utc(2027, 11, 5, 12, 0), "Europe/London");
}

TEST(Schedule, LordHoweHalfHourShift) {
  // Lord Howe moves its clocks by 30 minutes: +10:30 standard, +11 summer.
  const auto gap = daily_at(hours(2) + minutes(15), "Australia/Lord_Howe");
  // 2027-10-03 02:15 does not exist (02:00 -> 02:30 at 15:30Z on Oct 2): 02:45 +11.
  EXPECT_EQ(next_run_after(gap, utc(2027, 10, 2, 0, 0)), utc(2027, 10, 2, 15, 45));
  EXPECT_EQ(next_run_after(gap, utc(2027, 10, 2, 15, 45)), utc(2027, 10, 3, 15, 15));  // 02:15 +11
  EXPECT_EQ(next_run_after(gap, utc(2027, 9, 30, 16, 0)), utc(2027, 10, 1, 15, 45));   // 02:15 +10:30
  expect_one_run_per_local_day(gap, utc(2027, 9, 28, 12, 0), utc(2027, 10, 8, 12, 0), "Australia/Lord_Howe");

  const auto overlap = daily_at(hours(1) + minutes(45), "Australia/Lord_Howe");
  // 2027-04-04 01:45 happens at 14:45Z (+11) and 15:15Z (+10:30): only the first.
  EXPECT_EQ(next_run_after(overlap, utc(2027, 4, 3, 0, 0)), utc(2027, 4, 3, 14, 45));
  EXPECT_EQ(next_run_after(overlap, utc(2027, 4, 3, 14, 45)), utc(2027, 4, 4, 15, 15));
  expect_one_run_per_local_day(overlap, utc(2027, 3, 30, 12, 0), utc(2027, 4, 9, 12, 0), "Australia/Lord_Howe");
}

TEST(Schedule, YearlyAtFollowsTheZonesOffsetOfThatDay) {
  // June 1 09:00 in London is 08:00Z (BST); in Sydney 09:00 is 23:00Z the day before (AEST).
  const auto london = yearly_at(6, 1, hours(9), "Europe/London");
  EXPECT_EQ(next_run_after(london, utc(2027, 1, 1, 0, 0)), utc(2027, 6, 1, 8, 0));
  EXPECT_EQ(next_run_after(london, utc(2027, 6, 1, 8, 0)), utc(2028, 6, 1, 8, 0));
  const auto sydney = yearly_at(6, 1, hours(9), "Australia/Sydney");
  EXPECT_EQ(next_run_after(sydney, utc(2027, 1, 1, 0, 0)), utc(2027, 5, 31, 23, 0));
  // January 1 00:00 in New York is 05:00Z.
  EXPECT_EQ(next_run_after(yearly_at(1, 1, minutes(0), "America/New_York"), utc(2026, 11, 28, 12, 0)),
            utc(2027, 1, 1, 5, 0));
}

TEST(Schedule, JsonRoundTripAndMalformedPayloads) {
  const auto s = yearly_at(8, 1, hours(9), "Europe/London");
  const auto back = convene::jobs::schedule_from_json(boost::json::value(convene::jobs::to_json(s)));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(convene::jobs::schedule_from_json(boost::json::value(42)));
  EXPECT_FALSE(convene::jobs::schedule_from_json(boost::json::object{{"rrule", "FREQ=DAILY"}, {"zone", "UTC"}}));
  EXPECT_FALSE(convene::jobs::schedule_from_json(
      boost::json::object{{"rrule", "FREQ=DAILY"}, {"start", "yesterday"}, {"zone", "UTC"}}));
}
