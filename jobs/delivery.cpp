#include "jobs/delivery_parts.hpp"

#include "base/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

// The worker's loop: lanes, claims on their way, sends in flight, outcomes waiting to be
// recorded. Everything here runs on the loop thread.
namespace convene::jobs {

namespace asio = boost::asio;
using notifiers::SendResult;
using SteadyClock = std::chrono::steady_clock;

DeliveryWorker::DeliveryWorker(asio::any_io_executor loop, store::Database& database, const calendar::Clock& clock,
                               DeliveryOptions options, const notifiers::Templates& templates,
                               notifiers::EmailTransport& email, notifiers::WebhookTransport& webhooks)
    : loop_(loop),
      database_(database),
      clock_(clock),
      options_(std::move(options)),
      templates_(templates),
      email_(email),
      webhooks_(webhooks),
      lanes_{std::make_unique<Lane>("email", options_.max_in_flight), std::make_unique<Lane>("webhook", options_.max_in_flight)},
      wake_(loop),
      idle_(loop),
      record_retry_(loop),
      receivers_(options_.receivers) {}

DeliveryWorker::~DeliveryWorker() {
  for (auto& lane : lanes_) lane->claims.join();
  records_.join();
}

void DeliveryWorker::nudge() {
  asio::post(loop_, [this] {
    for (auto& lane : lanes_) lane->look_now = true;
    wake_.cancel();
  });
}

DeliveryCounters DeliveryWorker::counters() const {
  std::lock_guard lock(counters_mutex_);
  return counters_;
}

namespace {

// A claim for `room` messages: the largest power of two that fits, from 16 up to the lane's
// chunk (each size is a prepared statement of its own on every connection). Rounding up
// would put back what does not fit, on every claim.
std::size_t claim_size(std::size_t room, std::size_t chunk) {
  if (room >= chunk) return chunk;
  std::size_t size = 16;
  while (size * 2 <= room && size * 2 <= chunk) size *= 2;
  return std::min(size, chunk);
}

}  // namespace

asio::awaitable<void> DeliveryWorker::run() {
  using namespace std::chrono;
  while (!stopping_) {
    const auto steady_now = SteadyClock::now();
    if (!held_.empty() && steady_now - last_renewal_ >= options_.lease / 3) renew_leases();
    SteadyClock::duration wait = options_.poll_interval;
    for (auto& lane : lanes_) consider_claims(*lane, steady_now, wait);
    if (!held_.empty()) wait = std::min<SteadyClock::duration>(wait, last_renewal_ + options_.lease / 3 - SteadyClock::now());
    wake_.expires_after(std::max<SteadyClock::duration>(wait, milliseconds(1)));
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Starts the lane's claims that are due, and shortens `wait` to when the lane next needs a look.
void DeliveryWorker::consider_claims(Lane& lane, SteadyClock::time_point now, SteadyClock::duration& wait) {
  using namespace std::chrono;
  const bool resting = now < lane.pause_until;
  const bool room = lane.in_flight + lane.reserved + lane.chunk <= lane.budget;
  const bool poll = now - lane.last_look >= options_.poll_interval;
  const bool due = lane.look_now || poll || (lane.next_due && *lane.next_due <= clock_.now());
  if (!lane.crowded.empty()) {
    // While claims run or there is no room, only their results or finished sends (which
    // cancel the timer) matter for this lane.
    if (resting) wait = std::min<SteadyClock::duration>(wait, lane.pause_until - now);
    if (resting || lane.claims_running > 0 || !room) return;
    const auto [crowded_room_now, threshold] = crowded_room(lane);
    if ((due || lane.backlog) && crowded_room_now >= threshold) {
      lane.look_now = false;
      lane.last_look = now;
      start_claim(lane, claim_size(crowded_room_now, lane.chunk));
    } else if (now >= lane.explore_at) {
      start_claim(lane, lane.chunk, true);
    } else {
      wait = std::min<SteadyClock::duration>(wait, lane.explore_at - now);
      if (lane.next_due) wait = std::min<SteadyClock::duration>(wait, until(*lane.next_due));
    }
    return;
  }
  if (due && !resting && lane.claims_running == 0 && lane.in_flight + lane.chunk <= lane.budget) {
    lane.look_now = false;
    lane.last_look = now;
    start_claim(lane, lane.chunk);
  }
  // A second claim only while the last one came back full: more is due than one claim takes.
  if (lane.backlog && !resting && lane.claims_running == 1 && room) start_claim(lane, lane.chunk);
  if (lane.claims_running > 0 || lane.in_flight + lane.chunk > lane.budget) return;
  SteadyClock::duration lane_wait = options_.poll_interval - (SteadyClock::now() - lane.last_look);
  if (lane.pause_until > SteadyClock::now()) lane_wait = std::min(lane_wait, lane.pause_until - SteadyClock::now());
  if (lane.next_due) lane_wait = std::min(lane_wait, until(*lane.next_due));
  wait = std::min(wait, lane_wait);
}

// How long until `at` on the worker's clock, as a steady duration (0 when it has passed).
SteadyClock::duration DeliveryWorker::until(calendar::Instant at) const {
  const auto in = at - clock_.now();
  return in.count() <= 0 ? SteadyClock::duration(0)
                         : std::chrono::duration_cast<SteadyClock::duration>(in) + std::chrono::milliseconds(1);
}

// What the crowded receivers have room for now, and how much room is worth a claim: half of
// what they may hold, up to half a chunk.
std::pair<std::size_t, std::size_t> DeliveryWorker::crowded_room(const Lane& lane) const {
  const auto now = SteadyClock::now();
  std::size_t room = 0, share = 0;
  for (const auto& receiver : lane.crowded) {
    room += receivers_.room(receiver, now);
    share += receivers_.share(receiver, now);
  }
  return {room, std::max<std::size_t>(1, std::min(lane.chunk, share) / 2)};
}

void DeliveryWorker::start_claim(Lane& lane, std::size_t limit, bool exploring) {
  ++lane.claims_running;
  lane.reserved += limit;
  const auto started = SteadyClock::now();
  ClaimRequest request;
  request.limit = limit;
  request.exploring = exploring;
  // Each receiver's room as it is now (only webhooks have receivers of their own).
  if (lane.channel == "webhook") request.rooms = receivers_.rooms(started);
  if (exploring) request.excluded_endpoints = lane.crowded_endpoints;
  asio::post(lane.claims, [this, &lane, started, request = std::move(request)]() mutable {
    Batch batch;
    std::exception_ptr error;
    try {
      batch = claim_and_compose(lane, request);
    } catch (...) {
      error = std::current_exception();
    }
    asio::post(loop_, [this, &lane, started, request = std::move(request), batch = std::move(batch), error]() mutable {
      claimed(lane, request, started, std::move(batch), error);
    });
  });
}

void DeliveryWorker::claimed(Lane& lane, const ClaimRequest& request, SteadyClock::time_point started, Batch batch,
                             std::exception_ptr error) {
  --lane.claims_running;
  lane.reserved -= request.limit;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::warn("claiming notifications failed; retrying", {{"channel", lane.channel}, {"error", std::string(e.what())}});
    }
    lane.pause_until = SteadyClock::now() + std::chrono::seconds(1);
    lane.look_now = true;
    lane.backlog = false;
  } else {
    lane.next_due = batch.next_due;
    const std::size_t rows = batch.items.size() + batch.suppressed + batch.dead + batch.deferred;
    lane.backlog = rows == request.limit;
    if (lane.backlog) lane.look_now = true;
    note_crowding(lane, request, batch, rows);
    {
      std::lock_guard lock(counters_mutex_);
      counters_.claimed += batch.items.size();
      counters_.suppressed += batch.suppressed;
      counters_.dead += batch.dead;
      counters_.deferred += batch.deferred;
    }
    for (const auto& [receiver, put_back] : batch.deferrals)
      receivers_.deferred(receiver, put_back.first, started, put_back.second);
    if (held_.empty()) last_renewal_ = SteadyClock::now();  // fresh leases
    // Claimed while stopping too: sent within the shutdown deadline rather than left to their leases.
    for (auto& item : batch.items) send(lane, std::move(item));
  }
  if (stopping_) maybe_idle();
  else wake_.cancel();
}

// Enters, keeps or leaves the lane's crowded state (Lane::crowded) after a claim. It ends when
// a claim of the crowded receivers' rows comes back short while they have nothing in flight:
// their backlog is drained. (Short while they are still busy: the rest of it is not due yet,
// and the next claim waits for it.) A look past them that found other receivers' rows looks again at once while it
// comes back full, else in 100 ms; one that found nothing waits twice as long as before.
void DeliveryWorker::note_crowding(Lane& lane, const ClaimRequest& request, const Batch& batch, std::size_t rows) {
  using namespace std::chrono;
  const bool crowded = batch.deferred > 0 && batch.deferred * 2 >= request.limit;
  const bool was_crowded = !lane.crowded.empty();
  if (!was_crowded && !crowded) return;
  const auto busy = [&] {
    return std::any_of(lane.crowded.begin(), lane.crowded.end(), [&](const auto& r) { return receivers_.in_flight(r) > 0; });
  };
  if (!request.exploring && rows < request.limit && !busy()) {
    lane.crowded.clear();
    lane.crowded_endpoints.clear();
    lane.explore_interval = milliseconds(100);
    return;
  }
  for (const auto& [receiver, put_back] : batch.deferrals) lane.crowded.insert(receiver);
  auto& endpoints = lane.crowded_endpoints;
  endpoints.insert(endpoints.end(), batch.deferred_endpoints.begin(), batch.deferred_endpoints.end());
  std::sort(endpoints.begin(), endpoints.end());
  endpoints.erase(std::unique(endpoints.begin(), endpoints.end()), endpoints.end());
  if (endpoints.size() > kMaxCrowdedEndpoints) endpoints.resize(kMaxCrowdedEndpoints);
  const auto now = SteadyClock::now();
  if (request.exploring) {
    const bool found_others = rows > batch.deferred;
    lane.explore_interval = found_others ? milliseconds(100) : std::min<milliseconds>(lane.explore_interval * 2, seconds(5));
    lane.explore_at = found_others && rows == request.limit ? now : now + lane.explore_interval;
  } else if (!was_crowded) {
    lane.explore_interval = milliseconds(100);
    lane.explore_at = now + lane.explore_interval;
  }
}

bool DeliveryWorker::idle() const {
  for (const auto& lane : lanes_)
    if (lane->in_flight > 0 || lane->claims_running > 0) return false;
  return !recording_ && unrecorded_.empty();
}

void DeliveryWorker::maybe_idle() {
  if (idle()) idle_.cancel();
}

void DeliveryWorker::send(Lane& lane, Claimed item) {
  ++lane.in_flight;
  held_.insert(item.id);
  if (item.settled) {
    Outcome o{item.id, item.attempts, item.endpoint_id, *item.settled, clock_.now(), item.cancel, &lane, {}, {}};
    asio::post(loop_, [this, o = std::move(o)]() mutable { finished(std::move(o)); });
    return;
  }
  const auto handed_over = SteadyClock::now();
  if (!item.receiver.empty()) receivers_.started(item.receiver, handed_over);
  auto done = [this, id = item.id, attempts = item.attempts, endpoint = item.endpoint_id, lane = &lane,
               receiver = item.receiver, handed_over](SendResult result) {
    finished(Outcome{id, attempts, endpoint, std::move(result), clock_.now(), false, lane, receiver,
                     SteadyClock::now() - handed_over});
  };
  if (item.email) email_.send(std::move(*item.email), std::move(done));
  else webhooks_.post(std::move(*item.webhook), std::move(done));
}

void DeliveryWorker::finished(Outcome outcome) {
  Lane& lane = *outcome.lane;
  --lane.in_flight;
  // Errors and timeouts count against the receiver; a refusal of one message (a 4xx) does not.
  if (!outcome.receiver.empty())
    receivers_.finished(outcome.receiver, outcome.latency, outcome.result.kind == SendResult::Kind::transient,
                        SteadyClock::now());
  const bool crowded_receiver = !outcome.receiver.empty() && lane.crowded.count(outcome.receiver) > 0;
  unrecorded_.push_back(std::move(outcome));
  flush();
  // The loop only needs waking when there is room for another claim (a timer cancelled per
  // message would cost a timerfd update each).
  if (stopping_) return;
  if (lane.in_flight + lane.reserved + lane.chunk == lane.budget) wake_.cancel();
  else if (crowded_receiver && lane.claims_running == 0) {
    const auto [room, threshold] = crowded_room(lane);
    if (room >= threshold) wake_.cancel();
  }
}

// Outcomes are recorded in batches, one transaction at a time, on the worker's thread. A batch
// the database did not take is kept, in order, and tried again after a pause (kRecordBackoff:
// 0.5-1 s, doubling to 15-30 s); its rows stay held (their leases renewed) until it is recorded.
void DeliveryWorker::flush() {
  if (recording_ || record_waiting_ || unrecorded_.empty()) return;
  recording_ = true;
  std::vector<Outcome> batch;
  batch.swap(unrecorded_);
  asio::post(records_, [this, batch = std::move(batch)]() mutable {
    const bool recorded = record(batch);
    asio::post(loop_, [this, recorded, batch = std::move(batch)]() mutable {
      recording_ = false;
      if (recorded) {
        for (const auto& outcome : batch) held_.erase(outcome.id);
        record_failures_in_row_ = 0;
        flush();
      } else {
        batch.insert(batch.end(), std::make_move_iterator(unrecorded_.begin()), std::make_move_iterator(unrecorded_.end()));
        unrecorded_ = std::move(batch);
        record_waiting_ = true;
        record_retry_.expires_after(kRecordBackoff.equal_jitter(++record_failures_in_row_, store::unit_random()));
        record_retry_.async_wait([this](const boost::system::error_code& ec) {
          if (ec == asio::error::operation_aborted) return;  // the worker is being destroyed
          record_waiting_ = false;
          flush();
          if (stopping_) maybe_idle();
        });
      }
      if (stopping_) maybe_idle();
    });
  });
}

asio::awaitable<void> DeliveryWorker::stop(std::chrono::milliseconds deadline) {
  stopping_ = true;
  wake_.cancel();
  if (!idle()) {
    idle_.expires_after(deadline);
    co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  std::size_t in_flight = 0;
  for (const auto& lane : lanes_) in_flight += lane->in_flight;
  if (in_flight > 0)
    log::warn("notifications still in flight at the shutdown deadline; their leases will run out and they will be sent again",
              {{"notifications", static_cast<unsigned long>(in_flight)}});
  if (!unrecorded_.empty())
    log::warn("delivery outcomes not recorded at the shutdown deadline; their leases will run out and they will be sent again",
              {{"notifications", static_cast<unsigned long>(unrecorded_.size())}});
}

}  // namespace convene::jobs
