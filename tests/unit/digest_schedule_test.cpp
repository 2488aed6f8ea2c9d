// When digests fall (DESIGN §3, §4): one daily digest per local day at the member's hour,
// across DST changes (New York, London, Lord Howe's half-hour shift) and at the edges of the
// date line (Kiritimati UTC+14, Pago Pago UTC-11); weekly ones on the chosen weekday; missed
// periods coalesce; a changed hour or zone neither sends twice on a day nor skips one.
#include "calendar/local_time.hpp"
#include "jobs/digest_schedule.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace std::chrono;
using convene::calendar::Instant;
using namespace convene::jobs;

namespace {

Instant utc(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  return Instant{sys_days{year{y} / mo / d}.time_since_epoch() + hours(h) + minutes(mi)};
}

std::string local(Instant t, const std::string& zone) {
  return convene::calendar::format_local_datetime(convene::calendar::to_local(t, zone));
}

// Runs a member's digests as the sweep would (each sent at its instant) over [from, to): the
// instants, checked to be one per local date.
std::vector<Instant> daily_over(const DigestPreferences& p, Instant from, Instant to) {
  const auto all = upcoming_digest_instants(Cadence::daily, p, DigestState{from, std::nullopt}, from, to);
  std::set<std::string> dates;
  for (const auto t : all)
    EXPECT_TRUE(dates.insert(period_label(Cadence::daily, p.zone, t)).second) << "two digests on " << local(t, p.zone);
  EXPECT_EQ(all, digest_instants_between(Cadence::daily, p, from, to)) << "the state-following walk and the plain schedule differ";
  return all;
}

void expect_local_hour_each_day(const std::vector<Instant>& all, const std::string& zone, const std::string& clock,
                                std::size_t days_expected, const std::string& except_date = "", const std::string& that_day = "") {
  EXPECT_EQ(all.size(), days_expected) << zone;
  for (const auto t : all) {
    const auto l = local(t, zone);
    if (!except_date.empty() && l.starts_with(except_date))
      EXPECT_EQ(l.substr(11), that_day) << zone;
    else
      EXPECT_EQ(l.substr(11), clock) << zone << " " << l;
  }
}

}  // namespace

TEST(DigestSchedule, NewYorkAcrossBothChanges) {
  // 02:00 does not exist on 2027-03-14: the digest goes an hour later (02:00 EST is 03:00 EDT, 07:00Z).
  const DigestPreferences p{"America/New_York", 2, 1};
  const auto spring = daily_over(p, utc(2027, 3, 10, 12), utc(2027, 3, 20, 12));
  expect_local_hour_each_day(spring, p.zone, "02:00:00", 10, "2027-03-14", "03:00:00");
  EXPECT_EQ(std::count(spring.begin(), spring.end(), utc(2027, 3, 14, 7)), 1);
  // 01:00 happens twice on 2027-11-07: once, the first time (EDT, 05:00Z).
  const DigestPreferences q{"America/New_York", 1, 1};
  const auto fall = daily_over(q, utc(2027, 11, 3, 12), utc(2027, 11, 13, 12));
  expect_local_hour_each_day(fall, q.zone, "01:00:00", 10);
  EXPECT_EQ(std::count(fall.begin(), fall.end(), utc(2027, 11, 7, 5)), 1);
  EXPECT_EQ(std::count(fall.begin(), fall.end(), utc(2027, 11, 7, 6)), 0);
}

TEST(DigestSchedule, LondonAcrossBothChanges) {
  const DigestPreferences p{"Europe/London", 1, 1};  // 01:00 is in the gap on 2027-03-28
  expect_local_hour_each_day(daily_over(p, utc(2027, 3, 24, 12), utc(2027, 4, 3, 12)), p.zone, "01:00:00", 10, "2027-03-28",
                             "02:00:00");
  const DigestPreferences q{"Europe/London", 7, 1};
  const auto fall = daily_over(q, utc(2027, 10, 27, 12), utc(2027, 11, 6, 12));
  expect_local_hour_each_day(fall, q.zone, "07:00:00", 10);
  EXPECT_EQ(std::count(fall.begin(), fall.end(), utc(2027, 10, 31, 7)), 1);  // GMT again
}

