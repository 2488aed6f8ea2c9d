#include "calendar/clock.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace convene::calendar;
using namespace std::chrono;

TEST(ManualClock, MovesOnlyWhenTold) {
  const Instant start = sys_days{2026y / July / 8} + 13h;
  ManualClock clock(start);
  EXPECT_EQ(clock.now(), start);
  clock.advance(90min);
  EXPECT_EQ(clock.now(), start + 90min);
  clock.set(start - 24h);
  EXPECT_EQ(clock.now(), start - 24h);
}

TEST(ManualClock, IsSafeToReadWhileAnotherThreadAdvancesIt) {
  ManualClock clock(Instant{});
  std::thread writer([&] {
    for (int i = 0; i < 10000; ++i) clock.advance(1us);
  });
  Instant last{};
  for (int i = 0; i < 10000; ++i) {
    const Instant now = clock.now();
    EXPECT_GE(now, last);
    last = now;
  }
  writer.join();
  EXPECT_EQ(clock.now(), Instant{} + 10000us);
}

TEST(SystemClock, ReadsTheSystemTime) {
  SystemClock clock;
  const auto before = time_point_cast<microseconds>(system_clock::now());
  const auto now = clock.now();
  EXPECT_GE(now, before);
  EXPECT_LT(now - before, 5s);
}

TEST(FormatRfc3339, WritesUtcWithOptionalMicroseconds) {
  EXPECT_EQ(format_rfc3339_utc(sys_days{2026y / July / 8} + 13h + 5min + 9s), "2026-07-08T13:05:09Z");
  EXPECT_EQ(format_rfc3339_utc(sys_days{2027y / January / 1} + 250ms), "2027-01-01T00:00:00.250000Z");
  EXPECT_EQ(format_rfc3339_utc(sys_days{1969y / December / 31} + 23h + 59min + 59s), "1969-12-31T23:59:59Z");
}
