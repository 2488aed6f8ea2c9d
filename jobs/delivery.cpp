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

asio::awaitable<void> DeliveryWorker::run() {
  loop_active_ = true;
  using namespace std::chrono;
  while (!stopping_) {
    const auto steady_now = SteadyClock::now();
    if (!held_.empty() && steady_now - last_renewal_ >= options_.lease / 3) renew_leases();
    SteadyClock::duration wait = options_.poll_interval;
    for (auto& owned : lanes_) {
      Lane& lane = *owned;
      const bool poll = steady_now - lane.last_look >= options_.poll_interval;
      const bool due = lane.look_now || poll || (lane.next_due && *lane.next_due <= clock_.now());
      const bool resting = steady_now < lane.pause_until;
      if (due && !resting && lane.claims_running == 0 && lane.in_flight + lane.chunk <= lane.budget) {
        lane.look_now = false;
        lane.last_look = steady_now;
        start_claim(lane);
      }
      // A second claim only while the last one came back full: more is due than one claim takes.
      if (lane.backlog && !resting && lane.claims_running == 1 && lane.in_flight + lane.reserved + lane.chunk <= lane.budget)
        start_claim(lane);
      // While claims run or there is no room, only their results or finished sends (which
      // cancel the timer) matter for this lane.
      if (lane.claims_running > 0 || lane.in_flight + lane.chunk > lane.budget) continue;
      SteadyClock::duration lane_wait = options_.poll_interval - (SteadyClock::now() - lane.last_look);
      if (lane.pause_until > SteadyClock::now()) lane_wait = std::min(lane_wait, lane.pause_until - SteadyClock::now());
      if (lane.next_due) {
        const auto now = clock_.now();
        lane_wait = std::min<SteadyClock::duration>(
            lane_wait, *lane.next_due <= now ? milliseconds(0) : duration_cast<SteadyClock::duration>(*lane.next_due - now) + milliseconds(1));
      }
      wait = std::min(wait, lane_wait);
    }
    if (!held_.empty()) wait = std::min<SteadyClock::duration>(wait, last_renewal_ + options_.lease / 3 - SteadyClock::now());
    wake_.expires_after(std::max<SteadyClock::duration>(wait, milliseconds(1)));
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  loop_active_ = false;
}

void DeliveryWorker::start_claim(Lane& lane) {
  const std::size_t limit = lane.chunk;
  ++lane.claims_running;
  lane.reserved += limit;
  const auto started = SteadyClock::now();
  // Each receiver's room as it is now (only webhooks have receivers of their own).
  ReceiverRooms rooms = lane.channel == "webhook" ? receivers_.rooms(started) : ReceiverRooms{};
  asio::post(lane.claims, [this, &lane, limit, started, rooms = std::move(rooms)] {
    Batch batch;
    std::exception_ptr error;
    try {
      batch = claim_and_compose(lane, limit, rooms);
    } catch (...) {
      error = std::current_exception();
    }
    asio::post(loop_, [this, &lane, limit, started, batch = std::move(batch), error]() mutable {
      claimed(lane, limit, started, std::move(batch), error);
    });
  });
}

void DeliveryWorker::claimed(Lane& lane, std::size_t limit, SteadyClock::time_point started, Batch batch,
                             std::exception_ptr error) {
  --lane.claims_running;
  lane.reserved -= limit;
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
    lane.backlog = batch.items.size() + batch.suppressed + batch.dead + batch.deferred == limit;
    if (lane.backlog) lane.look_now = true;
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

void DeliveryWorker::maybe_idle() {
  for (const auto& lane : lanes_)
    if (lane->in_flight > 0 || lane->claims_running > 0) return;
  if (!recording_ && unrecorded_.empty()) idle_.cancel();
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
  unrecorded_.push_back(std::move(outcome));
  flush();
  // The loop only needs waking when there is room for another claim (a timer cancelled per
  // message would cost a timerfd update each).
  if (!stopping_ && lane.in_flight + lane.reserved + lane.chunk == lane.budget) wake_.cancel();
}

// Outcomes are recorded in batches, one transaction at a time, on the worker's thread. A batch
// the database did not take is kept, in order, and tried again after a pause that doubles up
// to 30 s; its rows stay held (their leases renewed) until it is recorded.
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
        record_pause_ = std::chrono::milliseconds(0);
        flush();
      } else {
        batch.insert(batch.end(), std::make_move_iterator(unrecorded_.begin()), std::make_move_iterator(unrecorded_.end()));
        unrecorded_ = std::move(batch);
        using namespace std::chrono;
        record_pause_ = std::min<milliseconds>(std::max<milliseconds>(record_pause_ * 2, milliseconds(500)), seconds(30));
        record_waiting_ = true;
        record_retry_.expires_after(record_pause_);
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
  bool busy = recording_ || !unrecorded_.empty();
  for (const auto& lane : lanes_) busy = busy || lane->in_flight > 0 || lane->claims_running > 0;
  if (busy) {
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
