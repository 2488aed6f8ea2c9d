// The delivery worker end to end on one machine: notifications in a real PostgreSQL, a real
// SMTP server (tests/support/fake_smtp_server) and real HTTP receivers on loopback, libcurl on
// the worker's event loop. Backoff is shortened so retries happen within the test.
#include "jobs/delivery.hpp"
#include "jobs/engine.hpp"
#include "notifiers/address_policy.hpp"
#include "notifiers/curl_multi.hpp"
#include "notifiers/signed_token.hpp"
#include "notifiers/smtp_transport.hpp"
#include "notifiers/webhook_signature.hpp"
#include "notifiers/webhook_transport.hpp"
#include "support/delivery_harness.hpp"
#include "support/fake_smtp_server.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <httplib.h>
#include <pqxx/pqxx>

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <future>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using convene::testing::FakeSmtpServer;
using Receiver = convene::testing::ScriptedReceiver;  // not http_receiver.hpp's Receiver
using convene::testing::Worker;

namespace {

class Delivery : public convene::testing::DeliveryDatabaseTest {
 protected:

  std::int64_t endpoint(const std::string& url, const std::string& secret) {
    return scalar("INSERT INTO webhook_endpoints (member_id, url, secret, created_at, updated_at) VALUES (" +
                  std::to_string(member) + ", '" + url + "', '" + secret + "', now(), now()) RETURNING id");
  }
  // A topic webhook for Ada's endpoint with `payload` as its own fields, of `event` when given
  // (whose message, if any, it is made from).
  std::string webhook_notification(std::int64_t endpoint_id, const std::string& payload = R"({"title": "T"})",
                                   std::optional<std::int64_t> event = std::nullopt) {
    return sql("INSERT INTO notifications (id, dedupe_key, event_id, member_id, community_id, channel, kind, recipient, "
               "payload, due_at, created_at, endpoint_id) VALUES (notification_id($1), $1, $2, $3, $4, 'webhook', "
               "'topic.posted', 'x', $5::jsonb, now(), now(), $6) RETURNING id",
               "hook:" + std::to_string(++serial), event, member, community, payload, endpoint_id)[0][0]
        .as<std::string>();
  }
  // `count` webhooks for Ada's endpoint at once, due `due_sql` (an SQL expression).
  void many_webhook_notifications(std::int64_t endpoint_id, int count, const std::string& due_sql = "now()") {
    sql("INSERT INTO notifications (id, dedupe_key, member_id, community_id, endpoint_id, channel, kind, recipient, "
        "payload, due_at, created_at) "
        "SELECT notification_id(k.key), k.key, $1, $2, e.id, 'webhook', 'topic.posted', e.url, '{}', " + due_sql + ", now() "
        "FROM generate_series(1, $4) g JOIN webhook_endpoints e ON e.id = $3 "
        "CROSS JOIN LATERAL (SELECT 'hooks:' || $5::int || ':' || g AS key) k",
        member, community, endpoint_id, count, ++serial);
  }
};

// Python's email package with policy.strict (tests/unit/mime_strict.py): exit 0 = no defect.
int strict_parse_status(const std::string& message) {
  // A name of this process's own: another user's file of a fixed name in /tmp would break it.
  const std::string path = ::testing::TempDir() + "convene-delivered-" + std::to_string(::getpid()) + ".eml";
  std::ofstream(path, std::ios::binary) << message;
  const std::string command = "/usr/bin/python3 '" + std::string(CONVENE_SOURCE_DIR) + "/tests/unit/mime_strict.py' '" + path +
                              "' > /dev/null";
  const int status = std::system(command.c_str());
  std::remove(path.c_str());
  return status;
}

}  // namespace

TEST_F(Delivery, AnEmailArrivesWithItsIdAndParsesStrictly) {
  FakeSmtpServer smtp;
  const auto id = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(smtp.wait_for_messages(1, 30s));
  ASSERT_TRUE(eventually([&] { return state(id) == "sent"; }));
  const auto message = smtp.messages().at(0);
  EXPECT_EQ(message.recipients, std::vector<std::string>{"ada@example.org"});
  EXPECT_NE(message.data.find("Message-ID: <" + id + "@convene.example.org>"), std::string::npos);
  EXPECT_NE(message.data.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), std::string::npos);
  EXPECT_EQ(message.data.find("mailto:"), std::string::npos) << "no list_unsubscribe_mailto configured";
  EXPECT_EQ(strict_parse_status(message.data + "\r\n"), 0) << message.data;
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'sent'"), 1);
}

