// End-to-end tests of delivery settings as `convened serve` wires them: what the configuration
// says reaches the transports of the running daemon.
//
// The cluster, databases and processes come from support/e2e_fixture.hpp.
#include "support/e2e_fixture.hpp"
#include "support/http_receiver.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

class DeliveryE2E : public ConvenedTest {};

// webhook_max_host_connections bounds the connections to one receiver: with a cap of 3, nine
// webhooks to a receiver that holds each for half a second (and could serve 8 at once) arrive
// at most 3 at a time. The default (32) sends 8 at once (seen when the test was written).
TEST_F(DeliveryE2E, WebhookConnectionsPerReceiverFollowTheSetting) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  ASSERT_NO_FATAL_FAILURE(migrate());
  Receiver receiver([](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(500ms);
    res.status = 204;
  });
  settings_["CONVENE_WEBHOOK_MAX_HOST_CONNECTIONS"] = "3";
  settings_["CONVENE_WEBHOOK_ALLOWLIST"] = "127.0.0.0/8";
  Daemon& daemon = start_daemon("serve", {"serve"});
  ASSERT_EQ(daemon.wait_ready().status, 200) << daemon.log();

  constexpr int kWebhooks = 9;
  query("INSERT INTO members (email, name, time_zone, created_at, updated_at) "
        "VALUES ('ada@example.org', 'Ada', 'UTC', now(), now())");
  query("INSERT INTO webhook_endpoints (member_id, url, secret, created_by, created_at, updated_at) "
        "SELECT id, '" + receiver.url() + "', 'whsec_' || encode(decode(md5('a') || md5('b'), 'hex'), 'base64'), id, "
        "now(), now() FROM members");
  query("INSERT INTO notifications (id, dedupe_key, member_id, endpoint_id, channel, kind, recipient, payload, due_at, "
        "created_at) "
        "SELECT notification_id('e2e:' || g), 'e2e:' || g, w.member_id, w.id, 'webhook', 'topic.posted', w.url, "
        "'{\"title\": \"Hello\"}', now(), now() FROM webhook_endpoints w CROSS JOIN generate_series(1, " +
        std::to_string(kWebhooks) + ") g");

  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string sent;
  while (std::chrono::steady_clock::now() < deadline) {
    sent = query("SELECT count(*) FROM notifications WHERE state = 'sent'");
    if (sent == std::to_string(kWebhooks)) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(sent, std::to_string(kWebhooks)) << daemon.log();
  EXPECT_EQ(receiver.hits(), kWebhooks);
  EXPECT_LE(receiver.most_at_once(), 3) << "webhook_max_host_connections = 3 must bound the daemon's connections";
  EXPECT_GE(receiver.most_at_once(), 2) << "the webhooks should overlap, or the bound was not tested";
}

}  // namespace
}  // namespace convene::testing
