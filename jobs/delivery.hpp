#pragma once
// The delivery worker (DESIGN §4): claims due notifications with a lease (FOR UPDATE SKIP
// LOCKED, like the job engine), composes each message (notifiers/, pure), hands it to the
// email or webhook transport (libcurl on the event loop: hundreds in flight on one thread),
// and records every attempt. Transient failures retry with backoff and jitter; permanent ones
// and the last attempt make the notification dead (an admin can retry it). Database work runs
// on the worker's own thread, in batches.
#include "calendar/clock.hpp"
#include "notifiers/templates.hpp"
#include "notifiers/transport.hpp"
#include "store/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
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
  std::size_t max_in_flight = 1000;                 // messages handed to transports at once
  std::chrono::milliseconds lease{120000};          // renewed every third while a message is in flight
  std::chrono::milliseconds poll_interval{30000};   // fallback when a NOTIFY was missed
  store::Backoff retry_backoff{std::chrono::seconds(30), std::chrono::hours(6)};
  int max_attempts = 12;                            // about three days of retries
  std::chrono::hours endpoint_failing_limit{120};   // a webhook endpoint failing this long is disabled
  std::string public_url;                           // base of unsubscribe and preferences links
  std::string mail_from;                            // From: and the SMTP envelope sender
  std::string unsubscribe_mailto;                   // List-Unsubscribe mailto: address; empty: none
  std::string mail_from_name = "Convene";
  std::string domain;                               // Message-ID and List-Id right-hand side
};

struct DeliveryCounters {
  std::uint64_t claimed = 0, sent = 0, retried = 0, dead = 0, cancelled = 0;
  std::uint64_t suppressed = 0;  // finished at claim without an attempt: the address is suppressed
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
  struct Batch {
    std::vector<Claimed> items;
    std::size_t suppressed = 0;  // rows the claim finished as suppressed (not in items)
    std::size_t dead = 0;        // rows the claim finished as dead: claimed max_attempts times, never answered
    std::optional<calendar::Instant> next_due;  // now when the batch was full
  };
  Batch claim_and_compose(std::size_t limit);  // on a claims_ thread
  void start_claim(std::size_t limit);
  void claimed(std::size_t limit, Batch batch, std::exception_ptr error);
  void maybe_idle();
  void send(Claimed item);
  void finished(Outcome outcome);
  void flush();
  void renew_leases();
  void record(std::vector<Outcome> outcomes);

  boost::asio::any_io_executor loop_;
  store::Database& database_;
  const calendar::Clock& clock_;
  const DeliveryOptions options_;
  const notifiers::Templates& templates_;
  notifiers::EmailTransport& email_;
  notifiers::WebhookTransport& webhooks_;
  // Claiming (with composing) and recording run on threads of their own, so batches are
  // recorded while the next are claimed: neither waits for the other's commit. One claims
  // thread: a second claim queued behind the first starts as soon as it ends, and claims of one
  // instance never wait for each other's rows (the claim does not lock before it updates).
  // Two at once measured slower on two cores (more context switches, rows skipped twice).
  boost::asio::thread_pool claims_{1};
  boost::asio::thread_pool records_{1};
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer idle_;
  // Claims take a quarter of the slots each, up to two on their way (the second queued behind
  // the first): while one is claimed the other's batch is sent, so the transports do not run
  // dry between batches.
  const std::size_t chunk_;
  // Claims-thread state: where the last full claim ended in the queue's order (due_at as
  // PostgreSQL wrote it, id), and when a claim last walked the queue from its start.
  struct QueuePosition {
    std::string due_at, id;
  };
  std::optional<QueuePosition> position_;
  std::chrono::steady_clock::time_point walked_from_start_{};
  std::mutex link_key_mutex_;
  std::string link_key_;  // signs unsubscribe and preferences links (server_secrets)
  // Loop-thread state.
  bool stopping_ = false, look_now_ = true, loop_active_ = false;
  std::size_t in_flight_ = 0;
  std::vector<Outcome> unrecorded_;
  bool recording_ = false;
  std::chrono::steady_clock::time_point last_look_{}, pause_until_{}, last_renewal_{};
  std::optional<calendar::Instant> next_due_;
  std::size_t claims_running_ = 0, reserved_ = 0;  // claims on their way, and the slots they may fill
  bool backlog_ = false;                           // the last claim came back full
  mutable std::mutex counters_mutex_;
  DeliveryCounters counters_;
};

}  // namespace convene::jobs