// A digest over several communities has no community of its own: its one-click link is the
// digest's (POST /u/{token} then stops that cadence), and it names no List-Id.
TEST_F(Delivery, ADigestOverSeveralCommunitiesHasItsOwnOneClickLink) {
  FakeSmtpServer smtp;
  const auto id = text(
      "INSERT INTO notifications (id, dedupe_key, member_id, channel, kind, recipient, payload, due_at, created_at) "
      "VALUES (notification_id('digest:test'), 'digest:test', " + std::to_string(member) +
      ", 'email', 'digest.daily', 'ada@example.org', '{}', now(), now()) "
      "RETURNING id");
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(smtp.wait_for_messages(1, 30s));
  ASSERT_TRUE(eventually([&] { return state(id) == "sent"; }));
  const auto data = smtp.messages().at(0).data;
  const auto link = data.find("List-Unsubscribe: <https://convene.example.org/u/");
  ASSERT_NE(link, std::string::npos) << data;
  EXPECT_NE(data.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), std::string::npos);
  EXPECT_EQ(data.find("List-Id:"), std::string::npos);
  // The token is the member's daily-digest token, signed with the server's link key.
  const auto start = link + std::string("List-Unsubscribe: <https://convene.example.org/u/").size();
  const std::string token = data.substr(start, data.find('>', start) - start);
  const auto key = pqxx::binarystring(sql("SELECT secret FROM server_secrets WHERE name = 'links'")[0][0]).str();
  const auto claims = convene::notifiers::verify_token(key, convene::notifiers::TokenPurpose::daily_digest, token);
  ASSERT_TRUE(claims) << token;
  EXPECT_EQ(claims->member_id, member);
}

TEST_F(Delivery, ACrLfInATitleCannotAddAHeader) {
  FakeSmtpServer smtp;
  email_notification("Hello\r\nBcc: victim@example.org");
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(smtp.wait_for_messages(1, 30s));
  const auto data = smtp.messages().at(0).data;
  const auto headers = data.substr(0, data.find("\r\n\r\n"));
  EXPECT_EQ(headers.find("\r\nBcc:"), std::string::npos) << headers;
  EXPECT_EQ(smtp.messages().at(0).recipients.size(), 1u);
}

TEST_F(Delivery, A451IsRetriedAndTheMessageArrivesOnce) {
  FakeSmtpServer smtp;
  smtp.fail_next("RCPT", 451, "4.7.1 try again later");
  const auto id = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(id) == "sent"; }));
  EXPECT_EQ(smtp.messages().size(), 1u);
  EXPECT_EQ(scalar("SELECT attempts FROM notifications"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'transient' AND response_code = 451"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM suppressions"), 0) << "a transient refusal never suppresses";
}

// Bounces (schema 014): a 5xx to RCPT TO suppresses the address; the next email to it is
// finished at claim, never attempted.
TEST_F(Delivery, A550OnRcptSuppressesTheAddressAndTheNextEmailIsNotAttempted) {
  FakeSmtpServer smtp;
  smtp.refuse_recipient("ada@example.org", 550, "5.1.1 no such user");
  const auto first = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(first) == "dead"; }));
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM suppressions") == 1; }));
  EXPECT_EQ(text("SELECT address || ' ' || code || ' ' || reason || ' ' || notification_id || ' ' || "
                 "(first_refused_at = last_refused_at) FROM suppressions"),
            "ada@example.org 550 SMTP 550: 5.1.1 no such user " + first + " true");
  const auto second = email_notification("Another topic");
  ASSERT_TRUE(eventually([&] { return state(second) == "suppressed"; }));
  std::this_thread::sleep_for(300ms);  // a few polls: nothing more happens
  EXPECT_EQ(state(second), "suppressed");
  EXPECT_EQ(smtp.rcpt_count("ada@example.org"), 1u) << "the suppressed email was never attempted";
  EXPECT_EQ(scalar("SELECT attempts FROM notifications WHERE id = '" + second + "'"), 0);
  EXPECT_EQ(text("SELECT last_error FROM notifications WHERE id = '" + second + "'"),
            "suppressed: SMTP 550: 5.1.1 no such user");
  EXPECT_EQ(smtp.messages().size(), 0u);
}

// A refusal of the message at its final dot is the recipient's too; the address is compared
// lower-cased.
TEST_F(Delivery, A5xxAfterTheDataSuppressesTheAddress) {
  FakeSmtpServer smtp;
  smtp.refuse_recipient("ada@example.org", 554, "5.2.1 mailbox disabled", "END");
  const auto first = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(first) == "dead"; }));
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM suppressions WHERE code = 554") == 1; }));
  const auto second = sql("INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, "
                          "payload, due_at, created_at) SELECT notification_id('upper'), 'upper', member_id, community_id, "
                          "channel, kind, 'Ada@Example.ORG', payload, now(), now() FROM notifications WHERE id = $1 "
                          "RETURNING id",
                          first)[0][0]
                          .as<std::string>();
  ASSERT_TRUE(eventually([&] { return state(second) == "suppressed"; }));
  EXPECT_EQ(smtp.rcpt_count("ada@example.org") + smtp.rcpt_count("Ada@Example.ORG"), 1u);
}

