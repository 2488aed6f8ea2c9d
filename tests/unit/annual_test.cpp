// The annual-meeting window and the non-overlapping plan (DESIGN §2).
#include "calendar/annual.hpp"

#include <gtest/gtest.h>

#include <numeric>

using namespace std::chrono;
using namespace std::chrono_literals;
namespace cal = convene::calendar;
using cal::Instant;
using cal::LocalDateTime;

namespace {

Instant utc(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  return Instant{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

LocalDateTime local(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  return LocalDateTime{local_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

std::vector<std::int64_t> ids(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

cal::PlanRequest london_2027() {
  cal::PlanRequest r;
  r.year = 2027;
  r.zone = "Europe/London";
  return r;
}

// Every slot: inside the window's days (local), inside the day's hours (local), a weekday
// when asked, the requested length; and no two closer than the gap.
void expect_sound_plan(const cal::PlanResult& plan, const cal::PlanRequest& r) {
  const cal::DateWindow w = cal::annual_window(r.year, r.window);
  for (const auto& s : plan.slots) {
    const local_days day = floor<days>(s.local_start);
    const year_month_day date{day};
    EXPECT_TRUE(cal::in_window(date, w)) << cal::format_local_datetime(s.local_start);
    if (r.weekdays_only) {
      EXPECT_NE(weekday{day}, Saturday);
      EXPECT_NE(weekday{day}, Sunday);
    }
    EXPECT_GE(s.local_start, day + r.day_start);
    EXPECT_LE(s.local_end, day + r.day_end);
    EXPECT_EQ(s.end - s.start, r.duration);
    EXPECT_EQ(s.local_end - s.local_start, r.duration);
    EXPECT_EQ(cal::to_instant(s.local_start, r.zone), s.start);
  }
  for (std::size_t i = 0; i < plan.slots.size(); ++i)
    for (std::size_t j = i + 1; j < plan.slots.size(); ++j) {
      const auto& a = plan.slots[i];
      const auto& b = plan.slots[j];
      EXPECT_TRUE(a.end + r.gap <= b.start || b.end + r.gap <= a.start)
          << cal::format_local_datetime(a.local_start) << " vs " << cal::format_local_datetime(b.local_start);
    }
}

}  // namespace

TEST(AnnualWindow, IsJulyEighthToFourteenthEveryYear) {
  for (int y = 2026; y <= 2035; ++y) {
    const cal::DateWindow w = cal::annual_window(y);
    EXPECT_EQ(w.first, year{y} / July / 8) << y;
    EXPECT_EQ(w.last, year{y} / July / 14) << y;
    EXPECT_EQ(cal::exclusive_end(w), year{y} / July / 15) << y;  // the all-day placeholder's DTEND
    // The definition: the second Monday, ..., second Sunday of July all fall in it.
    for (unsigned wd = 0; wd < 7; ++wd) {
      const year_month_day second{sys_days{year{y} / July / weekday{wd}[2]}};
      EXPECT_TRUE(cal::in_window(second, w)) << y << " " << wd;
    }
    EXPECT_FALSE(cal::in_window(year{y} / July / 7, w));
    EXPECT_FALSE(cal::in_window(year{y} / July / 15, w));
    EXPECT_TRUE(cal::in_window(year{y} / July / 8, w));
    EXPECT_TRUE(cal::in_window(year{y} / July / 14, w));
  }
}

TEST(AnnualWindow, RuleIsConfigurable) {
  const cal::DateWindow w = cal::annual_window(2027, cal::AnnualWindowRule{6, 28, 5});
  EXPECT_EQ(w.first, 2027y / June / 28);
  EXPECT_EQ(w.last, 2027y / July / 2);
  EXPECT_THROW(cal::annual_window(2027, cal::AnnualWindowRule{13, 1, 7}), std::invalid_argument);
  EXPECT_THROW(cal::annual_window(2027, cal::AnnualWindowRule{6, 31, 7}), std::invalid_argument);
  EXPECT_THROW(cal::annual_window(2027, cal::AnnualWindowRule{2, 29, 7}), std::invalid_argument);
  EXPECT_THROW(cal::annual_window(2027, cal::AnnualWindowRule{7, 8, 0}), std::invalid_argument);
  EXPECT_NO_THROW(cal::annual_window(2028, cal::AnnualWindowRule{2, 29, 7}));
}

TEST(AnnualPlan, FortyCommunitiesDoNotFitInSixSlotsADay) {
  const auto r = london_2027();  // 09:00-17:00, 60 min + 15 min gap: 6 slots a weekday, 5 weekdays
  const auto all = ids(40);
  const auto plan = cal::plan_annual_meetings(r, all, {}, {});
  ASSERT_EQ(plan.slots.size(), 30u);
  EXPECT_EQ(plan.unplaced, std::vector<std::int64_t>(all.begin() + 30, all.end()));
  for (std::size_t i = 0; i < plan.slots.size(); ++i) {
    EXPECT_EQ(plan.slots[i].community_id, all[i]);
    EXPECT_EQ(plan.slots[i].room_id, std::nullopt);
  }
  EXPECT_EQ(plan.slots[0].local_start, local(2027, 7, 8, 9));
  EXPECT_EQ(plan.slots[0].start, utc(2027, 7, 8, 8));  // BST
  EXPECT_EQ(plan.slots[1].local_start, local(2027, 7, 8, 10, 15));
  EXPECT_EQ(plan.slots[5].local_start, local(2027, 7, 8, 15, 15));
  EXPECT_EQ(plan.slots[5].local_end, local(2027, 7, 8, 16, 15));
  EXPECT_EQ(plan.slots[12].local_start, local(2027, 7, 12, 9));  // Saturday 10th and Sunday 11th skipped
  expect_sound_plan(plan, r);
  // Deterministic.
  const auto again = cal::plan_annual_meetings(r, all, {}, {});
  ASSERT_EQ(again.slots.size(), plan.slots.size());
  for (std::size_t i = 0; i < plan.slots.size(); ++i) EXPECT_EQ(again.slots[i].start, plan.slots[i].start);
}

TEST(AnnualPlan, FortyCommunitiesFitWithLongerDaysAndShorterMeetings) {
  auto r = london_2027();
  r.day_end = 18h;
  r.duration = 45min;
  r.gap = 15min;
  const auto plan = cal::plan_annual_meetings(r, ids(40), {}, {});
  EXPECT_EQ(plan.slots.size(), 40u);
  EXPECT_TRUE(plan.unplaced.empty());
  expect_sound_plan(plan, r);
  EXPECT_EQ(plan.slots[8].local_start, local(2027, 7, 8, 17));  // 9 a day: 09:00 .. 17:00-17:45
  EXPECT_EQ(plan.slots[9].local_start, local(2027, 7, 9, 9));
}

TEST(AnnualPlan, WeekendsWhenAllowed) {
  auto r = london_2027();
  r.weekdays_only = false;
  const auto plan = cal::plan_annual_meetings(r, ids(40), {}, {});
  EXPECT_EQ(plan.slots.size(), 40u);
  EXPECT_EQ(plan.slots[12].local_start, local(2027, 7, 10, 9));  // Saturday
  expect_sound_plan(plan, r);
}

TEST(AnnualPlan, AvoidsTakenIntervalsWithTheGap) {
  const auto r = london_2027();
  const std::vector<cal::Interval> taken = {{utc(2027, 7, 8, 8), utc(2027, 7, 8, 9)},             // 09:00-10:00 BST
                                            {utc(2027, 7, 8, 11, 30), utc(2027, 7, 8, 11, 40)}};  // 12:30-12:40
  const auto plan = cal::plan_annual_meetings(r, ids(3), taken, {});
  ASSERT_EQ(plan.slots.size(), 3u);
  EXPECT_EQ(plan.slots[0].local_start, local(2027, 7, 8, 10, 15));  // exactly the gap after 10:00
  EXPECT_EQ(plan.slots[1].local_start,
            local(2027, 7, 8, 14, 0));  // 11:30 would end 12:30, no gap; 12:45 starts 5 min after 12:40
  EXPECT_EQ(plan.slots[2].local_start, local(2027, 7, 8, 15, 15));
  for (const auto& s : plan.slots)
    for (const auto& t : taken) EXPECT_TRUE(s.end + r.gap <= t.start || t.end + r.gap <= s.start);
}

TEST(AnnualPlan, BusyRoomMeansTheNextRoomOrTheNextSlot) {
  const auto r = london_2027();
  const cal::Interval first_slot{utc(2027, 7, 8, 8), utc(2027, 7, 8, 9)};
  // Room 7 busy at 09:00: room 9 takes the first slot.
  auto plan = cal::plan_annual_meetings(r, ids(2), {}, {{7, {first_slot}}, {9, {}}});
  ASSERT_EQ(plan.slots.size(), 2u);
  EXPECT_EQ(plan.slots[0].local_start, local(2027, 7, 8, 9));
  EXPECT_EQ(plan.slots[0].room_id, 9);
  EXPECT_EQ(plan.slots[1].local_start, local(2027, 7, 8, 10, 15));
  EXPECT_EQ(plan.slots[1].room_id, 7);  // first free room in the given order
  // The only room busy at 09:30-09:45: the next slot.
  plan = cal::plan_annual_meetings(r, ids(1), {}, {{7, {{utc(2027, 7, 8, 8, 30), utc(2027, 7, 8, 8, 45)}}}});
  ASSERT_EQ(plan.slots.size(), 1u);
  EXPECT_EQ(plan.slots[0].local_start, local(2027, 7, 8, 10, 15));
  EXPECT_EQ(plan.slots[0].room_id, 7);
  // A room booking ending exactly at the slot's start does not block it (no gap for rooms).
  plan = cal::plan_annual_meetings(r, ids(1), {}, {{7, {{utc(2027, 7, 8, 7), utc(2027, 7, 8, 8)}}}});
  ASSERT_EQ(plan.slots.size(), 1u);
  EXPECT_EQ(plan.slots[0].local_start, local(2027, 7, 8, 9));
}

TEST(AnnualPlan, RoomBusyAllWeekLeavesEveryoneUnplaced) {
  const auto r = london_2027();
  const auto all = ids(5);
  const auto plan = cal::plan_annual_meetings(r, all, {}, {{3, {{utc(2027, 7, 1, 0), utc(2027, 7, 20, 0)}}}});
  EXPECT_TRUE(plan.slots.empty());
  EXPECT_EQ(plan.unplaced, all);
}

TEST(AnnualPlan, UsesTheOrganisationZone) {
  auto r = london_2027();
  r.zone = "America/New_York";
  const auto plan = cal::plan_annual_meetings(r, ids(1), {}, {});
  ASSERT_EQ(plan.slots.size(), 1u);
  EXPECT_EQ(plan.slots[0].start, utc(2027, 7, 8, 13));  // 09:00 EDT
  r.zone = "Australia/Lord_Howe";
  const auto lh = cal::plan_annual_meetings(r, ids(1), {}, {});
  ASSERT_EQ(lh.slots.size(), 1u);
  EXPECT_EQ(lh.slots[0].start, utc(2027, 7, 7, 22, 30));  // 09:00 +10:30
}

TEST(AnnualPlan, RejectsMalformedRequests) {
  auto r = london_2027();
  r.duration = 0min;
  EXPECT_THROW(cal::plan_annual_meetings(r, ids(1), {}, {}), std::invalid_argument);
  r = london_2027();
  r.gap = -1min;
  EXPECT_THROW(cal::plan_annual_meetings(r, ids(1), {}, {}), std::invalid_argument);
  r = london_2027();
  r.day_start = 18h;
  EXPECT_THROW(cal::plan_annual_meetings(r, ids(1), {}, {}), std::invalid_argument);
  r = london_2027();
  r.day_end = 25h;
  EXPECT_THROW(cal::plan_annual_meetings(r, ids(1), {}, {}), std::invalid_argument);
  r = london_2027();
  r.zone = "Mars/Olympus";
  EXPECT_THROW(cal::plan_annual_meetings(r, ids(1), {}, {}), cal::UnknownZone);
  r = london_2027();
  EXPECT_TRUE(cal::plan_annual_meetings(r, {}, {}, {}).slots.empty());
}
