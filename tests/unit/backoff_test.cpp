#include "store/database.hpp"

#include <gtest/gtest.h>

#include <algorithm>

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

TEST(Backoff, EqualJitterSpansHalfTheCeilingToTheCeiling) {
  const Backoff b{100ms, 10000ms};
  EXPECT_EQ(b.delay(3, 0.999999), 399ms);
  EXPECT_EQ(b.equal_jitter(3, 0.0), 200ms);   // never sooner than half the step
  EXPECT_EQ(b.equal_jitter(3, 0.5), 300ms);
  EXPECT_EQ(b.equal_jitter(3, 2.0), 400ms);   // clamped
  EXPECT_EQ(b.equal_jitter(1000, 0.0), 5000ms);  // capped
}

TEST(Backoff, UnitRandomStaysInItsRangeAndVaries) {
  double low = 1.0, high = 0.0;
  for (int i = 0; i < 1000; ++i) {
    const double r = convene::store::unit_random();
    ASSERT_GE(r, 0.0);
    ASSERT_LT(r, 1.0);
    low = std::min(low, r);
    high = std::max(high, r);
  }
  EXPECT_LT(low, 0.1);
  EXPECT_GT(high, 0.9);
}