// A 451 to RCPT is transient: retried, delivered, never suppressed.
TEST_F(Delivery, A451ToRcptIsRetriedAndDoesNotSuppress) {
  FakeSmtpServer smtp;
  smtp.fail_next("RCPT", 451, "4.2.0 mailbox busy", 2);
  const auto id = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(id) == "sent"; }));
  EXPECT_EQ(scalar("SELECT count(*) FROM suppressions"), 0);
  const auto next = email_notification("Next");
  ASSERT_TRUE(eventually([&] { return state(next) == "sent"; }));
  EXPECT_EQ(smtp.messages().size(), 2u);
}

// A 5xx about the relay or our sender is not the recipient's: a refused greeting (the session,
// transient), a 553 to MAIL FROM (permanent for that message) and a 535 (the relay's login:
// transient) suppress nobody, and the next email to the address is delivered.
TEST_F(Delivery, ARefusalOfTheRelaySessionOrOfTheSenderDoesNotSuppress) {
  FakeSmtpServer smtp;
  smtp.fail_next("CONNECT", 554, "5.3.2 not accepting mail now");
  smtp.fail_next("MAIL", 553, "5.7.1 sender address not allowed");
  const auto first = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(first) == "dead"; }));
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'permanent' AND response_code = 553"), 1);
  smtp.fail_next("RCPT", 535, "5.7.8 authentication credentials invalid");
  const auto second = email_notification("Second");
  ASSERT_TRUE(eventually([&] { return state(second) == "sent"; }));
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'transient' AND response_code = 535"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM suppressions"), 0);
  EXPECT_EQ(smtp.messages().size(), 1u);
}

TEST_F(Delivery, A550IsPermanentAndNotRetried) {
  FakeSmtpServer smtp;
  smtp.fail_next("RCPT", 550, "5.1.1 no such user");
  const auto id = email_notification();
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(id) == "dead"; }));
  std::this_thread::sleep_for(300ms);  // a few polls: nothing more happens
  EXPECT_EQ(scalar("SELECT attempts FROM notifications"), 1);
  EXPECT_EQ(smtp.messages().size(), 0u);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'permanent' AND response_code = 550"), 1);
}

TEST_F(Delivery, ServerDownThenUpDeliversEverythingOnce) {
  FakeSmtpServer smtp;
  smtp.stop_accepting();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(email_notification("Topic " + std::to_string(i)));
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'transient'") >= 5; }));
  smtp.start_accepting();
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notifications WHERE state = 'sent'") == 5; }));
  EXPECT_EQ(smtp.messages().size(), 5u) << "nothing twice";
}

TEST_F(Delivery, AWebhookIsSignedAndRetriedWithTheSameId) {
  Receiver receiver({500, 500, 500});
  const auto secret = convene::notifiers::generate_webhook_secret();
  const auto id = webhook_notification(endpoint(receiver.url(), secret));
  Worker worker(db.url(), "smtp://127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return state(id) == "sent"; }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.get_header_value("webhook-id"), id);
    const auto timestamp = std::stoll(r.get_header_value("webhook-timestamp"));
    // An independent HMAC (Python's hmac module) checks the last signature.
    EXPECT_TRUE(convene::notifiers::verify_signature(secret, id, timestamp, r.body, r.get_header_value("webhook-signature")));
  }
  const auto& last = requests.back();
  const std::string path = ::testing::TempDir() + "convene-hook-body-" + std::to_string(::getpid()) + ".json";
  std::ofstream(path, std::ios::binary) << last.body;
  const std::string check =
      "/usr/bin/python3 -c \"import base64,hashlib,hmac,sys; s=sys.argv[1]; k=base64.b64decode(s[6:]); "
      "b=open(sys.argv[4],'rb').read(); m=(sys.argv[2]+'.'+sys.argv[3]+'.').encode()+b; "
      "sig='v1,'+base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode(); "
      "sys.exit(0 if sig in sys.argv[5].split(' ') else 1)\" '" + secret + "' '" + id + "' '" +
      last.get_header_value("webhook-timestamp") + "' '" + path + "' '" + last.get_header_value("webhook-signature") + "'";
  EXPECT_EQ(std::system(check.c_str()), 0);
  std::remove(path.c_str());
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'transient' AND response_code = 500"), 3);
  // Every attempt, in order, in the notification's own row (schema 010).
  EXPECT_EQ(text("SELECT string_agg(attempt || ':' || outcome || ':' || response_code, ' ' ORDER BY attempt) "
                 "FROM notification_attempts WHERE notification_id = '" + id + "'"),
            "1:transient:500 2:transient:500 3:transient:500 4:sent:200");
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts a WHERE a.notification_id = '" + id +
                   "' AND a.attempted_at > (SELECT b.attempted_at FROM notification_attempts b "
                   "WHERE b.notification_id = a.notification_id AND b.attempt = a.attempt + 1)"), 0)
      << "attempts out of time order";
}

