// Fair shares across webhook receivers (jobs/receivers.hpp): pure, time passed in.
#include "jobs/receivers.hpp"

#include <gtest/gtest.h>

using convene::jobs::ReceiverBook;
using convene::jobs::ReceiverPolicy;
using namespace std::chrono_literals;

namespace {

const ReceiverBook::TimePoint t0 = ReceiverBook::TimePoint{} + 1h;

ReceiverPolicy policy() {
  ReceiverPolicy p;
  p.in_flight = 100;
  p.max_in_flight = 400;
  p.slow_latency = 1s;
  p.failures_before_rest = 3;
  p.first_rest = 1s;
  p.max_rest = 60s;
  return p;
}

}  // namespace

TEST(ReceiverBook, AnUnknownReceiverHasItsWholeShare) {
  ReceiverBook book(policy());
  const auto rooms = book.rooms(t0);
  EXPECT_EQ(rooms.of("https://a.example").room, 100u);
  EXPECT_TRUE(rooms.known.empty());
}

TEST(ReceiverBook, ABusyReceiverHasOnlyWhatIsLeftOfItsShareAndOthersKeepTheirs) {
  ReceiverBook book(policy());
  for (int i = 0; i < 100; ++i) book.started("https://slow.example", t0);
  for (int i = 0; i < 30; ++i) book.started("https://fast.example", t0);
  const auto rooms = book.rooms(t0 + 10ms);
  EXPECT_EQ(rooms.of("https://slow.example").room, 0u);
  EXPECT_EQ(rooms.of("https://fast.example").room, 70u);
  EXPECT_EQ(rooms.of("https://other.example").room, 100u);
}

// A receiver that answers after 9 s gets a ninth of the share of one that answers within a
// second: slow receivers cannot hold the slots everyone shares.
TEST(ReceiverBook, ASlowReceiversShareShrinksWithItsLatency) {
  ReceiverBook book(policy());
  for (int i = 0; i < 20; ++i) {
    book.started("https://slow.example", t0);
    book.finished("https://slow.example", 9s, false, t0 + 9s);
  }
  EXPECT_EQ(book.share("https://slow.example", t0 + 9s), 11u);
  // One measured fast gets more, up to max_in_flight; one answering in 400 ms two and a half times.
  book.started("https://fast.example", t0);
  book.finished("https://fast.example", 50ms, false, t0 + 50ms);
  EXPECT_EQ(book.share("https://fast.example", t0 + 50ms), 400u);
  book.started("https://medium.example", t0);
  book.finished("https://medium.example", 400ms, false, t0 + 400ms);
  EXPECT_EQ(book.share("https://medium.example", t0 + 400ms), 250u);
}

// Before its first answer a receiver that keeps what it was sent is as slow as it has kept it.
TEST(ReceiverBook, AReceiverThatHasNotAnsweredYetCountsAsSlowAsItsSilence) {
  ReceiverBook book(policy());
  for (int i = 0; i < 10; ++i) book.started("https://silent.example", t0);
  EXPECT_EQ(book.share("https://silent.example", t0 + 100ms), 100u);
  EXPECT_EQ(book.share("https://silent.example", t0 + 4s), 25u);
  EXPECT_GE(book.latency("https://silent.example", t0 + 4s), 4s);
}

// What does not fit goes back due at the receiver's pace: behind what went back before, one
// every latency/share.
TEST(ReceiverBook, RowsPutBackAreDueAtTheReceiversPace) {
  ReceiverBook book(policy());
  for (int i = 0; i < 100; ++i) book.started("https://r.example", t0);
  book.finished("https://r.example", 2s, false, t0 + 2s);
  const auto now = t0 + 2s;
  auto room = book.rooms(now).of("https://r.example");
  // A share of 50 at 2 s: one every 40 ms, the first no sooner than a slot could free up.
  EXPECT_EQ(book.share("https://r.example", now), 50u);
  EXPECT_EQ(room.room, 0u);
  EXPECT_GE(room.defer_from, 2s);
  EXPECT_EQ(room.interval, 40ms);
  // 200 put back: the next claim puts its own behind them.
  book.deferred("https://r.example", 200, now, room.defer_from + 199 * room.interval);
  const auto later = book.rooms(now + 1s).of("https://r.example");
  EXPECT_GE(later.defer_from, room.defer_from + 199 * room.interval - 1s);
}

// A receiver whose own queue is long (500 waiting in the transport for 8 connections) shows a
// long latency, but it answers 200 a second: what goes back is paced by that, not by the
// latency over its share.
TEST(ReceiverBook, RowsPutBackArePacedByTheAnswersPerSecondWhenThatIsSooner) {
  ReceiverBook book(policy());
  const std::string r = "https://queued.example";
  for (int i = 0; i < 500; ++i) book.started(r, t0);
  for (int i = 0; i <= 400; ++i) book.finished(r, 2500ms, false, t0 + i * 5ms);  // 200 a second for 2 s
  for (int i = 0; i < 400; ++i) book.started(r, t0 + 2s);
  const auto room = book.rooms(t0 + 2s).of(r);
  EXPECT_EQ(room.room, 0u);
  EXPECT_LE(room.interval, 6ms);
  EXPECT_GE(room.interval, 4ms);
}

TEST(ReceiverBook, ReceiverFailingInARowIsRestedLongerEachTimeAndASuccessEndsIt) {
  ReceiverBook book(policy());
  const std::string r = "https://down.example";
  auto fail = [&](ReceiverBook::TimePoint at) {
    book.started(r, at);
    book.finished(r, 10ms, true, at);
  };
  fail(t0);
  fail(t0);
  EXPECT_FALSE(book.resting(r, t0));
  fail(t0);  // the third in a row
  EXPECT_TRUE(book.resting(r, t0 + 500ms));
  EXPECT_FALSE(book.resting(r, t0 + 1001ms));
  EXPECT_EQ(book.rooms(t0 + 500ms).of(r).room, 0u);
  EXPECT_GE(book.rooms(t0 + 500ms).of(r).defer_from, 500ms);
  fail(t0 + 2s);  // the fourth: twice as long
  EXPECT_TRUE(book.resting(r, t0 + 3900ms));
  EXPECT_FALSE(book.resting(r, t0 + 4001ms));
  for (int i = 0; i < 30; ++i) fail(t0 + 5s);  // capped at max_rest, however many
  EXPECT_TRUE(book.resting(r, t0 + 64s));
  EXPECT_FALSE(book.resting(r, t0 + 66s));
  book.started(r, t0 + 66s);
  book.finished(r, 10ms, false, t0 + 66s);
  fail(t0 + 67s);  // one failure after a success: not rested
  EXPECT_FALSE(book.resting(r, t0 + 67s));
}

TEST(ReceiverBook, IdleReceiversAreForgotten) {
  ReceiverBook book(policy());
  book.started("https://a.example", t0);
  book.finished("https://a.example", 10ms, false, t0);
  book.started("https://b.example", t0);  // still in flight: kept
  EXPECT_EQ(book.size(), 2u);
  book.rooms(t0 + 11min);
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(book.in_flight("https://b.example"), 1u);
}
