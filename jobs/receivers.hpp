#pragma once
// Fair shares of the delivery worker's in-flight slots across webhook receivers
// (scheme://host:port). Pure: the caller passes the time and reports what happened.
//
// Each receiver may have `in_flight` messages in flight at once when it answers in
// `slow_latency`, and a share in inverse proportion to its latency otherwise: a receiver taking
// 9 s gets a ninth of that, so slow receivers cannot hold the slots everyone shares, and one
// measured fast gets more, up to `max_in_flight` (a single busy receiver can use the lane).
// Before its first answer a receiver gets `in_flight`.
// Messages claimed beyond a receiver's room go back to the queue, due when the receiver is
// expected to take them: spread at the rate it answers (measured, or its share over its
// latency when that is sooner), behind
// those put back before while it stays full, so a backlog for a slow receiver is claimed again
// about when it can be sent, not on every claim.
// A receiver whose deliveries fail `failures_before_rest` times in a row (errors and timeouts)
// is rested, for longer each time, up to `max_rest`.
#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace convene::jobs {

struct ReceiverPolicy {
  std::size_t in_flight = 100;                  // a receiver's share of messages in flight at once, at slow_latency
  std::size_t max_in_flight = 500;              // the most a fast receiver's share grows to
  std::chrono::milliseconds slow_latency{1000};  // slower than this on average: the share shrinks in proportion
  int failures_before_rest = 3;                  // transient failures in a row before the receiver is rested
  std::chrono::milliseconds first_rest{1000};    // doubled for each failure after those
  std::chrono::milliseconds max_rest{300000};
  std::chrono::hours max_deferral{24};           // no message is put back further than this
};

// What a claim may send to one receiver, and where the rest go: due from `defer_from` after the
// claim, one every `interval` (the receiver's pace).
struct ReceiverRoom {
  std::size_t room = 0;
  std::chrono::microseconds defer_from{0};
  std::chrono::microseconds interval{0};
};

// The rooms of every receiver at the start of a claim, for the claims thread.
struct ReceiverRooms {
  std::unordered_map<std::string, ReceiverRoom> known;
  ReceiverRoom unknown;  // a receiver without state: its whole share
  const ReceiverRoom& of(const std::string& receiver) const {
    const auto found = known.find(receiver);
    return found == known.end() ? unknown : found->second;
  }
};

class ReceiverBook {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  explicit ReceiverBook(ReceiverPolicy policy) : policy_(policy) {}

  ReceiverRooms rooms(TimePoint now);
  void started(const std::string& receiver, TimePoint now);
  // `failed`: a transient failure (an error status, a timeout, a refused connection).
  void finished(const std::string& receiver, Clock::duration latency, bool failed, TimePoint now);
  // A claim put `count` messages for the receiver back, the last of them due `last_due` after `claimed_at`.
  void deferred(const std::string& receiver, std::size_t count, TimePoint claimed_at, Clock::duration last_due);

  std::size_t share(const std::string& receiver, TimePoint now) const;
  std::size_t room(const std::string& receiver, TimePoint now) const;  // what it may take now: 0 while rested
  Clock::duration latency(const std::string& receiver, TimePoint now) const;  // as estimated now
  bool resting(const std::string& receiver, TimePoint now) const;
  std::size_t in_flight(const std::string& receiver) const;
  std::size_t size() const { return receivers_.size(); }  // receivers with state

 private:
  struct Receiver {
    std::size_t in_flight = 0;
    double latency_ms = 0;  // moving average; 0 before the first answer
    TimePoint busy_since{}, last_answer{}, last_used{};
    // Answers per second, measured over windows of a second or more: the pace at which it
    // takes messages (its latency also counts the time they wait in the transport's queue).
    double answers_per_second = 0;
    std::size_t window_answers = 0;
    TimePoint window_start{};
    int failures_in_row = 0;
    TimePoint rest_until{};
    TimePoint deferred_until{};  // the last message put back is due then
  };
  std::size_t share_of(const Receiver& r, TimePoint now) const;
  Clock::duration latency_of(const Receiver& r, TimePoint now) const;
  void forget_idle(TimePoint now);

  ReceiverPolicy policy_;
  std::unordered_map<std::string, Receiver> receivers_;
  TimePoint last_sweep_{};
};

}  // namespace convene::jobs