TEST(DigestSchedule, LordHoweHalfHourShift) {
  // Lord Howe moves by 30 minutes: 02:00 -> 02:30 on 2027-10-03 (+10:30 -> +11), and 02:00 ->
  // 01:30 on 2027-04-04. A 02:00 digest runs at the transition in spring and once in autumn.
  const DigestPreferences p{"Australia/Lord_Howe", 2, 1};
  expect_local_hour_each_day(daily_over(p, utc(2027, 9, 28, 0), utc(2027, 10, 8, 0)), p.zone, "02:00:00", 10, "2027-10-03",
                             "02:30:00");
  const DigestPreferences q{"Australia/Lord_Howe", 1, 1};  // 01:30-02:00 happens twice on 2027-04-04
  expect_local_hour_each_day(daily_over(q, utc(2027, 3, 30, 0), utc(2027, 4, 9, 0)), q.zone, "01:00:00", 10);
}

TEST(DigestSchedule, DateLineEdges) {
  // Kiritimati (UTC+14): 07:00 local is 17:00Z the day before.
  const DigestPreferences k{"Pacific/Kiritimati", 7, 1};
  const auto kiritimati = daily_over(k, utc(2027, 6, 1, 0), utc(2027, 6, 8, 0));
  expect_local_hour_each_day(kiritimati, k.zone, "07:00:00", 7);
  EXPECT_EQ(kiritimati.front(), utc(2027, 6, 1, 17));
  EXPECT_EQ(period_label(Cadence::daily, k.zone, kiritimati.front()), "2027-06-02");
  // Pago Pago (UTC-11): 07:00 local is 18:00Z the same day.
  const DigestPreferences s{"Pacific/Pago_Pago", 7, 1};
  const auto pago = daily_over(s, utc(2027, 6, 1, 0), utc(2027, 6, 8, 0));
  expect_local_hour_each_day(pago, s.zone, "07:00:00", 7);
  EXPECT_EQ(pago.front(), utc(2027, 6, 1, 18));
  EXPECT_EQ(period_label(Cadence::daily, s.zone, pago.front()), "2027-06-01");
}

TEST(DigestSchedule, WeeklyOnTheChosenWeekday) {
  const DigestPreferences p{"Europe/London", 8, 3};  // Wednesdays 08:00
  const auto all = upcoming_digest_instants(Cadence::weekly, p, DigestState{utc(2027, 3, 1, 0), std::nullopt},
                                            utc(2027, 3, 1, 0), utc(2027, 4, 12, 0));
  ASSERT_EQ(all.size(), 6u);
  for (const auto t : all) {
    const auto d = convene::calendar::local_date(t, p.zone);
    EXPECT_EQ(weekday{sys_days{d}}, Wednesday);
    EXPECT_EQ(local(t, p.zone).substr(11), "08:00:00");
  }
  EXPECT_EQ(all[0], utc(2027, 3, 3, 8));
  EXPECT_EQ(all[4], utc(2027, 3, 31, 7));  // BST from 28 March
  EXPECT_EQ(period_label(Cadence::weekly, p.zone, all[0]), "2027-W09");
  // ISO weeks at a year's edge: Friday 1 January 2027 belongs to 2026-W53.
  EXPECT_EQ(period_label(Cadence::weekly, "UTC", utc(2027, 1, 1, 12)), "2026-W53");
  EXPECT_EQ(period_label(Cadence::weekly, "UTC", utc(2027, 1, 4, 12)), "2027-W01");
  EXPECT_THROW(digest_schedule(Cadence::weekly, DigestPreferences{"UTC", 7, 8}), std::invalid_argument);
}

