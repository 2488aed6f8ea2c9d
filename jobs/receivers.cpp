#include "jobs/receivers.hpp"

#include <algorithm>
#include <cmath>

namespace convene::jobs {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr double kLatencyWeight = 0.2;                 // of a new answer in the moving average
constexpr std::chrono::minutes kForgetAfter{10};       // a receiver idle this long loses its state
constexpr milliseconds kMinimumDeferral{50};
constexpr milliseconds kUnknownLatency{100};           // assumed before the first answer

}  // namespace

ReceiverBook::Clock::duration ReceiverBook::latency_of(const Receiver& r, TimePoint now) const {
  // What it has answered in, or, while it keeps everything it was sent without answering, at
  // least how long it has kept it.
  Clock::duration latency = r.latency_ms > 0 ? duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(r.latency_ms))
                                             : Clock::duration(kUnknownLatency);
  if (r.in_flight > 0) latency = std::max(latency, now - std::max(r.busy_since, r.last_answer));
  return latency;
}

std::size_t ReceiverBook::share_of(const Receiver& r, TimePoint now) const {
  const double latency = std::max(1.0, std::chrono::duration<double, std::milli>(latency_of(r, now)).count());
  const double slow = static_cast<double>(policy_.slow_latency.count());
  const std::size_t base = std::max<std::size_t>(1, policy_.in_flight);
  if (r.latency_ms <= 0 && latency <= slow) return base;  // not measured yet
  const double share = static_cast<double>(base) * slow / latency;
  const std::size_t most = std::max(base, policy_.max_in_flight);
  return std::clamp<std::size_t>(static_cast<std::size_t>(std::min(share, static_cast<double>(most))), 1, most);
}

ReceiverRooms ReceiverBook::rooms(TimePoint now) {
  forget_idle(now);
  ReceiverRooms rooms;
  const std::size_t full = std::max<std::size_t>(1, policy_.in_flight);
  rooms.unknown.room = full;
  rooms.unknown.defer_from = duration_cast<microseconds>(kMinimumDeferral);
  rooms.unknown.interval = duration_cast<microseconds>(Clock::duration(kUnknownLatency)) / full;
  const auto cap = duration_cast<microseconds>(policy_.max_deferral);
  for (const auto& [key, r] : receivers_) {
    ReceiverRoom room;
    const std::size_t share = share_of(r, now);
    const bool rested = now < r.rest_until;
    room.room = rested || r.in_flight >= share ? 0 : share - r.in_flight;
    const auto latency = latency_of(r, now);
    // Put back behind what was put back before, and no sooner than a slot could free up.
    auto from = std::max<Clock::duration>(latency, kMinimumDeferral);
    if (r.deferred_until > now) from = std::max<Clock::duration>(from, r.deferred_until - now);
    if (rested) from = std::max<Clock::duration>(from, r.rest_until - now);
    room.defer_from = std::min(duration_cast<microseconds>(from), cap);
    auto interval = duration_cast<microseconds>(latency) / static_cast<long>(share);
    if (r.answers_per_second > 0)
      interval = std::min(interval, duration_cast<microseconds>(std::chrono::duration<double>(1.0 / r.answers_per_second)));
    room.interval = std::max(microseconds(1), interval);
    if (room.room < full || r.deferred_until > now || rested) rooms.known.emplace(key, room);
  }
  return rooms;
}

void ReceiverBook::started(const std::string& receiver, TimePoint now) {
  Receiver& r = receivers_[receiver];
  if (r.in_flight++ == 0) r.busy_since = now;
  r.last_used = now;
}

void ReceiverBook::finished(const std::string& receiver, Clock::duration latency, bool failed, TimePoint now) {
  const auto found = receivers_.find(receiver);
  if (found == receivers_.end()) return;
  Receiver& r = found->second;
  if (r.in_flight > 0) --r.in_flight;
  r.last_answer = r.last_used = now;
  ++r.window_answers;
  if (r.window_start == TimePoint{}) r.window_start = now;
  const double window = std::chrono::duration<double>(now - r.window_start).count();
  if (window >= 1.0) {
    const double rate = static_cast<double>(r.window_answers) / window;
    r.answers_per_second = r.answers_per_second > 0 ? (r.answers_per_second + rate) / 2 : rate;
    r.window_answers = 0;
    r.window_start = now;
  }
  const double ms = std::chrono::duration<double, std::milli>(latency).count();
  r.latency_ms = r.latency_ms > 0 ? r.latency_ms + kLatencyWeight * (ms - r.latency_ms) : ms;
  if (!failed) {
    r.failures_in_row = 0;
    r.rest_until = {};
    return;
  }
  if (++r.failures_in_row < policy_.failures_before_rest) return;
  const int doublings = std::min(r.failures_in_row - policy_.failures_before_rest, 20);
  const auto rest = std::min<Clock::duration>(policy_.first_rest * (1L << doublings), policy_.max_rest);
  r.rest_until = std::max(r.rest_until, now + rest);
}

void ReceiverBook::deferred(const std::string& receiver, std::size_t count, TimePoint claimed_at, Clock::duration last_due) {
  if (count == 0) return;
  Receiver& r = receivers_[receiver];
  r.deferred_until = std::max(r.deferred_until, claimed_at + last_due);
  r.last_used = std::max(r.last_used, claimed_at);
}

std::size_t ReceiverBook::share(const std::string& receiver, TimePoint now) const {
  const auto found = receivers_.find(receiver);
  return found == receivers_.end() ? std::max<std::size_t>(1, policy_.in_flight) : share_of(found->second, now);
}

std::size_t ReceiverBook::room(const std::string& receiver, TimePoint now) const {
  const auto found = receivers_.find(receiver);
  if (found == receivers_.end()) return std::max<std::size_t>(1, policy_.in_flight);
  const Receiver& r = found->second;
  const std::size_t share = share_of(r, now);
  return now < r.rest_until || r.in_flight >= share ? 0 : share - r.in_flight;
}

ReceiverBook::Clock::duration ReceiverBook::latency(const std::string& receiver, TimePoint now) const {
  const auto found = receivers_.find(receiver);
  return found == receivers_.end() ? Clock::duration(kUnknownLatency) : latency_of(found->second, now);
}

bool ReceiverBook::resting(const std::string& receiver, TimePoint now) const {
  const auto found = receivers_.find(receiver);
  return found != receivers_.end() && now < found->second.rest_until;
}

std::size_t ReceiverBook::in_flight(const std::string& receiver) const {
  const auto found = receivers_.find(receiver);
  return found == receivers_.end() ? 0 : found->second.in_flight;
}

// State is kept only while it matters: a receiver with nothing in flight, nothing put back,
// not rested and unused for ten minutes starts afresh (the map cannot grow without bound).
void ReceiverBook::forget_idle(TimePoint now) {
  if (now - last_sweep_ < std::chrono::minutes(1)) return;
  last_sweep_ = now;
  std::erase_if(receivers_, [now](const auto& entry) {
    const Receiver& r = entry.second;
    return r.in_flight == 0 && r.deferred_until <= now && r.rest_until <= now && now - r.last_used >= kForgetAfter;
  });
}

}  // namespace convene::jobs
