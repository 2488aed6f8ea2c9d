#include "daemon/http/body_budget.hpp"
#include "daemon/http/client_address.hpp"
#include "daemon/http/rate_limit.hpp"

#include <gtest/gtest.h>

using namespace convene::daemon::http;
using namespace std::chrono_literals;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1000h;

}  // namespace

TEST(RateLimit, AllowsTheBurstThenRefusesWithTheWaitForOneToken) {
  RateLimiter limiter({.per_second = 2, .burst = 5});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.take("10.0.0.1", t0), std::nullopt) << "request " << i;
  const auto wait = limiter.take("10.0.0.1", t0);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 500ms);  // 2 per second: one token in half a second
  // A refusal takes nothing: the wait only shrinks as time passes.
  EXPECT_EQ(limiter.take("10.0.0.1", t0 + 200ms), std::optional(300ms));
}

TEST(RateLimit, RefillsOverTimeUpToTheBurst) {
  RateLimiter limiter({.per_second = 10, .burst = 3});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(limiter.take("k", t0), std::nullopt);
  EXPECT_NE(limiter.take("k", t0 + 99ms), std::nullopt);
  EXPECT_EQ(limiter.take("k", t0 + 100ms), std::nullopt);  // exactly one token after 100ms
  EXPECT_NE(limiter.take("k", t0 + 100ms), std::nullopt);
  // An hour idle refills to the burst, not beyond.
  const auto later = t0 + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.take("k", later), std::nullopt) << "request " << i;
  EXPECT_EQ(limiter.take("k", later), std::optional(100ms));
}

TEST(RateLimit, FractionalRatesWaitSeconds) {
  RateLimiter limiter({.per_second = 0.5, .burst = 1});
  EXPECT_EQ(limiter.take("k", t0), std::nullopt);
  EXPECT_EQ(limiter.take("k", t0), std::optional(2000ms));
  EXPECT_EQ(limiter.take("k", t0 + 1999ms), std::optional(1ms));
  EXPECT_EQ(limiter.take("k", t0 + 2s), std::nullopt);
}

TEST(RateLimit, AnotherKeyIsUnaffected) {
  RateLimiter limiter({.per_second = 1, .burst = 2});
  limiter.take("attacker", t0);
  limiter.take("attacker", t0);
  ASSERT_NE(limiter.take("attacker", t0), std::nullopt);
  EXPECT_EQ(limiter.take("neighbour", t0), std::nullopt);
  EXPECT_EQ(limiter.take("neighbour", t0), std::nullopt);
}

TEST(RateLimit, PeekAnswersLikeTakeWithoutTaking) {
  RateLimiter limiter({.per_second = 1, .burst = 2});
  EXPECT_EQ(limiter.peek("k", t0), std::nullopt);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.peek("k", t0), std::nullopt);  // peeking takes nothing
  EXPECT_EQ(limiter.size(), 0u);
  limiter.take("k", t0);
  EXPECT_EQ(limiter.peek("k", t0), std::nullopt);
  limiter.take("k", t0);
  EXPECT_EQ(limiter.peek("k", t0), std::optional(1000ms));
  EXPECT_EQ(limiter.peek("k", t0 + 1s), std::nullopt);
}

TEST(RateLimit, ADisabledSpecAllowsEverythingAndStoresNothing) {
  RateLimiter limiter({.per_second = 0, .burst = 10});
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.take("k" + std::to_string(i % 3), t0), std::nullopt);
  EXPECT_EQ(limiter.peek("k0", t0), std::nullopt);
  EXPECT_EQ(limiter.size(), 0u);
  EXPECT_FALSE(BucketSpec{}.enabled());
  EXPECT_TRUE((BucketSpec{0.1, 1}).enabled());
}