// Fan-out stores an event's message once (events.message, schema 010) and a row only what is
// its recipient's own: every recipient gets the event's text, each request signed with its
// endpoint's own secret; an email is made from it too.
TEST_F(Delivery, EveryRecipientOfAnEventGetsTheEventsMessage) {
  Receiver first, second;
  const auto first_secret = convene::notifiers::generate_webhook_secret();
  const auto second_secret = convene::notifiers::generate_webhook_secret();
  const auto first_endpoint = endpoint(first.url(), first_secret), second_endpoint = endpoint(second.url(), second_secret);
  FakeSmtpServer smtp;
  const auto event = scalar(
      "INSERT INTO events (kind, community_id, payload, occurred_at, message) VALUES ('topic.posted', " +
      std::to_string(community) + ", '{}', '2026-11-28T12:00:00Z', "
      "'{\"topic_id\": 1, \"title\": \"Shared title\", \"body\": \"Shared body\", \"url\": \"https://example.org/t/1\", "
      "\"community\": \"data-science\", \"community_name\": \"Data Science\", \"posted_at\": \"2026-11-28T12:00:00Z\"}') "
      "RETURNING id");
  std::vector<std::string> hooks;
  for (const auto endpoint_id : {first_endpoint, second_endpoint})
    hooks.push_back(webhook_notification(endpoint_id, "{}", event));
  const auto mail = text(
      "INSERT INTO notifications (id, dedupe_key, event_id, member_id, community_id, channel, kind, recipient, payload, "
      "due_at, created_at) VALUES (notification_id('mail'), 'mail', " + std::to_string(event) + ", " +
      std::to_string(member) + ", " + std::to_string(community) +
      ", 'email', 'topic.posted', 'ada@example.org', '{\"recipient_name\": \"Ada Recipient\"}', now(), now()) RETURNING id");
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return state(hooks[0]) == "sent" && state(hooks[1]) == "sent" && state(mail) == "sent"; }));
  const auto a = first.requests(), b = second.requests();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].body, b[0].body);
  const auto body = boost::json::parse(a[0].body).as_object();
  EXPECT_EQ(body.at("type"), "topic.posted");
  EXPECT_EQ(body.at("timestamp"), "2026-11-28T12:00:00Z");
  EXPECT_EQ(body.at("data").as_object().at("title"), "Shared title");
  for (const auto& [request, secret, other] :
       {std::tuple{a[0], first_secret, second_secret}, std::tuple{b[0], second_secret, first_secret}}) {
    const auto id = request.get_header_value("webhook-id");
    const auto timestamp = std::stoll(request.get_header_value("webhook-timestamp"));
    const auto signature = request.get_header_value("webhook-signature");
    EXPECT_TRUE(convene::notifiers::verify_signature(secret, id, timestamp, request.body, signature));
    EXPECT_FALSE(convene::notifiers::verify_signature(other, id, timestamp, request.body, signature));
  }
  EXPECT_NE(a[0].get_header_value("webhook-id"), b[0].get_header_value("webhook-id"));
  ASSERT_EQ(smtp.messages().size(), 1u);
  const std::string message = smtp.messages().at(0).data;
  EXPECT_NE(message.find("Shared title"), std::string::npos) << message;
  // The email, unlike the webhooks, is addressed by its member's name and lists its community.
  EXPECT_NE(message.find("To: \"Ada Lovelace\" <ada@example.org>"), std::string::npos) << message;
  EXPECT_NE(message.find("List-Id: \"Data Science\" <data-science.convene.example.org>"), std::string::npos) << message;
  EXPECT_EQ(strict_parse_status(message + "\r\n"), 0);
}

// A notification's own fields win over its event's message; one queued before schema 010 (its
// event has no message) is made from its own, whole payload.
TEST_F(Delivery, OwnFieldsWinOverTheEventsMessageAndOlderRowsKeepTheirOwn) {
  Receiver receiver;
  const auto hook = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  const auto with_message = scalar(
      "INSERT INTO events (kind, community_id, payload, occurred_at, message) VALUES ('topic.posted', " +
      std::to_string(community) + ", '{}', '2026-11-28T12:00:00Z', "
      "'{\"title\": \"Event title\", \"body\": \"Event body\"}') RETURNING id");
  const auto without_message = scalar("INSERT INTO events (kind, community_id, payload, occurred_at) VALUES ('topic.posted', " +
                                      std::to_string(community) + ", '{}', '2026-11-28T12:00:00Z') RETURNING id");
  const auto merged = webhook_notification(hook, R"({"title": "Own title"})", with_message);
  const auto legacy = webhook_notification(hook, R"({"title": "Legacy title", "body": "Legacy body"})", without_message);
  Worker worker(db.url(), "smtp://127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return state(merged) == "sent" && state(legacy) == "sent"; }));
  std::map<std::string, boost::json::object> data;
  for (const auto& r : receiver.requests()) {
    const auto body = boost::json::parse(r.body).as_object();
    EXPECT_EQ(body.at("timestamp"), "2026-11-28T12:00:00Z") << "the event's time, also without its message";
    data[r.get_header_value("webhook-id")] = body.at("data").as_object();
  }
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[merged].at("title"), "Own title");
  EXPECT_EQ(data[merged].at("body"), "Event body");
  EXPECT_EQ(data[legacy].at("title"), "Legacy title");
  EXPECT_EQ(data[legacy].at("body"), "Legacy body");
}

