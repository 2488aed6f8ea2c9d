#pragma once
// The delivery worker's private pieces, shared by its files: delivery.cpp (the loop: lanes,
// claims, sends), delivery_claim.cpp (claiming and composing) and delivery_record.cpp
// (outcomes and leases).
#include "jobs/delivery.hpp"
#include "notifiers/send_result.hpp"

#include <boost/asio/thread_pool.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <vector>
#include <string>

namespace convene::jobs {

// Runs a statement of every batch as a prepared statement: planning a claim anew took a third
// of its time. libpqxx keeps the definition per connection (the same text again is no change)
// and prepares it on the connection's first use, again after a reconnect.
template <typename... Args>
pqxx::result exec_prepared(pqxx::work& tx, const std::string& name, const std::string& sql, Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

struct DeliveryWorker::Claimed {
  std::string id;
  int attempts = 0;
  std::optional<std::int64_t> endpoint_id;
  std::string receiver;  // a webhook's scheme://host:port; empty for email
  std::optional<notifiers::OutgoingEmail> email;
  std::optional<notifiers::OutgoingWebhook> webhook;
  std::optional<notifiers::SendResult> settled;  // decided without sending: cannot be composed, endpoint gone
  bool cancel = false;
};

struct DeliveryWorker::Outcome {
  std::string id;
  int attempts = 0;
  std::optional<std::int64_t> endpoint_id;
  notifiers::SendResult result;
  calendar::Instant at;
  bool cancel = false;
  Lane* lane = nullptr;
  std::string receiver;
  std::chrono::steady_clock::duration latency{};  // from the hand-off to the answer
};

// One channel's claims: its own thread, budget of slots and place in the queue.
struct DeliveryWorker::Lane {
  Lane(std::string channel_name, std::size_t budget_slots)
      : channel(std::move(channel_name)), budget(budget_slots), chunk(std::max<std::size_t>(1, budget_slots / 4)) {}

  const std::string channel;  // notifications.channel
  const std::size_t budget;   // messages in flight at once
  // Claims take a quarter of the slots each, up to two on their way (the second queued behind
  // the first): while one is claimed the other's batch is sent, so the transport does not run
  // dry between batches. One claims thread: claims of one lane never wait for each other's rows
  // (the claim does not lock before it updates). Two at once measured slower on two cores.
  const std::size_t chunk;
  boost::asio::thread_pool claims{1};

  // Claims-thread state: where the last full claim ended in the queue's order (due_at as
  // PostgreSQL wrote it, id), and when a claim last walked the queue from its start.
  struct QueuePosition {
    std::string due_at, id;
  };
  std::optional<QueuePosition> position;
  std::chrono::steady_clock::time_point walked_from_start{};

  // Loop-thread state.
  bool look_now = true;
  bool backlog = false;  // the last claim came back full
  std::size_t in_flight = 0, claims_running = 0, reserved = 0;  // reserved: slots the claims on their way may fill
  std::chrono::steady_clock::time_point last_look{}, pause_until{};
  std::optional<calendar::Instant> next_due;
  // After a claim that had to put back half its rows or more (their receivers had no room),
  // the lane is crowded: its claims take only what those receivers have room for, and other
  // claims look past their endpoints for other receivers' rows (DeliveryWorker::note_crowding),
  // so a backlog for one receiver is not claimed and put back over and over.
  std::set<std::string> crowded;             // the receivers of the rows put back
  std::vector<std::int64_t> crowded_endpoints;  // their endpoints, left out when looking past them
  std::chrono::steady_clock::time_point explore_at{};
  std::chrono::milliseconds explore_interval{100};
};

}  // namespace convene::jobs
