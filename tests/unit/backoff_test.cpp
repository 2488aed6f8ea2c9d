#include "store/database.hpp"

#include <gtest/gtest.h>

using convene::store::Backoff;
using namespace std::chrono_literals;

TEST(Backoff, GrowsExponentiallyUpToTheCap) {
  const Backoff b{20ms, 2000ms};
  // With the random factor at its top the delay is the ceiling itself.
  EXPECT_EQ(b.delay(1, 0.999999), 19ms);
  EXPECT_EQ(b.delay(2, 0.999999), 39ms);
  EXPECT_EQ(b.delay(3, 0.999999), 79ms);
  EXPECT_EQ(b.delay(20, 0.999999), 1999ms);
  EXPECT_EQ(b.delay(1000, 0.999999), 1999ms);  // no overflow for huge attempt numbers
}

TEST(Backoff, FullJitterSpansZeroToCeiling) {
  const Backoff b{100ms, 10000ms};
  EXPECT_EQ(b.delay(3, 0.0), 0ms);
  EXPECT_EQ(b.delay(3, 0.5), 200ms);
  EXPECT_EQ(b.delay(3, 2.0), 400ms);   // out-of-range randoms are clamped
  EXPECT_EQ(b.delay(0, 0.5), 50ms);    // attempt numbers below 1 behave like the first
}