// Claims and outcomes are prepared statements on the pool's connections: when PostgreSQL drops
// every connection, the worker prepares them again on new ones and goes on delivering.
TEST_F(Delivery, DeliversAgainAfterItsConnectionsWereDropped) {
  FakeSmtpServer smtp;
  Worker worker(db.url(), smtp.url());
  const auto first = email_notification("Before");
  ASSERT_TRUE(eventually([&] { return state(first) == "sent"; }));
  sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
  const auto second = email_notification("After");
  ASSERT_TRUE(eventually([&] { return state(second) == "sent"; }));
  EXPECT_EQ(smtp.messages().size(), 2u);
}

TEST_F(Delivery, A410DisablesTheEndpoint) {
  Receiver receiver({410});
  const auto endpoint_id = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  const auto id = webhook_notification(endpoint_id);
  Worker worker(db.url(), "smtp://127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return state(id) == "dead"; }));
  EXPECT_EQ(text("SELECT status FROM webhook_endpoints"), "disabled");
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE kind = 'webhook.disabled' AND recipient = 'ada@example.org'"), 1);
  // Later notifications for it are dropped unsent.
  const auto later = webhook_notification(endpoint_id);
  ASSERT_TRUE(eventually([&] { return state(later) == "cancelled"; }));
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(Delivery, AnEndpointFailingForFiveDaysIsDisabledAndItsOwnerEmailed) {
  FakeSmtpServer smtp;
  Receiver receiver({500, 500, 500, 500, 500});
  const auto endpoint_id = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  sql("UPDATE webhook_endpoints SET failing_since = now() - interval '121 hours'");
  const auto id = webhook_notification(endpoint_id);
  Worker worker(db.url(), smtp.url());
  ASSERT_TRUE(eventually([&] { return text("SELECT status FROM webhook_endpoints") == "disabled"; }));
  EXPECT_EQ(text("SELECT disabled_reason FROM webhook_endpoints"), "deliveries failed for 5 days in a row");
  // The owner is told by email, once.
  ASSERT_TRUE(smtp.wait_for_messages(1, 30s));
  const auto message = smtp.messages().at(0);
  EXPECT_EQ(message.recipients, std::vector<std::string>{"ada@example.org"});
  std::string unwrapped = message.data;  // quoted-printable soft line breaks removed
  for (auto at = unwrapped.find("=\r\n"); at != std::string::npos; at = unwrapped.find("=\r\n", at)) unwrapped.erase(at, 3);
  EXPECT_NE(unwrapped.find(receiver.url()), std::string::npos);
  EXPECT_EQ(strict_parse_status(message.data + "\r\n"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE kind = 'webhook.disabled'"), 1);
  // Its queued deliveries are dropped, not retried against a disabled endpoint.
  ASSERT_TRUE(eventually([&] { return state(id) == "cancelled" || state(id) == "dead"; }));
}

TEST_F(Delivery, AHangingReceiverDoesNotHoldUpAnother) {
  Receiver slow({}, 3s), fast;
  const auto slow_id = webhook_notification(endpoint(slow.url(), convene::notifiers::generate_webhook_secret()));
  const auto fast_id = webhook_notification(endpoint(fast.url(), convene::notifiers::generate_webhook_secret()));
  Worker worker(db.url(), "smtp://127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return state(fast_id) == "sent"; }));
  // The fast one finished while the slow one was still waiting for its 2 s timeout.
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts a JOIN notifications n ON n.id = a.notification_id "
                   "WHERE n.id = '" + slow_id + "'"), 0);
}

TEST_F(Delivery, AMessageStillInFlightKeepsItsLeaseSoNoOtherInstanceSendsItAgain) {
  // The receiver takes 3 s; the lease is 600 ms. Without renewal the second instance would
  // take the notification over after 600 ms and post it again.
  Receiver slow({}, 3s);
  const auto id = webhook_notification(endpoint(slow.url(), convene::notifiers::generate_webhook_secret()));
  Worker first(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 600ms, 10s);
  ASSERT_TRUE(eventually([&] { return state(id) == "sending"; }));
  // Counted at claim, before any outcome: a process that dies with it in flight has used the
  // attempt (what makes a crash loop end dead after max_attempts claims).
  EXPECT_EQ(scalar("SELECT attempts FROM notifications"), 1);
  Worker second(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 600ms, 10s);
  ASSERT_TRUE(eventually([&] { return state(id) == "sent"; }));
  EXPECT_EQ(slow.requests().size(), 1u);
  EXPECT_EQ(scalar("SELECT attempts FROM notifications"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts"), 1);
}

// A message whose every delivery ended the process (poison: it crashes a transport call) is
// claimed again each time its lease runs out. After max_attempts (4 here) such claims it ends
// dead with its reason at the next claim, never sent, instead of crashing the daemon in a loop.
TEST_F(Delivery, ARowClaimedMaxAttemptsTimesWithoutAnOutcomeIsDeadAtClaimNotSentAgain) {
  Receiver receiver;
  const auto id = webhook_notification(endpoint(receiver.url(), convene::notifiers::generate_webhook_secret()));
  // Where four crashed claims leave it: 'sending', four attempts, an expired lease.
  sql("UPDATE notifications SET state = 'sending', attempts = 4, lease_owner = 'crashed', "
             "lease_expires_at = now() - interval '1 minute' WHERE id = '" + id + "'");
  const auto other = webhook_notification(endpoint(receiver.url(), convene::notifiers::generate_webhook_secret()),
                                          R"({"title": "healthy"})");
  Worker worker(db.url(), "smtp://127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return state(other) == "sent"; }));
  ASSERT_TRUE(eventually([&] { return state(id) == "dead"; }));
  EXPECT_EQ(scalar("SELECT attempts FROM notifications WHERE id = '" + id + "'"), 4) << "not attempted again";
  EXPECT_EQ(receiver.requests().size(), 1u) << "only the healthy message was posted";
  EXPECT_EQ(text("SELECT last_error FROM notifications WHERE id = '" + id + "'"),
            "claimed 4 times and never answered: the process stopped while delivering it each time");
}

// Two instances claiming from one queue at once (the claim updates rows without locking them
// first; the second of two claims of a row finds it no longer due): every notification is
// posted once, by one of them.
TEST_F(Delivery, TwoInstancesDrainOneQueueSendingEachNotificationOnce) {
  Receiver receiver;
  const auto endpoint_id = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  constexpr int kNotifications = 2000;
  many_webhook_notifications(endpoint_id, kNotifications);
  {
    // Timeouts long enough that no post is retried: the receiver serves a few connections at a
    // time, and each instance opens up to 8 (the transport's default).
    Worker first(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 120s, 60s);
    Worker second(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 120s, 60s);
    ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notifications WHERE state = 'sent'") == kNotifications; }, 60s));
  }
  const auto requests = receiver.requests();
  std::map<std::string, int> posts;
  for (const auto& request : requests) ++posts[request.get_header_value("webhook-id")];
  EXPECT_EQ(requests.size(), static_cast<std::size_t>(kNotifications));
  EXPECT_EQ(posts.size(), static_cast<std::size_t>(kNotifications));
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE attempts = 1 AND jsonb_array_length(attempt_log) = 1"),
            kNotifications);

  // Both took part: the claims really overlapped.
  EXPECT_EQ(scalar("SELECT count(DISTINCT lease_owner) FROM notifications WHERE lease_owner IS NOT NULL"), 2);
}

// Claims go on from where the last full one ended in the queue's order (schema 012). A row that
// becomes due behind that position while a backlog drains (here: due an hour ago, as a late
// commit or a crashed instance's lease that ran out would be) is still claimed before the
// backlog is: a claim walks from the start again at least once a second.
TEST_F(Delivery, ARowDueBehindTheClaimsPositionIsStillSent) {
  Receiver receiver({}, 10ms);  // a backlog that lasts seconds
  const auto endpoint_id = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  constexpr int kBacklog = 3000;
  many_webhook_notifications(endpoint_id, kBacklog, "now() - interval '1 minute'");
  Worker worker(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 120s, 60s);
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notifications WHERE state = 'sent'") >= 300; }));
  const auto behind = webhook_notification(endpoint_id);
  sql("UPDATE notifications SET due_at = now() - interval '1 hour' WHERE id = '" + behind + "'");
  ASSERT_TRUE(eventually([&] { return state(behind) != "pending"; }, 60s));
  EXPECT_GT(scalar("SELECT count(*) FROM notifications WHERE state = 'pending'"), 0)
      << "claimed while the backlog still waited, not after it";
  EXPECT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notifications WHERE state = 'sent'") == kBacklog + 1; }, 60s));
}

// An outcome that comes back after another instance took the lease over (a lease that ran out
// while this one was stalled) is kept as an attempt, but leaves the row to its new owner.
TEST_F(Delivery, AnOutcomeAfterTheLeaseWasTakenOverIsKeptButLeavesTheRowToItsNewOwner) {
  Receiver slow({}, 1500ms);
  const auto id = webhook_notification(endpoint(slow.url(), convene::notifiers::generate_webhook_secret()));
  Worker worker(db.url(), "smtp://127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return state(id) == "sending"; }));
  sql("UPDATE notifications SET lease_owner = 'another-instance', lease_expires_at = now() + interval '1 hour' "
      "WHERE id = '" + id + "'");
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notification_attempts") == 1; }));
  EXPECT_EQ(text("SELECT state || ' ' || lease_owner FROM notifications WHERE id = '" + id + "'"), "sending another-instance");
  EXPECT_EQ(text("SELECT outcome FROM notification_attempts WHERE notification_id = '" + id + "'"), "sent");
  EXPECT_EQ(slow.requests().size(), 1u);
}

TEST_F(Delivery, AnEndpointOnLoopbackIsRefusedUnlessAllowlisted) {
  Receiver receiver;
  const auto id = webhook_notification(endpoint("http://localhost:" + receiver.url().substr(receiver.url().rfind(':') + 1),
                                                convene::notifiers::generate_webhook_secret()));
  Worker worker(db.url(), "smtp://127.0.0.1:1", /*allowlist=*/"");
  ASSERT_TRUE(eventually([&] { return state(id) == "dead"; }));
  EXPECT_TRUE(receiver.requests().empty());
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'permanent'"), 1);
}

// Isolation (issue 15): 2,000 webhooks queued to a receiver that answers after 9 s, then 10
// emails and 100 webhooks to a healthy receiver. The slow receiver holds only its own share
// of the slots (the rest of its rows go back to the queue at its pace), and emails are a lane
// of their own: the healthy messages are all delivered within 5 s, long before the slow
// receiver has answered even its first.
TEST_F(Delivery, ASlowReceiverHoldsOnlyItsOwnShareAndEveryoneElseIsDeliveredWithinFiveSeconds) {
  FakeSmtpServer smtp;
  Receiver slow({}, 9s, 64), healthy({}, 0ms, 8);
  const auto slow_endpoint = endpoint(slow.url(), convene::notifiers::generate_webhook_secret());
  const auto healthy_endpoint = endpoint(healthy.url(), convene::notifiers::generate_webhook_secret());
  many_webhook_notifications(slow_endpoint, 2000, "now() - interval '1 minute'");  // first in the queue
  many_webhook_notifications(healthy_endpoint, 100);
  std::vector<std::string> emails;
  for (int i = 0; i < 10; ++i) emails.push_back(email_notification("Email " + std::to_string(i)));
  const auto healthy_sent = [&] {
    return scalar("SELECT count(*) FROM notifications WHERE state = 'sent' AND (channel = 'email' OR endpoint_id = " +
                  std::to_string(healthy_endpoint) + ")");
  };
  const auto started = std::chrono::steady_clock::now();
  Worker worker(db.url(), smtp.url(), "127.0.0.0/8", 120s, 20s);
  ASSERT_TRUE(eventually([&] { return healthy_sent() == 110; }, 5s))
      << healthy_sent() << " of 110 healthy messages sent after 5 s";
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(smtp.messages().size(), 10u);
  EXPECT_EQ(healthy.requests().size(), 100u);
  EXPECT_TRUE(slow.requests().empty()) << "not one answer from the slow receiver yet";
  // The slow receiver holds at most its share: the rest of its rows wait in the queue, not in
  // memory, their attempts uncounted.
  EXPECT_LE(scalar("SELECT count(*) FROM notifications WHERE state = 'sending' AND endpoint_id = " +
                   std::to_string(slow_endpoint)),
            200);
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE state = 'pending' AND attempts > 0"), 0);
  EXPECT_GT(worker.counters().deferred, 0u);
  std::cout << "healthy messages delivered in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
}

// The database fails to record outcomes for a while (a trigger refuses them, as a blip would):
// the outcomes are kept and recorded when it works again, and the leases of the rows waiting
// for them are renewed meanwhile, so nothing is sent twice although the lease is short.
TEST_F(Delivery, OutcomesThatCouldNotBeRecordedAreKeptAndRecordedLaterWithoutSendingAgain) {
  Receiver receiver;
  const auto endpoint_id = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  sql("CREATE FUNCTION refuse_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "IF NEW.state IN ('sent', 'dead', 'pending') AND OLD.state = 'sending' THEN RAISE EXCEPTION 'blip'; END IF; "
      "RETURN NEW; END $$");
  sql("CREATE TRIGGER refuse_outcomes BEFORE UPDATE ON notifications FOR EACH ROW EXECUTE FUNCTION refuse_outcomes()");
  many_webhook_notifications(endpoint_id, 20);
  Worker worker(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 2500ms, 10s);
  ASSERT_TRUE(eventually([&] { return receiver.requests().size() == 20u; }));
  ASSERT_TRUE(eventually([&] { return worker.counters().record_failures >= 2; }));
  // Several leases long: without renewal by id the rows would be claimed and posted again.
  std::this_thread::sleep_for(7500ms);
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE state = 'sending'"), 20);
  sql("DROP TRIGGER refuse_outcomes ON notifications");
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notifications WHERE state = 'sent'") == 20; }));
  EXPECT_EQ(receiver.requests().size(), 20u) << "none sent twice";
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE attempts = 1 AND jsonb_array_length(attempt_log) = 1"), 20);
}

// Only the rows in flight have their leases renewed: a row this owner left 'sending' (an
// earlier life of the process under the same name) runs out and is delivered, although
// another message is in flight all along.
TEST_F(Delivery, OnlyTheRowsInFlightHaveTheirLeasesRenewed) {
  Receiver slow({}, 8s), receiver;
  const auto in_flight = webhook_notification(endpoint(slow.url(), convene::notifiers::generate_webhook_secret()));
  const auto orphan = webhook_notification(endpoint(receiver.url(), convene::notifiers::generate_webhook_secret()));
  sql("UPDATE notifications SET state = 'sending', attempts = 1, lease_owner = 'test-instance', "
      "lease_expires_at = now() + interval '3 seconds' WHERE id = '" + orphan + "'");
  Worker worker(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 2s, 15s,
                [](convene::jobs::DeliveryOptions& o) { o.owner = "test-instance"; });
  ASSERT_TRUE(eventually([&] { return state(in_flight) == "sending"; }));
  ASSERT_TRUE(eventually([&] { return state(orphan) == "sent"; }, 6500ms)) << "renewed along with the one in flight";
  EXPECT_EQ(state(in_flight), "sending");
  ASSERT_TRUE(eventually([&] { return state(in_flight) == "sent"; }));
  EXPECT_EQ(slow.requests().size(), 1u);
}

// A receiver whose deliveries keep timing out is a failing one: disabled once it has failed
// for the configured time, its owner told, its queued deliveries dropped.
TEST_F(Delivery, AnEndpointWhoseDeliveriesKeepTimingOutIsDisabledAndItsOwnerEmailed) {
  FakeSmtpServer smtp;
  Receiver hanging({}, 3s);
  const auto endpoint_id = endpoint(hanging.url(), convene::notifiers::generate_webhook_secret());
  sql("UPDATE webhook_endpoints SET failing_since = now() - interval '121 hours'");
  const auto id = webhook_notification(endpoint_id);
  Worker worker(db.url(), smtp.url(), "127.0.0.0/8", 120s, 500ms);
  ASSERT_TRUE(eventually([&] { return text("SELECT status FROM webhook_endpoints") == "disabled"; }));
  EXPECT_EQ(text("SELECT disabled_reason FROM webhook_endpoints"), "deliveries failed for 5 days in a row");
  EXPECT_NE(text("SELECT attempt_log->0->>'text' FROM notifications WHERE id = '" + id + "'").find("imeout"),
            std::string::npos);
  ASSERT_TRUE(smtp.wait_for_messages(1, 30s));
  EXPECT_EQ(smtp.messages().at(0).recipients, std::vector<std::string>{"ada@example.org"});
  ASSERT_TRUE(eventually([&] { return state(id) == "cancelled" || state(id) == "dead"; }));
}

// A backlog for one receiver (3,000 webhooks, one endpoint) is sent without its rows being
// claimed and put back over and over: once the receiver's share is full, the lane claims only
// what it has room for. Without that, each claim of 250 put back all but the receiver's room,
// about one and a half put-backs per webhook.
TEST_F(Delivery, ABacklogForOneReceiverIsNotClaimedAndPutBackOverAndOver) {
  Receiver receiver({}, 0ms, 8);
  const auto endpoint_id = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  constexpr int kBacklog = 3000;
  many_webhook_notifications(endpoint_id, kBacklog);
  Worker worker(db.url(), "smtp://127.0.0.1:1", "127.0.0.0/8", 120s, 20s);
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM notifications WHERE state = 'sent'") == kBacklog; }, 120s));
  EXPECT_EQ(receiver.requests().size(), static_cast<std::size_t>(kBacklog));
  EXPECT_LT(worker.counters().deferred, static_cast<std::uint64_t>(kBacklog / 2));
  std::cout << "put back " << worker.counters().deferred << " times for " << kBacklog << " webhooks\n";
}

// Emails and webhooks never wait for each other: a relay that keeps every message longer than
// the transport's 5 s timeout holds the email lane full (a budget of 40 here), and webhooks
// queued behind 200 emails are all posted before any email attempt has ended (in one lane they
// would wait for the emails' timeouts).
TEST_F(Delivery, AStalledRelayHoldsOnlyEmailsAndWebhooksGoOut) {
  FakeSmtpServer::Options stalled;
  stalled.final_reply_delay = 8s;
  FakeSmtpServer smtp(stalled);
  Receiver receiver;
  for (int i = 0; i < 200; ++i) email_notification("Email " + std::to_string(i));
  const auto endpoint_id = endpoint(receiver.url(), convene::notifiers::generate_webhook_secret());
  many_webhook_notifications(endpoint_id, 50, "now() + interval '1 second'");  // behind every email
  Worker worker(db.url(), smtp.url(), "127.0.0.0/8", 120s, 10s,
                [](convene::jobs::DeliveryOptions& o) { o.max_in_flight = 40; });
  ASSERT_TRUE(eventually([&] { return receiver.requests().size() == 50u; }))
      << receiver.requests().size() << " of 50 webhooks posted";
  const auto counters = worker.counters();
  EXPECT_EQ(counters.retried + counters.dead, 0u) << "every email was still in its first attempt";
  EXPECT_TRUE(smtp.messages().empty()) << "no email was accepted yet: the relay still holds them";
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE channel = 'email' AND attempts > 1"), 0);
}
