// The delivery worker against faults (issue 15): a relay that refuses for now or drops the
// connection at random, and a row that cannot be composed. Notifications in a real PostgreSQL,
// a real SMTP server on loopback (tests/support/fake_smtp_server), the worker wired as the
// daemon wires it (tests/support/delivery_harness.hpp).
#include "support/delivery_harness.hpp"
#include "support/fake_smtp_server.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using convene::testing::FakeSmtpServer;
using convene::testing::Worker;

namespace {

class DeliveryFaults : public convene::testing::DeliveryDatabaseTest {};

}  // namespace

// A relay that answers 451 to 30 % of messages at their final dot and drops the connection
// there for 5 % (keeping the message: the worker cannot know it arrived, and sends it again).
// Every notification is delivered; a copy beyond the first exists only for a drop.
TEST_F(DeliveryFaults, AFlakyRelayGetsEverythingDeliveredAndNoneTwiceBeyondTheDrops) {
  constexpr int kEmails = 1000;
  FakeSmtpServer smtp;
  smtp.set_random_faults(0.30, 0.05, 15);
  // Each its own member and address, as fan-out makes them.
  sql("WITH m AS (INSERT INTO members (email, name, time_zone, created_at, updated_at) "
      "  SELECT 'user' || g || '@example.org', 'User ' || g, 'Europe/London', now(), now() "
      "  FROM generate_series(1, $1) g RETURNING id, email) "
      "INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, payload, due_at, "
      "created_at) "
      "SELECT notification_id('flaky:' || m.id), 'flaky:' || m.id, m.id, $2, 'email', 'topic.posted', m.email, "
      "$3::jsonb, now(), now() FROM m",
      kEmails, community, std::string(convene::testing::scene::kTopicPayload));
  ASSERT_EQ(scalar("SELECT count(*) FROM notifications WHERE state = 'pending'"), kEmails);
  {
    // Retries soon after each other, and enough of them that a message refused again and
    // again (0.35^30 for one) still goes through.
    Worker worker(db.url(), smtp.url(), "127.0.0.0/8", 120s, 2s,
                  [](convene::jobs::DeliveryOptions& options) { options.max_attempts = 30; });
    ASSERT_TRUE(eventually(
        [&] { return scalar("SELECT count(*) FROM notifications WHERE state NOT IN ('pending', 'sending')") == kEmails; },
        120s))
        << scalar("SELECT count(*) FROM notifications WHERE state = 'sent'") << " sent";
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE state = 'sent'"), kEmails) << "100 % delivered";
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE state = 'dead'"), 0);

  std::map<std::string, std::size_t> copies;  // by notification id
  const auto messages = smtp.messages();
  for (const auto& message : messages) ++copies[message.notification_id()];
  std::size_t received_twice = 0, extra_copies = 0;
  for (const auto& [id, count] : copies) {
    if (count > 1) ++received_twice;
    extra_copies += count - 1;
  }
  const auto ids = sql("SELECT id::text FROM notifications");
  std::size_t missing = 0;
  for (const auto& row : ids) missing += copies.contains(row[0].as<std::string>()) ? 0 : 1;
  EXPECT_EQ(missing, 0u) << "every notification arrived";
  EXPECT_EQ(copies.size(), static_cast<std::size_t>(kEmails)) << "no message without a notification's id";

  // The faults really happened: the worker saw the 451s, the relay dropped connections.
  const std::size_t dropped = smtp.dropped(), refused = smtp.temporary_failures();
  EXPECT_GT(refused, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'transient' AND response_code = 451"), 0);
  // A copy beyond the first only for a drop: no message the relay accepted was sent again.
  EXPECT_LE(received_twice, dropped);
  EXPECT_LE(extra_copies, dropped);
  std::printf("relay: %zu messages received, %zu 451s, %zu dropped connections; %zu ids received more than once, "
              "%zu copies beyond the first\n",
              messages.size(), refused, dropped, received_twice, extra_copies);
}

// A row that makes composing throw (an email of a kind without templates) ends dead at once
// with its reason, never reaches the relay, and the worker goes on delivering the others.
TEST_F(DeliveryFaults, APoisonRowThatMakesCompositionThrowEndsDeadWithItsReason) {
  FakeSmtpServer smtp;
  const auto poison = email_notification("Poison", "no.such.kind", "poison@example.org");
  const auto healthy = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(healthy) == "sent"; }));
  ASSERT_TRUE(eventually([&] { return state(poison) == "dead"; }));
  const auto error = text("SELECT last_error FROM notifications WHERE id = '" + poison + "'");
  EXPECT_TRUE(error.starts_with("could not compose")) << error;
  EXPECT_NE(error.find("no.such.kind"), std::string::npos) << error;
  EXPECT_EQ(smtp.rcpt_count("poison@example.org"), 0u) << "never handed to the relay";

  // The worker is still running: the next email is delivered too, the poison stays dead.
  const auto next = email_notification();
  ASSERT_TRUE(eventually([&] { return state(next) == "sent"; }));
  EXPECT_EQ(state(poison), "dead");
  EXPECT_EQ(smtp.rcpt_count("poison@example.org"), 0u);
  const auto messages = smtp.messages();
  ASSERT_EQ(messages.size(), 2u);
  for (const auto& message : messages) EXPECT_EQ(message.recipients, std::vector<std::string>{"ada@example.org"});
}