TEST(DigestSchedule, MissedPeriodsCoalesceIntoOne) {
  const DigestPreferences p{"America/New_York", 7, 1};
  const DigestState state = after_digest(utc(2027, 5, 3, 11));  // Monday's 07:00 EDT digest
  // Down from Monday noon to Thursday 09:00 local: Tuesday, Wednesday and Thursday are owed.
  const auto due = due_digest(Cadence::daily, p, state, utc(2027, 5, 6, 13));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->periods_covered, 3);
  EXPECT_EQ(due->period_end, utc(2027, 5, 6, 11));
  EXPECT_EQ(due->covered_from, utc(2027, 5, 3, 11));
  // Then the next is Friday, once.
  EXPECT_EQ(next_digest_due(Cadence::daily, p, after_digest(due->period_end)), utc(2027, 5, 7, 11));
  EXPECT_FALSE(due_digest(Cadence::daily, p, after_digest(due->period_end), utc(2027, 5, 7, 10, 59)));
  // A very long outage still makes one digest, closing at the latest owed instant.
  const auto year_later = due_digest(Cadence::daily, p, state, utc(2028, 5, 6, 13));
  ASSERT_TRUE(year_later);
  EXPECT_EQ(year_later->period_end, utc(2028, 5, 6, 11));
  EXPECT_GT(year_later->periods_covered, 360);
}

TEST(DigestSchedule, ALaterHourTheSameDayWaitsForTomorrow) {
  // Today's 07:00 digest went; the member moves to 09:00 at 08:00: no second digest today.
  const DigestPreferences later{"Europe/London", 9, 1};
  const auto state = after_digest(utc(2027, 6, 10, 6));  // 07:00 BST
  EXPECT_EQ(next_digest_due(Cadence::daily, later, state), utc(2027, 6, 11, 8));
}

TEST(DigestSchedule, AnEarlierHourBeforeTodaysDigestIsNotSkipped) {
  // Yesterday's 07:00 went; at 06:30 the member moves to 06:00: today's is owed at once.
  const DigestPreferences earlier{"Europe/London", 6, 1};
  const auto state = after_digest(utc(2027, 6, 9, 6));
  EXPECT_EQ(next_digest_due(Cadence::daily, earlier, state), utc(2027, 6, 10, 5));
  const auto due = due_digest(Cadence::daily, earlier, state, utc(2027, 6, 10, 5, 30));
  ASSERT_TRUE(due);
  EXPECT_EQ(due->periods_covered, 1);
}

TEST(DigestSchedule, MovingAcrossTheDateLineNeitherDoublesNorSkips) {
  // The 07:00 Kiritimati digest of 15 March went at 17:00Z on the 14th (06:00 on the 14th in
  // Pago Pago). Moving to Pago Pago: its next is 07:00 on the 15th there, 25 hours later (the
  // 14th had one), not 07:00 on the 14th, an hour later.
  const auto sent = utc(2027, 3, 14, 17);
  const DigestPreferences pago{"Pacific/Pago_Pago", 7, 1};
  EXPECT_EQ(next_digest_due(Cadence::daily, pago, after_digest(sent)), utc(2027, 3, 15, 18));
  // The other way: Pago Pago's 07:00 of the 14th (18:00Z) is 08:00 on the 15th in Kiritimati:
  // the next is 07:00 on the 16th there (17:00Z on the 15th), 23 hours later.
  const DigestPreferences kiritimati{"Pacific/Kiritimati", 7, 1};
  EXPECT_EQ(next_digest_due(Cadence::daily, kiritimati, after_digest(utc(2027, 3, 14, 18))), utc(2027, 3, 15, 17));
}

TEST(DigestSchedule, TheFirstDigestAfterChoosingDailyIsThatDay) {
  // Joined at 06:00 with a 07:00 digest hour: the first digest is an hour later, not tomorrow.
  const DigestPreferences p{"UTC", 7, 1};
  EXPECT_EQ(next_digest_due(Cadence::daily, p, DigestState{utc(2027, 6, 10, 6), std::nullopt}), utc(2027, 6, 10, 7));
  EXPECT_EQ(next_digest_due(Cadence::daily, p, DigestState{utc(2027, 6, 10, 8), std::nullopt}), utc(2027, 6, 11, 7));
}

TEST(DigestSchedule, UpcomingListsAnOwedDigestAtTheStart) {
  const DigestPreferences p{"UTC", 7, 1};
  const auto all = upcoming_digest_instants(Cadence::daily, p, after_digest(utc(2027, 6, 1, 7)), utc(2027, 6, 4, 12),
                                            utc(2027, 6, 6, 12));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], utc(2027, 6, 4, 12));  // the three owed days, coalesced, at once
  EXPECT_EQ(all[1], utc(2027, 6, 5, 7));
  EXPECT_EQ(all[2], utc(2027, 6, 6, 7));
}
