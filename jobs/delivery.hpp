#pragma once
// The delivery worker (DESIGN §4): claims due notifications with a lease (FOR UPDATE SKIP
// LOCKED, like the job engine), composes each message (notifiers/, pure), hands it to the
// email or webhook transport (libcurl on the event loop: hundreds in flight on one thread),
// and records every attempt. Each channel is a lane of its own, and within the webhook lane
// each receiver has a bounded share of the slots (jobs/receivers.hpp): a slow receiver delays
// only its own messages. Transient failures retry with backoff and jitter; permanent ones
// and the last attempt make the notification dead (an admin can retry it). Database work runs
// on the worker's own thread, in batches.
#include "calendar/clock.hpp"
#include "jobs/receivers.hpp"
#include "notifiers/templates.hpp"
#include "notifiers/transport.hpp"
#include "store/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <unordered_set>
#include <utility>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace convene::jobs {

struct DeliveryOptions {
  std::string owner;                                // unique per instance (jobs::default_owner())
  std::size_t max_in_flight = 1000;                 // messages handed to transports at once, per channel
  std::chrono::milliseconds lease{120000};          // renewed every third while a message is in flight
  std::chrono::milliseconds poll_interval{30000};   // fallback when a NOTIFY was missed
  store::Backoff retry_backoff{std::chrono::seconds(30), std::chrono::hours(6)};
  int max_attempts = 12;                            // about three days of retries
  std::chrono::hours endpoint_failing_limit{120};   // a webhook endpoint failing this long is disabled
  ReceiverPolicy receivers;                         // each webhook receiver's share of the slots (jobs/receivers.hpp)
  std::string public_url;                           // base of unsubscribe and preferences links
  std::string mail_from;                            // From: and the SMTP envelope sender
  std::string unsubscribe_mailto;                   // List-Unsubscribe mailto: address; empty: none
  std::string mail_from_name = "Convene";
  std::string domain;                               // Message-ID and List-Id right-hand side
};

struct DeliveryCounters {
  std::uint64_t claimed = 0, sent = 0, retried = 0, dead = 0, cancelled = 0;
  std::uint64_t suppressed = 0;  // finished at claim without an attempt: the address is suppressed
  std::uint64_t deferred = 0;    // put back at claim: their receiver had no room (not an attempt)
  std::uint64_t record_failures = 0;  // batches of outcomes that could not be recorded (kept and retried)
};

class DeliveryWorker {
 public:
  DeliveryWorker(boost::asio::any_io_executor loop, store::Database& database, const calendar::Clock& clock,
                 DeliveryOptions options, const notifiers::Templates& templates, notifiers::EmailTransport& email,
                 notifiers::WebhookTransport& webhooks);
  ~DeliveryWorker();

  boost::asio::awaitable<void> run();  // until stop()
  void nudge();                        // thread-safe: look for due notifications now
  // Stops claiming, waits (up to `deadline`) for messages in flight, records their outcomes.
  boost::asio::awaitable<void> stop(std::chrono::milliseconds deadline);

  DeliveryCounters counters() const;

 private:
  struct Claimed;
  struct Outcome;
  struct Lane;
  struct Batch {
    std::vector<Claimed> items;
    std::size_t suppressed = 0;  // rows the claim finished as suppressed (not in items)
    std::size_t dead = 0;        // rows the claim finished as dead: claimed max_attempts times, never answered
    std::size_t deferred = 0;    // rows put back: their receiver had no room
    std::map<std::string, std::pair<std::size_t, std::chrono::microseconds>> deferrals;  // per receiver: count, last due
    std::vector<std::int64_t> deferred_endpoints;  // of the rows put back
    std::optional<calendar::Instant> next_due;  // now when the batch was full
  };
  struct ClaimRequest {
    std::size_t limit = 0;
    ReceiverRooms rooms;                            // each receiver's room when the claim started
    std::vector<std::int64_t> excluded_endpoints;  // not claimed: their receivers have no room
    bool exploring = false;                         // looking past crowded receivers for others' rows
  };
  Batch claim_and_compose(Lane& lane, const ClaimRequest& request);  // on the lane's claims thread
  void start_claim(Lane& lane, std::size_t limit, bool exploring = false);
  void claimed(Lane& lane, const ClaimRequest& request, std::chrono::steady_clock::time_point started, Batch batch,
               std::exception_ptr error);
  std::pair<std::size_t, std::size_t> crowded_room(const Lane& lane) const;
  std::chrono::steady_clock::duration until(calendar::Instant at) const;  // room, and room worth a claim
  void note_crowding(Lane& lane, const ClaimRequest& request, const Batch& batch, std::size_t rows);
  static constexpr std::size_t kMaxCrowdedEndpoints = 1000;
  void consider_claims(Lane& lane, std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration& wait);
  bool idle() const;  // nothing claimed, in flight or waiting to be recorded
  void maybe_idle();
  void send(Lane& lane, Claimed item);
  void finished(Outcome outcome);
  void flush();
  void renew_leases();
  bool record(const std::vector<Outcome>& outcomes);  // false: not recorded (the database failed)

  boost::asio::any_io_executor loop_;
  store::Database& database_;
  const calendar::Clock& clock_;
  const DeliveryOptions options_;
  const notifiers::Templates& templates_;
  notifiers::EmailTransport& email_;
  notifiers::WebhookTransport& webhooks_;
  // One lane per channel, each with its own claims, budget and thread: emails and webhooks
  // never wait for each other's claims or slots.
  std::array<std::unique_ptr<Lane>, 2> lanes_;
  // Recording runs on a thread of its own, so batches are recorded while the next are claimed.
  boost::asio::thread_pool records_{1};
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer idle_;
  boost::asio::steady_timer record_retry_;
  std::mutex link_key_mutex_;
  std::string link_key_;  // signs unsubscribe and preferences links (server_secrets)
  // Loop-thread state.
  ReceiverBook receivers_;
  bool stopping_ = false;
  // Notifications this instance holds: handed to a transport, or answered and not yet recorded.
  // Their leases (and only theirs) are renewed.
  std::unordered_set<std::string> held_;
  std::vector<Outcome> unrecorded_;
  bool recording_ = false;
  bool record_waiting_ = false;  // after a failed recording, until the next try
  int record_failures_in_row_ = 0;
  static constexpr store::Backoff kRecordBackoff{std::chrono::seconds(1), std::chrono::seconds(30)};
  std::chrono::steady_clock::time_point last_renewal_{};
  mutable std::mutex counters_mutex_;
  DeliveryCounters counters_;
};

}  // namespace convene::jobs