TEST(RateLimit, AFloodOfDistinctKeysStaysWithinMaxKeysAndAHotKeyKeepsItsState) {
  // The attack: one address per request (an IPv6 /64 has plenty) to grow the table without end,
  // or to push an exhausted bucket out and start afresh.
  const std::size_t max_keys = 100;
  RateLimiter limiter({.per_second = 1, .burst = 3}, max_keys);
  for (int i = 0; i < 3; ++i) limiter.take("hot", t0);
  ASSERT_NE(limiter.take("hot", t0), std::nullopt);
  for (int i = 0; i < 100000; ++i) {
    const auto now = t0 + std::chrono::microseconds(i);  // under a second: nobody refills fully
    limiter.take("flood-" + std::to_string(i), now);
    ASSERT_LE(limiter.size(), max_keys);
    if (i % 50 == 0) {
      ASSERT_NE(limiter.take("hot", now), std::nullopt) << "the hot key was forgotten at " << i;
    }
  }
  EXPECT_EQ(limiter.size(), max_keys);
}

TEST(RateLimit, WhenFullRefilledBucketsGoBeforeRecentlyUsedOnes) {
  RateLimiter limiter({.per_second = 1, .burst = 2}, 3);
  limiter.take("a", t0);  // full again at t0 + 1s
  limiter.take("b", t0 + 500ms);
  limiter.take("b", t0 + 500ms);  // exhausted
  limiter.take("c", t0 + 500ms);
  limiter.take("d", t0 + 1200ms);  // "a" has refilled completely: it goes
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_NE(limiter.peek("b", t0 + 1200ms), std::nullopt);  // "b" keeps its debt
  // Now nothing has refilled: the least recently used ("b") goes, so a touched key survives.
  limiter.take("c", t0 + 1300ms);
  limiter.take("e", t0 + 1300ms);
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_EQ(limiter.peek("b", t0 + 1300ms), std::nullopt);  // forgotten: a fresh bucket
  EXPECT_EQ(limiter.peek("c", t0 + 1300ms), std::optional(200ms));  // kept: 1 + 0.8 - 1 tokens
}

TEST(RateLimit, RetryAfterRoundsUpToWholeSecondsAtLeastOne) {
  EXPECT_EQ(retry_after_seconds(0ms), "1");
  EXPECT_EQ(retry_after_seconds(1ms), "1");
  EXPECT_EQ(retry_after_seconds(1000ms), "1");
  EXPECT_EQ(retry_after_seconds(1001ms), "2");
  EXPECT_EQ(retry_after_seconds(2000ms), "2");
  EXPECT_EQ(retry_after_seconds(59500ms), "60");
}

TEST(RateKey, IPv6ClientsShareTheirSlash64AndOthersKeepTheirAddress) {
  using convene::daemon::http::rate_key;
  EXPECT_EQ(rate_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(rate_key("2001:db8:1:2::1"), rate_key("2001:db8:1:2:ffff::9")) << "one /64, one key";
  EXPECT_NE(rate_key("2001:db8:1:2::1"), rate_key("2001:db8:1:3::1"));
  EXPECT_EQ(rate_key("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(rate_key("::ffff:203.0.113.7"), "::ffff:203.0.113.7") << "not an IPv6 network";
}

TEST(BodyBudget, CountsBytesAsTheyGrowAndGivesThemBackInAllAndPerClient) {
  using convene::daemon::http::BodyBudget;
  BodyBudget budget(100, 60);
  {
    auto a = budget.reserve("a");
    EXPECT_TRUE(a.grow_to(50));
    EXPECT_FALSE(a.grow_to(61)) << "past the client's share";
    EXPECT_EQ(a.bytes(), 50u) << "a refused growth changes nothing";
    auto b = budget.reserve("b");
    EXPECT_TRUE(b.grow_to(50));
    auto c = budget.reserve("c");
    EXPECT_FALSE(c.grow_to(1)) << "past the total";
    auto a2 = budget.reserve("a");
    EXPECT_FALSE(a2.grow_to(11)) << "a's two bodies together";
    EXPECT_EQ(budget.used(), 100u);
    EXPECT_EQ(budget.used_by("a"), 50u);
    auto moved = std::move(b);
    EXPECT_EQ(budget.used(), 100u) << "a move keeps the bytes held once";
  }
  EXPECT_EQ(budget.used(), 0u) << "every reservation gave its bytes back";
  EXPECT_EQ(budget.used_by("a"), 0u);
}
