// Local date-times, zone conversions with real DST rules (DESIGN §3), ISO 8601 durations.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "calendar/durations.hpp"
#include "calendar/local_time.hpp"

using namespace std::chrono;
using namespace std::chrono_literals;
namespace cal = convene::calendar;
using cal::Instant;
using cal::LocalDateTime;

namespace {

LocalDateTime local(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return LocalDateTime{local_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi} + seconds{s};
}

Instant utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return Instant{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi} + seconds{s};
}

}  // namespace

TEST(LocalTime, ParsesAndFormatsDateTimes) {
  EXPECT_EQ(cal::parse_local_datetime("2027-07-12T14:00"), local(2027, 7, 12, 14, 0));
  EXPECT_EQ(cal::parse_local_datetime("2027-07-12T14:00:00"), local(2027, 7, 12, 14, 0));
  EXPECT_EQ(cal::parse_local_datetime("2027-07-12T23:59:59"), local(2027, 7, 12, 23, 59, 59));
  EXPECT_EQ(cal::parse_local_datetime("2028-02-29T00:00"), local(2028, 2, 29, 0, 0));
  EXPECT_EQ(cal::format_local_datetime(local(2027, 7, 12, 14, 0)), "2027-07-12T14:00:00");
  EXPECT_EQ(cal::format_local_datetime(local(2027, 1, 2, 3, 4, 5)), "2027-01-02T03:04:05");
  for (const char* text :
       {"2027-07-12T14:00:00", "2000-01-01T00:00:00", "2027-12-31T23:59:59", "1999-03-14T02:30:07"}) {
    const auto parsed = cal::parse_local_datetime(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(cal::format_local_datetime(*parsed), text);
  }
}

TEST(LocalTime, RejectsMalformedDateTimes) {
  for (const char* text : {"",
                           "garbage",
                           "2027-02-30T10:00",
                           "2027-02-29T10:00",
                           "2027-13-01T10:00",
                           "2027-00-10T10:00",
                           "2027-07-00T10:00",
                           "2027-07-12T24:00",
                           "2027-07-12T24:00:00",
                           "2027-07-12T14:60",
                           "2027-07-12T14:00:60",
                           "2027-07-12T14:00Z",
                           "2027-07-12T14:00:00Z",
                           "2027-07-12T14:00+02:00",
                           "2027-07-12T14:00:00.000",
                           "2027-07-12 14:00",
                           "2027-07-12t14:00",
                           "2027-07-12",
                           "2027-07-12T14",
                           "2027-07-12T14:0",
                           "27-07-12T14:00",
                           "2027-7-12T14:00",
                           " 2027-07-12T14:00",
                           "2027-07-12T14:00 ",
                           "2027-07-12T-1:00",
                           "2027-07-12T+4:00",
                           "2027/07/12T14:00",
                           "2027-07-12T14:00:0",
                           "２027-07-12T14:00"})
    EXPECT_FALSE(cal::parse_local_datetime(text)) << text;
}

TEST(LocalTime, ParsesAndFormatsDates) {
  EXPECT_EQ(cal::parse_date("2027-07-12"), year{2027} / July / 12);
  EXPECT_EQ(cal::parse_date("2028-02-29"), year{2028} / February / 29);
  EXPECT_EQ(cal::format_date(year{2027} / July / 8), "2027-07-08");
  for (const char* text : {"2027-07-12", "2026-01-01", "2035-12-31"})
    EXPECT_EQ(cal::format_date(*cal::parse_date(text)), text);
  for (const char* text : {"", "garbage", "2027-02-30", "2027-02-29", "2027-13-01", "2027-07-12T00:00", "2027-7-12",
                           "2027-07-1", " 2027-07-12", "2027-07-12 ", "20270712", "2027-07-12Z"})
    EXPECT_FALSE(cal::parse_date(text)) << text;
}

TEST(ZoneRules, NewYorkSpringForwardGapShiftsForwardByTheGap) {
  const std::string ny = "America/New_York";
  // 2027-03-14: 02:00 EST jumps to 03:00 EDT at 07:00Z. A time in the gap is read with the
  // offset before it (RFC 5545 §3.3.5): 02:30 is 02:30 EST, which the clocks show as 03:30 EDT.
  EXPECT_EQ(cal::to_instant(local(2027, 3, 14, 1, 59, 59), ny), utc(2027, 3, 14, 6, 59, 59));
  EXPECT_EQ(cal::to_instant(local(2027, 3, 14, 2, 0), ny), utc(2027, 3, 14, 7, 0));
  EXPECT_EQ(cal::to_instant(local(2027, 3, 14, 2, 30), ny), utc(2027, 3, 14, 7, 30));
  EXPECT_EQ(cal::to_instant(local(2027, 3, 14, 2, 59, 59), ny), utc(2027, 3, 14, 7, 59, 59));
  EXPECT_EQ(cal::to_local(cal::to_instant(local(2027, 3, 14, 2, 30), ny), ny), local(2027, 3, 14, 3, 30));
  EXPECT_EQ(cal::resolve_local(local(2027, 3, 14, 2, 30), ny).kind, cal::LocalTimeKind::in_gap);
  EXPECT_EQ(cal::resolve_local(local(2027, 3, 14, 3, 30), ny).kind, cal::LocalTimeKind::unique);
  EXPECT_EQ(cal::resolve_local(local(2027, 3, 14, 1, 59, 59), ny).kind, cal::LocalTimeKind::unique);
  EXPECT_EQ(cal::to_instant(local(2027, 3, 14, 3, 0), ny), utc(2027, 3, 14, 7, 0));
  EXPECT_EQ(cal::to_instant(local(2027, 3, 14, 3, 30), ny), utc(2027, 3, 14, 7, 30));
  EXPECT_EQ(cal::to_local(utc(2027, 3, 14, 7, 0), ny), local(2027, 3, 14, 3, 0));
  EXPECT_EQ(cal::utc_offset(utc(2027, 3, 14, 6, 59, 59), ny), -5h);
  EXPECT_EQ(cal::utc_offset(utc(2027, 3, 14, 7, 0), ny), -4h);
}

TEST(ZoneRules, NewYorkFallBackTakesTheFirstOfTwo) {
  const std::string ny = "America/New_York";
  // 2027-11-07: 02:00 EDT falls back to 01:00 EST at 06:00Z; 01:00-01:59 happens twice.
  EXPECT_EQ(cal::to_instant(local(2027, 11, 7, 0, 59), ny), utc(2027, 11, 7, 4, 59));
  EXPECT_EQ(cal::to_instant(local(2027, 11, 7, 1, 0), ny), utc(2027, 11, 7, 5, 0));
  EXPECT_EQ(cal::to_instant(local(2027, 11, 7, 1, 30), ny), utc(2027, 11, 7, 5, 30));
  EXPECT_EQ(cal::resolve_local(local(2027, 11, 7, 1, 30), ny).kind, cal::LocalTimeKind::repeated);
  EXPECT_EQ(cal::resolve_local(local(2027, 11, 7, 2, 0), ny).kind, cal::LocalTimeKind::unique);
  EXPECT_EQ(cal::to_instant(local(2027, 11, 7, 1, 59, 59), ny), utc(2027, 11, 7, 5, 59, 59));
  EXPECT_EQ(cal::to_instant(local(2027, 11, 7, 2, 0), ny), utc(2027, 11, 7, 7, 0));
  // Both instants read 01:30 on the wall.
  EXPECT_EQ(cal::to_local(utc(2027, 11, 7, 5, 30), ny), local(2027, 11, 7, 1, 30));
  EXPECT_EQ(cal::to_local(utc(2027, 11, 7, 6, 30), ny), local(2027, 11, 7, 1, 30));
  EXPECT_EQ(cal::utc_offset(utc(2027, 11, 7, 5, 30), ny), -4h);
  EXPECT_EQ(cal::utc_offset(utc(2027, 11, 7, 6, 30), ny), -5h);
  // Ordinary days.
  EXPECT_EQ(cal::to_instant(local(2027, 7, 12, 14, 0), ny), utc(2027, 7, 12, 18, 0));
  EXPECT_EQ(cal::to_instant(local(2027, 1, 12, 14, 0), ny), utc(2027, 1, 12, 19, 0));
}

TEST(ZoneRules, London) {
  const std::string london = "Europe/London";
  // 2027-03-28: 01:00 GMT -> 02:00 BST at 01:00Z. 2027-10-31: 02:00 BST -> 01:00 GMT at 01:00Z.
  EXPECT_EQ(cal::to_instant(local(2027, 3, 28, 0, 59), london), utc(2027, 3, 28, 0, 59));
  EXPECT_EQ(cal::to_instant(local(2027, 3, 28, 1, 30), london), utc(2027, 3, 28, 1, 30));  // gap: 02:30 BST
  EXPECT_EQ(cal::to_instant(local(2027, 3, 28, 2, 0), london), utc(2027, 3, 28, 1, 0));
  EXPECT_EQ(cal::to_instant(local(2027, 10, 31, 1, 30), london), utc(2027, 10, 31, 0, 30));
  EXPECT_EQ(cal::to_instant(local(2027, 10, 31, 2, 0), london), utc(2027, 10, 31, 2, 0));
  EXPECT_EQ(cal::to_instant(local(2027, 7, 12, 9, 0), london), utc(2027, 7, 12, 8, 0));
  EXPECT_EQ(cal::to_instant(local(2027, 12, 12, 9, 0), london), utc(2027, 12, 12, 9, 0));
  EXPECT_EQ(cal::utc_offset(utc(2027, 7, 12, 8, 0), london), 1h);
}

TEST(ZoneRules, LordHoweHalfHourShift) {
  const std::string lh = "Australia/Lord_Howe";
  // From tzdata (zdump -v Australia/Lord_Howe): 2027-04-04 02:00 +11 -> 01:30 +1030 at
  // 2027-04-03T15:00Z; 2027-10-03 02:00 +1030 -> 02:30 +11 at 2027-10-02T15:30Z.
  EXPECT_EQ(cal::to_instant(local(2027, 4, 4, 1, 29), lh), utc(2027, 4, 3, 14, 29));
  EXPECT_EQ(cal::to_instant(local(2027, 4, 4, 1, 30), lh), utc(2027, 4, 3, 14, 30));  // first of two
  EXPECT_EQ(cal::to_instant(local(2027, 4, 4, 1, 45), lh), utc(2027, 4, 3, 14, 45));  // first of two
  EXPECT_EQ(cal::to_instant(local(2027, 4, 4, 2, 0), lh), utc(2027, 4, 3, 15, 30));
  EXPECT_EQ(cal::to_local(utc(2027, 4, 3, 15, 15), lh), local(2027, 4, 4, 1, 45));  // the second 01:45
  EXPECT_EQ(cal::to_instant(local(2027, 10, 3, 1, 59), lh), utc(2027, 10, 2, 15, 29));
  EXPECT_EQ(cal::to_instant(local(2027, 10, 3, 2, 0), lh), utc(2027, 10, 2, 15, 30));   // gap: 02:30 +11
  EXPECT_EQ(cal::to_instant(local(2027, 10, 3, 2, 15), lh), utc(2027, 10, 2, 15, 45));  // gap: 02:45 +11
  EXPECT_EQ(cal::to_instant(local(2027, 10, 3, 2, 30), lh), utc(2027, 10, 2, 15, 30));
  EXPECT_EQ(cal::to_instant(local(2027, 10, 3, 2, 45), lh), utc(2027, 10, 2, 15, 45));
  EXPECT_EQ(cal::utc_offset(utc(2027, 1, 12, 0, 0), lh), 11h);
  EXPECT_EQ(cal::utc_offset(utc(2027, 7, 12, 0, 0), lh), 10h + 30min);
}

TEST(ZoneRules, FarEastAndFarWest) {
  // Pacific/Kiritimati is +14 all year, Pacific/Pago_Pago -11 all year.
  EXPECT_EQ(cal::to_instant(local(2027, 7, 12, 10, 0), "Pacific/Kiritimati"), utc(2027, 7, 11, 20, 0));
  EXPECT_EQ(cal::to_local(utc(2027, 7, 11, 20, 0), "Pacific/Kiritimati"), local(2027, 7, 12, 10, 0));
  EXPECT_EQ(cal::utc_offset(utc(2027, 1, 1, 0, 0), "Pacific/Kiritimati"), 14h);
  EXPECT_EQ(cal::to_instant(local(2027, 7, 12, 10, 0), "Pacific/Pago_Pago"), utc(2027, 7, 12, 21, 0));
  EXPECT_EQ(cal::to_local(utc(2027, 7, 12, 21, 0), "Pacific/Pago_Pago"), local(2027, 7, 12, 10, 0));
  EXPECT_EQ(cal::utc_offset(utc(2027, 7, 1, 0, 0), "Pacific/Pago_Pago"), -11h);
  // The same wall time is 25 hours apart at the two ends of the world.
  EXPECT_EQ(cal::to_instant(local(2027, 7, 12, 10, 0), "Pacific/Pago_Pago") -
                cal::to_instant(local(2027, 7, 12, 10, 0), "Pacific/Kiritimati"),
            25h);
  EXPECT_EQ(cal::to_instant(local(2027, 7, 12, 10, 0), "UTC"), utc(2027, 7, 12, 10, 0));
}

TEST(ZoneRules, ToLocalIsTheInverseOfToInstantOutsideGapsAndRepeats) {
  for (const char* zone :
       {"America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"}) {
    int gaps = 0, repeats = 0;
    for (Instant t = utc(2027, 1, 1, 0, 0); t < utc(2028, 1, 1, 0, 0); t += 15min) {
      const LocalDateTime wall = cal::to_local(t, zone);
      const Instant back = cal::to_instant(wall, zone);
      if (back != t) {
        // Only the second pass through a repeated wall time maps back elsewhere: to the first.
        EXPECT_LT(back, t) << zone << " " << cal::format_local_datetime(wall);
        EXPECT_EQ(cal::to_local(back, zone), wall) << zone;
        ++repeats;
      }
      const LocalDateTime reading = LocalDateTime{floor<seconds>(t).time_since_epoch()};  // t's UTC reading
      const Instant there = cal::to_instant(reading, zone);
      if (cal::to_local(there, zone) != reading) {
        // A wall time in a gap: shifted forward by the gap's length.
        EXPECT_GT(cal::to_local(there, zone), reading) << zone;
        EXPECT_EQ(cal::to_local(there, zone) - reading, cal::utc_offset(there, zone) - cal::utc_offset(there - 24h, zone))
            << zone;
        ++gaps;
      }
    }
    if (std::string_view(zone) == "America/New_York" || std::string_view(zone) == "Europe/London") {
      EXPECT_EQ(repeats, 4) << zone;  // one hour of 15-minute steps
      EXPECT_EQ(gaps, 4) << zone;
    }
    if (std::string_view(zone) == "Australia/Lord_Howe") {
      EXPECT_EQ(repeats, 2) << zone;
      EXPECT_EQ(gaps, 2) << zone;
    }
    if (std::string_view(zone) == "UTC" || std::string_view(zone) == "Pacific/Kiritimati") {
      EXPECT_EQ(repeats, 0) << zone;
      EXPECT_EQ(gaps, 0) << zone;
    }
  }
}

TEST(ZoneRules, FollowsRulesFarIntoTheFuture) {
  EXPECT_EQ(cal::utc_offset(utc(2060, 7, 1, 12, 0), "America/New_York"), -4h);
  EXPECT_EQ(cal::utc_offset(utc(2060, 1, 1, 12, 0), "America/New_York"), -5h);
}

TEST(ZoneRules, UnknownZonesThrow) {
  for (const char* zone : {"", "Mars/Olympus", "Europe/Londonx", "../etc/passwd", "America/New_York\n", "+01:00"}) {
    EXPECT_THROW(cal::to_instant(local(2027, 7, 12, 10, 0), zone), cal::UnknownZone) << zone;
    EXPECT_THROW(cal::to_local(utc(2027, 7, 12, 10, 0), zone), cal::UnknownZone) << zone;
    EXPECT_THROW(cal::utc_offset(utc(2027, 7, 12, 10, 0), zone), cal::UnknownZone) << zone;
  }
  EXPECT_THROW(cal::to_instant(local(2027, 7, 12, 10, 0), "Nowhere/Zone"), std::invalid_argument);
}

TEST(ZoneRules, SafeFromSeveralThreads) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([i, &failures] {
      const char* zones[] = {"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Tokyo"};
      for (int k = 0; k < 300; ++k) {
        const LocalDateTime l = local(2027, 1 + unsigned(k % 12), 10, 10, 0);
        if (cal::to_local(cal::to_instant(l, zones[(i + k) % 4]), zones[(i + k) % 4]) != l) ++failures[std::size_t(i)];
      }
    });
  for (auto& t : threads) t.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(IsoDurations, ParsesIso8601) {
  const std::vector<std::pair<const char*, seconds>> table = {{"P1D", 24h},
                                                              {"PT1H", 1h},
                                                              {"PT15M", 15min},
                                                              {"P1W", days{7}},
                                                              {"P1DT2H", 26h},
                                                              {"PT30S", 30s},
                                                              {"P2W", days{14}},
                                                              {"PT0S", 0s},
                                                              {"P0D", 0s},
                                                              {"PT1H30M", 90min},
                                                              {"P1DT2H30M15S", 24h + 2h + 30min + 15s},
                                                              {"PT36H", 36h},
                                                              {"PT90M", 90min},
                                                              {"P1W2D", days{9}},
                                                              {"P400D", days{400}},
                                                              {"PT9600H", days{400}},
                                                              {"P007D", days{7}}};
  for (const auto& [text, expected] : table) {
    const auto parsed = cal::parse_iso8601_duration(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(*parsed, expected) << text;
  }
}

TEST(IsoDurations, RejectsAmbiguousAndMalformed) {
  for (const char* text : {"",
                           "P",
                           "PT",
                           "P1DT",
                           "1D",
                           "P1",
                           "PT1",
                           "P1M",
                           "P1Y",
                           "P1Y2M",
                           "P1MT1H",
                           "-P1D",
                           "P-1D",
                           "+P1D",
                           "P1.5D",
                           "PT0.5S",
                           "P1H",
                           "PT1D",
                           "PT1W",
                           "P1D1W",
                           "PT1M1H",
                           "P1D1D",
                           "PT1H1H",
                           "P1DT1HT1M",
                           "p1d",
                           "P1d",
                           "P1D ",
                           " P1D",
                           "P401D",
                           "PT9601H",
                           "P58W",
                           "P1000000000000D",
                           "P99999999999999999999D",
                           "PTT1H",
                           "P T1H"})
    EXPECT_FALSE(cal::parse_iso8601_duration(text)) << text;
}

TEST(IsoDurations, FormatsCanonically) {
  const std::vector<std::pair<seconds, const char*>> table = {
      {0s, "PT0S"},       {24h, "P1D"},         {1h, "PT1H"},        {15min, "PT15M"},
      {30s, "PT30S"},     {26h, "P1DT2H"},      {days{7}, "P7D"},    {24h + 2h + 30min, "P1DT2H30M"},
      {90min, "PT1H30M"}, {days{400}, "P400D"}, {3661s, "PT1H1M1S"}, {days{1} + 5s, "P1DT5S"},
      {-15min, "-PT15M"}};
  for (const auto& [value, expected] : table) EXPECT_EQ(cal::format_iso8601_duration(value), expected);
  for (const char* text : {"P1D", "PT1H", "PT15M", "P1DT2H", "PT30S", "P1DT2H30M", "PT0S", "P7D"})
    EXPECT_EQ(cal::format_iso8601_duration(*cal::parse_iso8601_duration(text)), text);
  EXPECT_EQ(cal::format_iso8601_duration(*cal::parse_iso8601_duration("P1W")), "P7D");
  EXPECT_EQ(cal::format_iso8601_duration(*cal::parse_iso8601_duration("PT90M")), "PT1H30M");
  EXPECT_FALSE(cal::format_iso8601_duration(seconds::min()).empty());
}
