// RRULE validation and expansion in a zone (DESIGN §2-3).
#include "calendar/recurrence.hpp"

#include <gtest/gtest.h>

using namespace std::chrono;
using namespace std::chrono_literals;
namespace cal = convene::calendar;
using cal::Instant;
using cal::LocalDateTime;
using cal::Series;

namespace {

LocalDateTime local(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  return LocalDateTime{local_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

Instant utc(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  return Instant{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

Series weekly_ny() {
  // Mondays at 10:00 in New York from 2027-03-01, one hour.
  return Series{local(2027, 3, 1, 10), 1h, "America/New_York", "FREQ=WEEKLY;BYDAY=MO", {}};
}

std::vector<LocalDateTime> local_starts(const cal::Expansion& e) {
  std::vector<LocalDateTime> out;
  for (const auto& o : e.occurrences) out.push_back(o.local_start);
  return out;
}

}  // namespace

TEST(RrulePolicy, AcceptsMeetingLikeRules) {
  for (const char* rule :
       {"FREQ=WEEKLY;BYDAY=MO", "FREQ=MONTHLY;BYDAY=2TU;COUNT=10", "FREQ=DAILY;UNTIL=20270101T000000Z",
        "FREQ=DAILY;UNTIL=20270101", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;WKST=SU",
        "FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=MONTHLY;BYDAY=-1FR", "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "FREQ=YEARLY;BYYEARDAY=100",
        "FREQ=DAILY;BYHOUR=9,14;BYMINUTE=0,30", "FREQ=WEEKLY;INTERVAL=1000", "freq=weekly;byday=mo",
        "FREQ=DAILY;COUNT=100000"})
    EXPECT_EQ(cal::rrule_problem(rule), std::nullopt) << rule;
}

TEST(RrulePolicy, RefusesInvalidRulesWithAMessage) {
  for (const char* rule : {"",
                           "FREQ=SECONDLY",
                           "FREQ=MINUTELY",
                           "FREQ=HOURLY",
                           "FREQ=WEEKLY;COUNT=3;UNTIL=20270101T000000Z",
                           "FREQ=WEEKLY;FOO=1",
                           "FREQ=WEEKLY;X-NAME=1",
                           "FREQ=WEEKLY;RSCALE=GREGORIAN",
                           "FREQ=WEEKLY\r\nBEGIN:VEVENT",
                           "FREQ=WEEKLY\n",
                           "FREQ=WEEKLY\t",
                           "FREQ=WEEKLY;INTERVAL=0",
                           "FREQ=WEEKLY;INTERVAL=1001",
                           "FREQ=WEEKLY;INTERVAL=-1",
                           "FREQ=WEEKLY;INTERVAL=abc",
                           "garbage",
                           "FREQ",
                           "FREQ=",
                           "=WEEKLY",
                           "BYDAY=MO",
                           "FREQ=FORTNIGHTLY",
                           "FREQ=WEEKLY;FREQ=DAILY",
                           "FREQ=WEEKLY;;BYDAY=MO",
                           "FREQ=WEEKLY;",
                           ";FREQ=WEEKLY",
                           "RRULE:FREQ=WEEKLY",
                           "FREQ=WEEKLY;BYDAY=XX",
                           "FREQ=WEEKLY;BYDAY=MO,",
                           "FREQ=WEEKLY;BYMONTH=13",
                           "FREQ=DAILY;BYHOUR=24",
                           "FREQ=WEEKLY;WKST=XX",
                           "FREQ=WEEKLY;UNTIL=garbage",
                           "FREQ=WEEKLY;UNTIL=20270101T000000",
                           "FREQ=WEEKLY;UNTIL=2027-01-01",
                           "FREQ=DAILY;COUNT=0",
                           "FREQ=DAILY;COUNT=-1",
                           "FREQ=DAILY;COUNT=100001",
                           "FREQ=WEEKLY;BYDAY=2TU",
                           "FREQ=MONTHLY;BYWEEKNO=3",
                           "FREQ=MONTHLY;BYYEARDAY=3",
                           "FREQ=WEEKLY;BYMONTHDAY=1",
                           "FREQ=MONTHLY;BYSETPOS=1",
                           "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                           "FREQ=WEEKLY BYDAY=MO",
                           "FREQ=WEEKLY;BYDAY=MO é"}) {
    const auto problem = cal::rrule_problem(rule);
    ASSERT_TRUE(problem.has_value()) << rule;
    EXPECT_FALSE(problem->empty()) << rule;
  }
  EXPECT_TRUE(cal::rrule_problem("FREQ=WEEKLY;BYDAY=" + std::string(490, 'M')).has_value());  // > 500 characters
  EXPECT_NE(cal::rrule_problem("FREQ=SECONDLY")->find("SECONDLY"), std::string::npos);
  EXPECT_NE(cal::rrule_problem("FREQ=WEEKLY;FOO=1")->find("FOO"), std::string::npos);
}

TEST(Expand, WeeklyMeetingKeepsItsLocalTimeAcrossDst) {
  const auto e = cal::expand(weekly_ny(), utc(2027, 3, 1, 0), utc(2027, 4, 1, 0), 100);
  EXPECT_FALSE(e.truncated);
  ASSERT_EQ(e.occurrences.size(), 5u);
  const std::vector<Instant> starts = {utc(2027, 3, 1, 15), utc(2027, 3, 8, 15), utc(2027, 3, 15, 14),
                                       utc(2027, 3, 22, 14), utc(2027, 3, 29, 14)};
  for (std::size_t i = 0; i < 5; ++i) {
    const auto& o = e.occurrences[i];
    EXPECT_EQ(o.local_start, local(2027, 3, 1 + 7 * unsigned(i), 10));
    EXPECT_EQ(o.start, starts[i]) << i;
    EXPECT_EQ(o.end, starts[i] + 1h);
  }
}

TEST(Expand, ExdateRemovesExactlyOneOccurrence) {
  Series s = weekly_ny();
  s.exdates = {local(2027, 3, 15, 10)};
  const auto e = cal::expand(s, utc(2027, 3, 1, 0), utc(2027, 4, 1, 0), 100);
  EXPECT_EQ(local_starts(e), (std::vector<LocalDateTime>{local(2027, 3, 1, 10), local(2027, 3, 8, 10),
                                                         local(2027, 3, 22, 10), local(2027, 3, 29, 10)}));
  s.exdates = {local(2027, 3, 15, 11)};  // no occurrence starts then: nothing removed
  EXPECT_EQ(cal::expand(s, utc(2027, 3, 1, 0), utc(2027, 4, 1, 0), 100).occurrences.size(), 5u);
}

TEST(Expand, LimitTruncates) {
  const Series s = weekly_ny();
  auto e = cal::expand(s, utc(2027, 3, 1, 0), utc(2027, 4, 1, 0), 2);
  EXPECT_EQ(e.occurrences.size(), 2u);
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(e.occurrences[1].local_start, local(2027, 3, 8, 10));
  e = cal::expand(s, utc(2027, 3, 1, 0), utc(2027, 4, 1, 0), 5);
  EXPECT_EQ(e.occurrences.size(), 5u);
  EXPECT_FALSE(e.truncated);
  e = cal::expand(s, utc(2027, 3, 1, 0), utc(2027, 4, 1, 0), 0);
  EXPECT_TRUE(e.occurrences.empty());
  EXPECT_TRUE(e.truncated);
  e = cal::expand(s, utc(2027, 4, 1, 0), utc(2027, 4, 1, 0), 10);  // empty range
  EXPECT_TRUE(e.occurrences.empty());
  EXPECT_FALSE(e.truncated);
}

TEST(Expand, RangeBoundsAreHalfOpenOnOccurrenceIntervals) {
  const Series s = weekly_ny();
  // [15:00, 16:00) on March 1: a range starting at its end misses it, one inside it finds it.
  EXPECT_EQ(cal::expand(s, utc(2027, 3, 1, 16), utc(2027, 3, 8, 15), 10).occurrences.size(), 0u);
  EXPECT_EQ(cal::expand(s, utc(2027, 3, 1, 15, 59), utc(2027, 3, 1, 17), 10).occurrences.size(), 1u);
  EXPECT_EQ(cal::expand(s, utc(2027, 3, 1, 16), utc(2027, 3, 8, 15, 1), 10).occurrences.size(), 1u);
}

TEST(Expand, CountIsHonouredAndCountsCancelledOccurrences) {
  Series s = weekly_ny();
  s.rrule = "FREQ=WEEKLY;BYDAY=MO;COUNT=3";
  EXPECT_EQ(local_starts(cal::expand(s, utc(2027, 1, 1, 0), utc(2028, 1, 1, 0), 100)),
            (std::vector<LocalDateTime>{local(2027, 3, 1, 10), local(2027, 3, 8, 10), local(2027, 3, 15, 10)}));
  s.exdates = {local(2027, 3, 8, 10)};
  EXPECT_EQ(local_starts(cal::expand(s, utc(2027, 1, 1, 0), utc(2028, 1, 1, 0), 100)),
            (std::vector<LocalDateTime>{local(2027, 3, 1, 10), local(2027, 3, 15, 10)}));
}

TEST(Expand, SecondTuesdayOfTheMonth) {
  const Series s{local(2027, 1, 12, 18, 30), 90min, "Europe/London", "FREQ=MONTHLY;BYDAY=2TU;COUNT=10", {}};
  const auto e = cal::expand(s, utc(2026, 1, 1, 0), utc(2030, 1, 1, 0), 100);
  ASSERT_EQ(e.occurrences.size(), 10u);
  for (const auto& o : e.occurrences) {
    const year_month_day d{floor<days>(o.local_start)};
    EXPECT_EQ(weekday{local_days{d}}, Tuesday);
    EXPECT_GE(unsigned(d.day()), 8u);
    EXPECT_LE(unsigned(d.day()), 14u);
    EXPECT_EQ(o.local_start - floor<days>(o.local_start), 18h + 30min);
  }
  EXPECT_EQ(e.occurrences.back().local_start, local(2027, 10, 12, 18, 30));
  EXPECT_EQ(e.occurrences[6].start, utc(2027, 7, 13, 17, 30));  // BST
}

TEST(Expand, UntilIsInclusiveAndComparedAsAnInstant) {
  Series s{local(2027, 3, 1, 10), 30min, "America/New_York", "FREQ=DAILY;UNTIL=20270305T150000Z", {}};
  const auto all = [&] { return cal::expand(s, utc(2027, 1, 1, 0), utc(2028, 1, 1, 0), 1000).occurrences; };
  EXPECT_EQ(all().size(), 5u);  // March 5 10:00 EST is 15:00Z: the last one
  s.rrule = "FREQ=DAILY;UNTIL=20270305T145959Z";
  EXPECT_EQ(all().size(), 4u);
  s.rrule = "FREQ=DAILY;UNTIL=20270305";
  EXPECT_EQ(all().size(), 5u);
  // Across DST: March 15 10:00 EDT is 14:00Z, after 13:59:59Z (10:00 read as UTC would not be).
  s.start = local(2027, 3, 10, 10);
  s.rrule = "FREQ=DAILY;UNTIL=20270315T135959Z";
  auto occurrences = all();
  ASSERT_EQ(occurrences.size(), 5u);
  EXPECT_EQ(occurrences.back().start, utc(2027, 3, 14, 14));
  s.rrule = "FREQ=DAILY;UNTIL=20270315T140000Z";
  occurrences = all();
  ASSERT_EQ(occurrences.size(), 6u);
  EXPECT_EQ(occurrences.back().start, utc(2027, 3, 15, 14));
}

TEST(Expand, OneOffExpandsToItselfOnlyWhenItIntersects) {
  const Series s{local(2027, 7, 12, 14), 2h, "Europe/London", std::nullopt, {}};
  auto e = cal::expand(s, utc(2027, 7, 1, 0), utc(2027, 8, 1, 0), 10);
  ASSERT_EQ(e.occurrences.size(), 1u);
  EXPECT_EQ(e.occurrences[0].local_start, local(2027, 7, 12, 14));
  EXPECT_EQ(e.occurrences[0].start, utc(2027, 7, 12, 13));
  EXPECT_EQ(e.occurrences[0].end, utc(2027, 7, 12, 15));
  EXPECT_EQ(cal::expand(s, utc(2027, 7, 12, 14), utc(2027, 7, 12, 14, 1), 10).occurrences.size(), 1u);
  EXPECT_TRUE(cal::expand(s, utc(2027, 7, 12, 15), utc(2027, 8, 1, 0), 10).occurrences.empty());
  EXPECT_TRUE(cal::expand(s, utc(2027, 6, 1, 0), utc(2027, 7, 12, 13), 10).occurrences.empty());
  Series cancelled = s;
  cancelled.exdates = {s.start};
  EXPECT_TRUE(cal::expand(cancelled, utc(2027, 7, 1, 0), utc(2027, 8, 1, 0), 10).occurrences.empty());
  // A zero-length one (a deadline) is a point: found when from <= start < to.
  const Series deadline{local(2027, 7, 12, 14), 0s, "Europe/London", std::nullopt, {}};
  EXPECT_EQ(cal::expand(deadline, utc(2027, 7, 12, 13), utc(2027, 7, 12, 14), 10).occurrences.size(), 1u);
  EXPECT_TRUE(cal::expand(deadline, utc(2027, 7, 12, 12), utc(2027, 7, 12, 13), 10).occurrences.empty());
}

TEST(Expand, OccurrencesInDstGapsAndRepeatsFollowTheDesignRules) {
  const Series s{local(2027, 3, 12, 2, 30), 1h, "America/New_York", "FREQ=DAILY;COUNT=4", {}};
  const auto e = cal::expand(s, utc(2027, 3, 1, 0), utc(2027, 4, 1, 0), 10);
  ASSERT_EQ(e.occurrences.size(), 4u);
  EXPECT_EQ(e.occurrences[2].local_start, local(2027, 3, 14, 2, 30));  // the RECURRENCE-ID keeps 02:30
  EXPECT_EQ(e.occurrences[2].start, utc(2027, 3, 14, 7, 30));          // shifted by the gap: 03:30 EDT
  EXPECT_EQ(e.occurrences[2].end, utc(2027, 3, 14, 8, 30));
  EXPECT_EQ(e.occurrences[3].start, utc(2027, 3, 15, 6, 30));
  const Series fall{local(2027, 11, 6, 1, 30), 1h, "America/New_York", "FREQ=DAILY;COUNT=3", {}};
  const auto f = cal::expand(fall, utc(2027, 11, 1, 0), utc(2027, 12, 1, 0), 10);
  ASSERT_EQ(f.occurrences.size(), 3u);
  EXPECT_EQ(f.occurrences[1].start, utc(2027, 11, 7, 5, 30));  // once, the first 01:30 (EDT)
  EXPECT_EQ(f.occurrences[2].start, utc(2027, 11, 8, 6, 30));
}

// Cancellations are stored by instant; an occurrence in a gap starts at a later wall reading
// than its local time, so to_local would name another occurrence (or none).
TEST(Expand, CancellingAnOccurrenceInAGapByItsInstantCancelsIt) {
  Series s{local(2027, 3, 7, 2, 30), 1h, "America/New_York", "FREQ=DAILY;COUNT=14", {}};
  const Instant in_gap = utc(2027, 3, 14, 7, 30);  // 02:30 on the 14th, shifted to 03:30 EDT
  EXPECT_EQ(cal::to_local(in_gap, s.zone), local(2027, 3, 14, 3, 30));
  const auto locals = cal::local_starts_of(s, {in_gap, utc(2027, 3, 15, 6, 30), utc(2027, 3, 15, 7, 0)});
  ASSERT_EQ(locals.size(), 3u);
  EXPECT_EQ(locals[0], local(2027, 3, 14, 2, 30));
  EXPECT_EQ(locals[1], local(2027, 3, 15, 2, 30));
  EXPECT_EQ(locals[2], std::nullopt);  // no occurrence starts then
  const Series stored = cal::stored_series(s.start, utc(2027, 3, 7, 7, 30), utc(2027, 3, 7, 8, 30), s.zone, s.rrule,
                                           {in_gap});
  EXPECT_EQ(stored.duration, 1h);
  const auto e = cal::expand(stored, utc(2027, 3, 13, 0), utc(2027, 3, 16, 0), 10);
  EXPECT_EQ(local_starts(e), (std::vector<LocalDateTime>{local(2027, 3, 13, 2, 30), local(2027, 3, 15, 2, 30)}));
}

TEST(ScanSeries, FindsTheOccurrencesInGapsAndRepeatsAndTheLastStartBeforeTheEnd) {
  const Series s{local(2027, 1, 2, 1, 30), 1h, "Europe/London", "FREQ=WEEKLY;BYDAY=SU", {local(2028, 3, 26, 1, 30)}};
  const auto scan = cal::scan_series(s, utc(2029, 1, 1, 0));
  std::vector<std::pair<LocalDateTime, cal::LocalTimeKind>> found;
  for (const auto& i : scan.irregular) found.emplace_back(i.occurrence.local_start, i.kind);
  EXPECT_EQ(found, (std::vector<std::pair<LocalDateTime, cal::LocalTimeKind>>{
                       {local(2027, 3, 28, 1, 30), cal::LocalTimeKind::in_gap},
                       {local(2027, 10, 31, 1, 30), cal::LocalTimeKind::repeated},
                       {local(2028, 10, 29, 1, 30), cal::LocalTimeKind::repeated}}));  // 2028-03-26 cancelled
  EXPECT_EQ(scan.irregular[0].occurrence.start, utc(2027, 3, 28, 1, 30));  // 02:30 BST
  EXPECT_EQ(scan.irregular[1].occurrence.start, utc(2027, 10, 31, 0, 30));  // the first 01:30, BST
  EXPECT_EQ(scan.last_start, local(2028, 12, 31, 1, 30));
  EXPECT_EQ(cal::scan_series(s, utc(2027, 1, 1, 0)).last_start, std::nullopt);
}

TEST(ScanSeries, ARuleThatSetsTheTimeOfDayIsWalkedEvenWhenDtstartsTimeIsOrdinary) {
  // DTSTART at 10:00, but the rule's occurrences are at 02:30: the one in the gap is found.
  const Series by_hour{local(2027, 3, 7, 10), 1h, "America/New_York", "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", {}};
  const auto scan = cal::scan_series(by_hour, utc(2028, 1, 1, 0));
  ASSERT_EQ(scan.irregular.size(), 1u);
  EXPECT_EQ(scan.irregular[0].occurrence.local_start, local(2027, 3, 14, 2, 30));
  EXPECT_EQ(scan.irregular[0].occurrence.start, utc(2027, 3, 14, 7, 30));
  // At 10:00 every week without end: nothing irregular, and it reaches the end of the scan.
  const Series plain{local(2027, 3, 7, 10), 1h, "America/New_York", "FREQ=WEEKLY", {}};
  const auto quick = cal::scan_series(plain, utc(2032, 1, 1, 0));
  EXPECT_TRUE(quick.irregular.empty());
  ASSERT_TRUE(quick.last_start);
  EXPECT_GE(*quick.last_start, local(2031, 12, 28, 10));
  // With an end, the last start is the series' own.
  const Series counted{local(2027, 3, 7, 10), 1h, "America/New_York", "FREQ=WEEKLY;COUNT=3", {}};
  EXPECT_EQ(cal::scan_series(counted, utc(2032, 1, 1, 0)).last_start, local(2027, 3, 21, 10));
}

TEST(Expand, DtstartIsTheFirstOccurrenceEvenOffRule) {
  // Monday DTSTART, Tuesday rule (RFC 5545 §3.8.5.3: DTSTART counts as the first occurrence).
  const Series s{local(2027, 3, 1, 10), 1h, "Europe/London", "FREQ=WEEKLY;BYDAY=TU;COUNT=3", {}};
  EXPECT_EQ(local_starts(cal::expand(s, utc(2027, 1, 1, 0), utc(2028, 1, 1, 0), 10)),
            (std::vector<LocalDateTime>{local(2027, 3, 1, 10), local(2027, 3, 2, 10), local(2027, 3, 9, 10)}));
}

TEST(Expand, RuleThatNeverMatchesFromDtstartLeavesDtstartAlone) {
  // Every fourth year from 2027 is never a leap year: no February 29 ever comes.
  const Series s{local(2027, 2, 1, 10), 1h, "UTC", "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29", {}};
  ASSERT_EQ(cal::rrule_problem(*s.rrule), std::nullopt);
  EXPECT_EQ(local_starts(cal::expand(s, utc(2027, 1, 1, 0), utc(2100, 1, 1, 0), 10)),
            (std::vector<LocalDateTime>{local(2027, 2, 1, 10)}));
  Series leap = s;
  leap.start = local(2028, 2, 29, 10);
  EXPECT_EQ(local_starts(cal::expand(leap, utc(2027, 1, 1, 0), utc(2037, 1, 1, 0), 10)),
            (std::vector<LocalDateTime>{local(2028, 2, 29, 10), local(2032, 2, 29, 10), local(2036, 2, 29, 10)}));
}

TEST(Expand, StepGuardStopsRunawayExpansion) {
  const Series s{local(2027, 1, 1, 9), 1h, "UTC", "FREQ=DAILY", {}};
  const auto e = cal::expand(s, utc(2400, 1, 1, 0), utc(2400, 2, 1, 0), 10);  // > 100000 days away
  EXPECT_TRUE(e.occurrences.empty());
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(cal::next_occurrence_after(s, utc(2400, 1, 1, 0)), std::nullopt);
  // Far but within the guard.
  const auto near = cal::expand(s, utc(2100, 1, 1, 0), utc(2100, 1, 3, 0), 10);
  EXPECT_EQ(near.occurrences.size(), 2u);
  EXPECT_FALSE(near.truncated);
}

TEST(Expand, RejectsBadSeries) {
  Series s = weekly_ny();
  s.rrule = "FREQ=SECONDLY";
  EXPECT_THROW(cal::expand(s, utc(2027, 1, 1, 0), utc(2028, 1, 1, 0), 10), std::invalid_argument);
  EXPECT_THROW(cal::next_occurrence_after(s, utc(2027, 1, 1, 0)), std::invalid_argument);
  s = weekly_ny();
  s.zone = "Mars/Olympus";
  EXPECT_THROW(cal::expand(s, utc(2027, 1, 1, 0), utc(2028, 1, 1, 0), 10), cal::UnknownZone);
  EXPECT_THROW(cal::next_occurrence_after(s, utc(2027, 1, 1, 0)), cal::UnknownZone);
  s = weekly_ny();
  s.duration = -1h;
  EXPECT_THROW(cal::expand(s, utc(2027, 1, 1, 0), utc(2028, 1, 1, 0), 10), std::invalid_argument);
}

TEST(NextOccurrence, FindsTheFirstStartAfter) {
  Series s = weekly_ny();
  auto n = cal::next_occurrence_after(s, utc(2027, 1, 1, 0));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->local_start, local(2027, 3, 1, 10));
  n = cal::next_occurrence_after(s, utc(2027, 3, 1, 15));  // strictly after the first start
  ASSERT_TRUE(n);
  EXPECT_EQ(n->local_start, local(2027, 3, 8, 10));
  EXPECT_EQ(n->start, utc(2027, 3, 8, 15));
  EXPECT_EQ(n->end, utc(2027, 3, 8, 16));
  n = cal::next_occurrence_after(s, utc(2027, 3, 10, 0));  // after DST
  ASSERT_TRUE(n);
  EXPECT_EQ(n->start, utc(2027, 3, 15, 14));
  s.exdates = {local(2027, 3, 15, 10)};
  n = cal::next_occurrence_after(s, utc(2027, 3, 10, 0));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->local_start, local(2027, 3, 22, 10));
  s.rrule = "FREQ=WEEKLY;BYDAY=MO;COUNT=2";
  EXPECT_EQ(cal::next_occurrence_after(s, utc(2027, 3, 8, 15)), std::nullopt);
  const Series one_off{local(2027, 7, 12, 14), 1h, "Europe/London", std::nullopt, {}};
  ASSERT_TRUE(cal::next_occurrence_after(one_off, utc(2027, 7, 12, 12, 59)));
  EXPECT_EQ(cal::next_occurrence_after(one_off, utc(2027, 7, 12, 13)), std::nullopt);
}

TEST(NextOccurrence, DailyDigestIsNeitherSkippedNorDoubledAcrossDst) {
  // "Daily at 07:00 in the member's zone" walked with next_occurrence_after across both changes.
  const Series digest{local(2027, 1, 1, 7), 0s, "Europe/London", "FREQ=DAILY", {}};
  Instant t = utc(2027, 1, 1, 0);
  LocalDateTime previous{};
  for (int i = 0; i < 365; ++i) {
    const auto n = cal::next_occurrence_after(digest, t);
    ASSERT_TRUE(n);
    if (i > 0) {
      EXPECT_EQ(n->local_start - previous, days{1});
    }
    EXPECT_EQ(n->local_start - floor<days>(n->local_start), 7h);
    previous = n->local_start;
    t = n->start;
  }
  EXPECT_EQ(previous, local(2027, 12, 31, 7));
}
