// The delivery transports against real servers on loopback: a fake ESMTP server
// (tests/support/fake_smtp_server) and cpp-httplib receivers. No database involved.
#include "notifiers/curl_multi.hpp"
#include "notifiers/file_transport.hpp"
#include "notifiers/smtp_transport.hpp"
#include "notifiers/webhook_transport.hpp"
#include "support/run_loop.hpp"
#include "support/fake_smtp_server.hpp"
#include "support/http_receiver.hpp"
#include "support/process.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <httplib.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

using namespace convene;
using convene::testing::Receiver;
using convene::testing::TlsFiles;
using namespace std::chrono_literals;
using notifiers::OutgoingEmail;
using notifiers::OutgoingWebhook;
using notifiers::SendResult;
using convene::testing::FakeSmtpServer;
namespace asio = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;

const char* kind_name(SendResult::Kind kind) {
  switch (kind) {
    case SendResult::Kind::sent: return "sent";
    case SendResult::Kind::transient: return "transient";
    case SendResult::Kind::permanent: return "permanent";
  }
  return "?";
}

std::string describe(const SendResult& r) {
  std::ostringstream out;
  out << kind_name(r.kind) << " " << r.code << " '" << r.detail << "'";
  if (r.retry_after) out << " retry_after=" << r.retry_after->count();
  if (r.endpoint_gone) out << " gone";
  return out.str();
}

// A loop driven by the test's own thread, with a CurlMulti on it.
class TransportLoopTest : public ::testing::Test {
 protected:
  TransportLoopTest() : work_(loop.get_executor()) {}

  template <class Predicate>
  bool run_until(Predicate done, std::chrono::milliseconds timeout = 30s) {
    return convene::testing::run_loop_until(loop, std::move(done), timeout);
  }

  // Runs the loop until `results` has `count` entries.
  bool wait_results(const std::vector<std::optional<SendResult>>& results, std::chrono::milliseconds timeout = 30s) {
    return run_until(
        [&] { return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); }); },
        timeout);
  }

  asio::io_context loop;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  const std::thread::id loop_thread = std::this_thread::get_id();
};

// ---------------------------------------------------------------- SMTP

OutgoingEmail email(int i, const std::string& body = "Hello.\r\n") {
  OutgoingEmail e;
  e.id = "n" + std::to_string(i);
  e.envelope_from = "bounces@convene.test";
  e.recipient = "member" + std::to_string(i) + "@example.test";
  e.message = "From: Convene <noreply@convene.test>\r\nTo: member" + std::to_string(i) +
              "@example.test\r\nSubject: Test " + std::to_string(i) + "\r\nMessage-ID: <n" + std::to_string(i) +
              "@convene.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body;
  return e;
}

class SmtpTransportTest : public TransportLoopTest {
 protected:
  notifiers::SmtpSettings settings() const {
    notifiers::SmtpSettings s;
    s.url = server.url();
    s.connect_timeout = 2s;
    s.timeout = 10s;
    s.max_connections = 4;
    return s;
  }

  // Sends one message and runs the loop until its result arrives.
  SendResult send_one(notifiers::EmailTransport& transport, OutgoingEmail e) {
    std::optional<SendResult> result;
    transport.send(std::move(e), [&](SendResult r) { result = std::move(r); });
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result.value_or(SendResult{});
  }

  FakeSmtpServer server;
};

TEST_F(SmtpTransportTest, ManyMessagesArriveIntactOverFewReusedConnections) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  constexpr int count = 24;
  std::vector<OutgoingEmail> sent;
  std::vector<std::optional<SendResult>> results(count);
  for (int i = 0; i < count; ++i) {
    // Lines a naive transport would break: a lone dot, leading dots, UTF-8, a long line.
    auto e = email(i, "Hi " + std::to_string(i) + ",\r\n.\r\n..two dots\r\n.leading\r\nGrüße — ☃\r\n" +
                          std::string(900, 'x') + "\r\n");
    sent.push_back(e);
    transport->send(std::move(e), [&, i](SendResult r) {
      EXPECT_EQ(std::this_thread::get_id(), loop_thread);
      results[i] = std::move(r);
    });
  }
  EXPECT_EQ(transport->in_flight(), static_cast<std::size_t>(count));
  ASSERT_TRUE(wait_results(results));
  EXPECT_EQ(transport->in_flight(), 0u);

  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(results[i]->kind, SendResult::Kind::sent) << describe(*results[i]);
    EXPECT_EQ(results[i]->code, 250) << describe(*results[i]);
  }
  auto received = server.messages();
  ASSERT_EQ(received.size(), static_cast<std::size_t>(count));
  std::map<std::string, FakeSmtpServer::Message> by_recipient;
  for (auto& m : received) {
    ASSERT_EQ(m.recipients.size(), 1u);
    by_recipient[m.recipients[0]] = m;
  }
  for (const auto& e : sent) {
    ASSERT_TRUE(by_recipient.contains(e.recipient)) << e.recipient;
    EXPECT_EQ(by_recipient[e.recipient].data, e.message);
    EXPECT_EQ(by_recipient[e.recipient].mail_from, e.envelope_from);
  }
  EXPECT_LE(server.connections(), 4u) << "connections are reused, at most max_connections at once";

  // A second wave, one at a time, rides the connections already open.
  const auto before = server.connections();
  for (int i = 100; i < 110; ++i) EXPECT_TRUE(send_one(*transport, email(i)).ok());
  EXPECT_EQ(server.connections(), before);
}

// libcurl 7.88 waits for the reply to a message's final dot blocking: with every connection
// on one thread they would wait in turn. A relay slow to answer sees them wait together.
TEST_F(SmtpTransportTest, ConnectionsWaitForTheirFinalRepliesAtTheSameTime) {
  FakeSmtpServer slow({.final_reply_delay = 300ms});
  auto s = settings();
  s.url = slow.url();
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), s);
  constexpr int count = 8;
  std::vector<std::optional<SendResult>> results(count);
  for (int i = 0; i < count; ++i) transport->send(email(i), [&, i](SendResult r) { results[i] = std::move(r); });
  ASSERT_TRUE(wait_results(results, 60s));
  for (const auto& r : results) EXPECT_TRUE(r->ok()) << describe(*r);
  EXPECT_EQ(slow.messages().size(), static_cast<std::size_t>(count));
  EXPECT_GE(slow.peak_final_replies_pending(), 2u) << "the 4 connections waited one at a time";
  EXPECT_LE(slow.peak_final_replies_pending(), 4u) << "no more than max_connections at once";
}

TEST_F(SmtpTransportTest, A451IsTransientWithItsCode) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  server.fail_next("RCPT", 451, "4.3.0 Try again later");
  auto r = send_one(*transport, email(1));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 451);
  EXPECT_NE(r.detail.find("Try again later"), std::string::npos) << r.detail;
  EXPECT_TRUE(server.messages().empty());

  EXPECT_TRUE(send_one(*transport, email(2)).ok()) << "the next message goes through";
  EXPECT_EQ(server.messages().size(), 1u);
}

TEST_F(SmtpTransportTest, A550IsPermanent) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  server.fail_next("RCPT", 550, "5.1.1 No such user here");
  auto r = send_one(*transport, email(1));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_EQ(r.code, 550);
  EXPECT_NE(r.detail.find("No such user"), std::string::npos) << r.detail;

  server.fail_next("END", 554, "5.6.0 Message rejected");
  r = send_one(*transport, email(2));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_EQ(r.code, 554);

  server.fail_next("MAIL", 452, "4.3.1 Insufficient system storage");
  r = send_one(*transport, email(3));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 452);
  EXPECT_TRUE(server.messages().empty());
}

// Whether a refusal is the recipient's (and suppresses the address) comes from the command
// it answered, not from its text.
TEST_F(SmtpTransportTest, OnlyA5xxToRcptOrToTheMessageRefusesTheRecipient) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  server.fail_next("RCPT", 550, "5.1.1 No such user here");
  auto r = send_one(*transport, email(1));
  EXPECT_TRUE(r.recipient_refused) << describe(r);
  server.fail_next("DATA", 554, "5.5.1 No valid recipients");
  r = send_one(*transport, email(2));
  EXPECT_TRUE(r.recipient_refused) << describe(r);
  server.fail_next("END", 550, "5.2.1 Mailbox disabled");
  r = send_one(*transport, email(3));
  EXPECT_TRUE(r.recipient_refused) << describe(r);

  server.fail_next("MAIL", 553, "5.7.1 Sender address rejected");
  r = send_one(*transport, email(4));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_FALSE(r.recipient_refused) << describe(r);
  server.fail_next("RCPT", 535, "5.7.8 Authentication credentials invalid");
  r = send_one(*transport, email(5));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_FALSE(r.recipient_refused) << describe(r);
  server.fail_next("RCPT", 450, "4.2.1 Mailbox busy");
  r = send_one(*transport, email(6));
  EXPECT_FALSE(r.recipient_refused) << describe(r);
  server.fail_next("CONNECT", 554, "5.3.2 Not accepting mail now");
  r = send_one(*transport, email(7));
  EXPECT_FALSE(r.recipient_refused) << describe(r);
  r = send_one(*transport, email(8));
  EXPECT_TRUE(r.ok()) << describe(r);
  EXPECT_FALSE(r.recipient_refused);
}

TEST_F(SmtpTransportTest, RefusalsOfTheSessionAreTransientEvenWith5xx) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  server.fail_next("CONNECT", 554, "5.3.2 Not accepting mail now");
  auto r = send_one(*transport, email(1));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 554);

  server.fail_next("CONNECT", 421, "4.3.2 Too busy");
  r = send_one(*transport, email(2));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 421);
  EXPECT_TRUE(send_one(*transport, email(3)).ok());
}

TEST_F(SmtpTransportTest, ServerDownIsTransientThenUpIsSent) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  EXPECT_TRUE(send_one(*transport, email(1)).ok());  // leaves a cached connection behind

  server.stop_accepting();
  auto r = send_one(*transport, email(2));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 0);
  r = send_one(*transport, email(3));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);

  server.start_accepting();
  r = send_one(*transport, email(4));
  EXPECT_TRUE(r.ok()) << describe(r);
  auto received = server.messages();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[1].recipients, std::vector<std::string>{"member4@example.test"});
}

TEST_F(SmtpTransportTest, ADroppedConnectionIsTransient) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  server.drop_next("DATA");
  auto r = send_one(*transport, email(1));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 0);
  server.drop_next("END");  // the message went out, the reply never came: transient (a duplicate is harmless)
  r = send_one(*transport, email(2));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  r = send_one(*transport, email(3));
  EXPECT_TRUE(r.ok()) << describe(r);
}

TEST_F(SmtpTransportTest, AHangingRelayNeverStallsTheCallersLoop) {
  auto s = settings();
  s.timeout = 1500ms;
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), s);
  server.hang_next("END");  // libcurl waits for this reply blocking: on the transport's own thread
  asio::steady_timer tick(loop);
  Clock::duration longest_gap{};
  auto last = Clock::now();
  std::function<void()> arm = [&] {
    tick.expires_after(10ms);
    tick.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      longest_gap = std::max(longest_gap, Clock::now() - last);
      last = Clock::now();
      arm();
    });
  };
  arm();
  const auto started = Clock::now();
  auto r = send_one(*transport, email(1));
  const auto took = Clock::now() - started;
  tick.cancel();
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_NE(r.detail.find("imeout"), std::string::npos) << r.detail;
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(longest_gap * 5, took) << "the loop kept running while the relay hung";

  // The hung connection is not reused for the next message.
  r = send_one(*transport, email(2));
  EXPECT_TRUE(r.ok()) << describe(r);
}

TEST_F(SmtpTransportTest, RequiredTlsWithoutStartTlsSendsNothing) {
  auto s = settings();
  s.require_tls = true;
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), s);
  auto r = send_one(*transport, email(1));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_TRUE(server.messages().empty());
}

TEST_F(SmtpTransportTest, AnEnvelopeAddressWithCrLfIsRefusedWithoutAConnection) {
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), settings());
  auto e = email(1);
  e.recipient = "a@example.test>\r\nRCPT TO:<b@example.test";
  auto r = send_one(*transport, e);
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_EQ(server.connections(), 0u);
  EXPECT_THROW(notifiers::make_smtp_transport(loop.get_executor(), {.url = "http://relay.test"}), std::invalid_argument);
}

class SmtpAuthTest : public TransportLoopTest {
 protected:
  SendResult send_one(notifiers::EmailTransport& transport, OutgoingEmail e) {
    std::optional<SendResult> result;
    transport.send(std::move(e), [&](SendResult r) { result = std::move(r); });
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result.value_or(SendResult{});
  }
  FakeSmtpServer server{{.user = "mailer", .password = "s3cret-pw"}};
};

// A relay that offers AUTH without TLS never gets the password: with credentials configured
// the transport insists on STARTTLS (SmtpTls.* has AUTH over TLS). Without credentials such a
// relay's 530 is transient.
TEST_F(SmtpAuthTest, CredentialsAreNeverSentInClearText) {
  notifiers::SmtpSettings s{.url = server.url(), .user = "mailer", .password = "s3cret-pw"};
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), s);
  auto r = send_one(*transport, email(1));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.detail.find("s3cret-pw"), std::string::npos) << r.detail;
  EXPECT_TRUE(server.messages().empty());
  for (const auto& entry : server.transcript()) EXPECT_EQ(entry.rfind("AUTH", 0), std::string::npos) << entry;

  s.user.clear();
  s.password.clear();
  auto anonymous = notifiers::make_smtp_transport(loop.get_executor(), s);
  r = send_one(*anonymous, email(3));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 530);
  EXPECT_TRUE(server.messages().empty());
}

// ---------------------------------------------------------------- file transport

using FileTransportTest = TransportLoopTest;

TEST_F(FileTransportTest, WritesIdEmlAtomicallyAndOverwrites) {
  const auto state = std::filesystem::temp_directory_path() / ("convene-mail-" + std::to_string(::getpid()));
  std::filesystem::remove_all(state);
  asio::thread_pool blocking(1);
  auto transport = notifiers::make_file_transport(state, loop.get_executor(), blocking.get_executor());

  auto send = [&](OutgoingEmail e) {
    std::optional<SendResult> result;
    transport->send(std::move(e), [&](SendResult r) {
      EXPECT_EQ(std::this_thread::get_id(), loop_thread);
      result = std::move(r);
    });
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result.value_or(SendResult{});
  };
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };

  auto first = email(7);
  auto r = send(first);
  ASSERT_TRUE(r.ok()) << describe(r);
  const auto file = state / "mail" / "n7.eml";
  EXPECT_EQ(r.detail, file.string());
  EXPECT_EQ(read(file), first.message);
  struct stat before{};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);

  auto again = email(7, "A second attempt, same id.\r\n");
  ASSERT_TRUE(send(again).ok());
  EXPECT_EQ(read(file), again.message);
  struct stat after{};
  ASSERT_EQ(::stat(file.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino) << "replaced by a rename, not rewritten in place";

  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(state / "mail")) names.push_back(entry.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"n7.eml"}) << "no temporary files left";

  auto hostile = email(8);
  hostile.id = "../escape";
  r = send(hostile);
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_FALSE(std::filesystem::exists(state / "escape.eml"));

  blocking.join();
  std::filesystem::remove_all(state);
}

// ---------------------------------------------------------------- webhooks

// A certificate for 127.0.0.1 and localhost, made with the openssl command in a fresh directory.
TlsFiles make_certificate(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  TlsFiles files{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  const auto made = convene::testing::run_command(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
       "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", files.key, "-out", files.cert});
  EXPECT_EQ(made.exit_code, 0) << made.output;
  return files;
}

bool is_loopback(const sockaddr* address) {
  if (address->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr) >> 24) == 127;
  if (address->sa_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(address);
    return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) || IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr);
  }
  return false;
}

std::string http_date(std::time_t when) {
  char text[64];
  std::tm tm{};
  gmtime_r(&when, &tm);
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return text;
}

OutgoingWebhook webhook(const std::string& url, int i = 1) {
  OutgoingWebhook w;
  w.id = "msg_" + std::to_string(i);
  w.url = url;
  w.body = R"({"type":"meeting.scheduled","data":{"n":)" + std::to_string(i) + "}}";
  w.headers = {{"webhook-id", w.id}, {"webhook-timestamp", "1790000000"}, {"webhook-signature", "v1,abc="}};
  return w;
}

class WebhookTransportTest : public TransportLoopTest {
 protected:
  notifiers::WebhookSettings settings() const {
    notifiers::WebhookSettings s;
    s.allowed = [](const sockaddr*) { return true; };
    s.connect_timeout = 2s;
    s.timeout = 10s;
    return s;
  }
  SendResult post_one(notifiers::WebhookTransport& transport, OutgoingWebhook w) {
    std::optional<SendResult> result;
    transport.post(std::move(w), [&](SendResult r) {
      EXPECT_EQ(std::this_thread::get_id(), loop_thread);
      result = std::move(r);
    });
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result.value_or(SendResult{});
  }

  notifiers::CurlMulti multi{loop.get_executor()};
};

TEST_F(WebhookTransportTest, A2xxIsSentWithBodyAndHeadersIntact) {
  Receiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  auto transport = notifiers::make_webhook_transport(multi, settings());
  auto w = webhook(receiver.url(), 5);
  auto r = post_one(*transport, w);
  EXPECT_EQ(r.kind, SendResult::Kind::sent) << describe(r);
  EXPECT_EQ(r.code, 204);
  auto req = receiver.last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/hook");
  EXPECT_EQ(req.body, w.body);
  EXPECT_EQ(req.get_header_value("webhook-id"), "msg_5");
  EXPECT_EQ(req.get_header_value("webhook-timestamp"), "1790000000");
  EXPECT_EQ(req.get_header_value("webhook-signature"), "v1,abc=");
  EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
}

TEST_F(WebhookTransportTest, HttpsIsVerified) {
  const auto dir = std::filesystem::temp_directory_path() / ("convene-tls-" + std::to_string(::getpid()));
  const TlsFiles tls = make_certificate(dir);
  Receiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 200; }, 4, tls);

  auto unverified = notifiers::make_webhook_transport(multi, settings());
  auto r = post_one(*unverified, webhook(receiver.url()));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(receiver.hits(), 0) << "an unknown certificate authority is refused";

  auto s = settings();
  s.ca_file = tls.cert;
  auto verified = notifiers::make_webhook_transport(multi, s);
  r = post_one(*verified, webhook(receiver.url()));
  EXPECT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(receiver.hits(), 1);
  std::filesystem::remove_all(dir);
}

TEST_F(WebhookTransportTest, StatusesAreClassified) {
  Receiver receiver([](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/500") {
      res.status = 500;
      res.set_content("database on fire", "text/plain");
    } else if (req.path == "/410") {
      res.status = 410;
    } else if (req.path == "/429") {
      res.status = 429;
      res.set_header("Retry-After", "7");
    } else if (req.path == "/503-date") {
      res.status = 503;
      res.set_header("Retry-After", http_date(std::time(nullptr) + 120));
    } else if (req.path == "/408") {
      res.status = 408;
    } else if (req.path == "/400") {
      res.status = 400;
    } else {
      res.status = 200;
    }
  });
  auto transport = notifiers::make_webhook_transport(multi, settings());

  auto r = post_one(*transport, webhook(receiver.url("/500")));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 500);
  EXPECT_NE(r.detail.find("database on fire"), std::string::npos) << r.detail;
  EXPECT_FALSE(r.retry_after);

  r = post_one(*transport, webhook(receiver.url("/410")));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_EQ(r.code, 410);
  EXPECT_TRUE(r.endpoint_gone);

  r = post_one(*transport, webhook(receiver.url("/429")));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 429);
  ASSERT_TRUE(r.retry_after);
  EXPECT_EQ(*r.retry_after, 7s);

  r = post_one(*transport, webhook(receiver.url("/503-date")));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  ASSERT_TRUE(r.retry_after) << describe(r);
  EXPECT_GE(*r.retry_after, 100s);
  EXPECT_LE(*r.retry_after, 121s);

  r = post_one(*transport, webhook(receiver.url("/408")));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);

  r = post_one(*transport, webhook(receiver.url("/400")));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_FALSE(r.endpoint_gone);

  EXPECT_TRUE(post_one(*transport, webhook(receiver.url("/ok"))).ok());
}

TEST_F(WebhookTransportTest, ARedirectIsNotFollowedAndFails) {
  std::atomic<int> elsewhere{0};
  Receiver receiver([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/hook") {
      res.status = 302;
      res.set_header("Location", "/elsewhere");
    } else {
      ++elsewhere;
      res.status = 200;
    }
  });
  auto transport = notifiers::make_webhook_transport(multi, settings());
  auto r = post_one(*transport, webhook(receiver.url()));
  EXPECT_FALSE(r.ok()) << describe(r);
  EXPECT_EQ(r.code, 302);
  EXPECT_NE(r.detail.find("/elsewhere"), std::string::npos) << r.detail;
  EXPECT_EQ(elsewhere.load(), 0);
}

TEST_F(WebhookTransportTest, AHangingReceiverDoesNotDelayAnother) {
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  Receiver hanging([&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, 30s, [&] { return release; });
    res.status = 200;
  });
  Receiver fast([](const httplib::Request&, httplib::Response& res) { res.status = 200; });

  auto s = settings();
  s.timeout = 2s;
  auto transport = notifiers::make_webhook_transport(multi, s);
  const auto started = Clock::now();
  std::optional<SendResult> slow_result;
  Clock::duration slow_elapsed{};
  transport->post(webhook(hanging.url()), [&](SendResult r) {
    slow_elapsed = Clock::now() - started;
    slow_result = std::move(r);
  });
  constexpr int count = 5;
  std::vector<std::optional<SendResult>> fast_results(count);
  std::vector<Clock::duration> fast_elapsed(count);
  for (int i = 0; i < count; ++i)
    transport->post(webhook(fast.url(), i), [&, i](SendResult r) {
      fast_elapsed[i] = Clock::now() - started;
      fast_results[i] = std::move(r);
    });

  ASSERT_TRUE(run_until([&] { return slow_result.has_value(); }));
  ASSERT_TRUE(wait_results(fast_results));
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();

  EXPECT_EQ(slow_result->kind, SendResult::Kind::transient) << describe(*slow_result);
  EXPECT_EQ(slow_result->code, 0);
  const auto slowest_fast = *std::max_element(fast_elapsed.begin(), fast_elapsed.end());
  for (const auto& r : fast_results) EXPECT_TRUE(r->ok()) << describe(*r);
  EXPECT_LT(slowest_fast * 4, slow_elapsed) << "the fast receiver finished well inside the hanging one's timeout";
}

TEST_F(WebhookTransportTest, TheResolvedAddressIsCheckedNotTheName) {
  Receiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  const std::string by_name = "http://localhost:" + std::to_string(receiver.port()) + "/hook";
  const std::string mapped = "http://hooks.example.test:" + std::to_string(receiver.port()) + "/hook";

  auto s = settings();
  std::atomic<int> checked{0};
  s.allowed = [&](const sockaddr* address) {
    ++checked;
    return !is_loopback(address);
  };
  s.resolve = {"hooks.example.test:" + std::to_string(receiver.port()) + ":127.0.0.1"};
  auto guarded = notifiers::make_webhook_transport(multi, s);
  auto r = post_one(*guarded, webhook(by_name));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.detail.find("address not allowed"), std::string::npos) << r.detail;
  r = post_one(*guarded, webhook(mapped));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_NE(r.detail.find("127.0.0.1"), std::string::npos) << r.detail;
  EXPECT_GE(checked.load(), 2);
  EXPECT_EQ(receiver.hits(), 0);

  s.allowed = [](const sockaddr* address) { return is_loopback(address); };  // an operator's allowlist
  auto allowed = notifiers::make_webhook_transport(multi, s);
  r = post_one(*allowed, webhook(by_name));
  EXPECT_TRUE(r.ok()) << describe(r);
  r = post_one(*allowed, webhook(mapped));
  EXPECT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(receiver.hits(), 2);

  EXPECT_THROW(notifiers::make_webhook_transport(multi, {}), std::invalid_argument);
}

TEST_F(WebhookTransportTest, ThreeHundredInFlightOnOneThreadBoundedPerHost) {
  std::mutex mutex;
  int active = 0, peak = 0;
  Receiver receiver(
      [&](const httplib::Request&, httplib::Response& res) {
        {
          std::lock_guard lock(mutex);
          peak = std::max(peak, ++active);
        }
        std::this_thread::sleep_for(5ms);
        {
          std::lock_guard lock(mutex);
          --active;
        }
        res.status = 200;
      },
      24);
  notifiers::CurlMulti bounded(loop.get_executor(), {.max_host_connections = 8});
  auto transport = notifiers::make_webhook_transport(bounded, settings());
  constexpr int count = 300;
  std::vector<std::optional<SendResult>> results(count);
  for (int i = 0; i < count; ++i)
    transport->post(webhook(receiver.url(), i), [&, i](SendResult r) { results[i] = std::move(r); });
  // Only a free connection's worth reach libcurl; the rest wait in the transport.
  EXPECT_EQ(bounded.in_flight(), 8u);
  EXPECT_EQ(transport->in_flight(), static_cast<std::size_t>(count));
  ASSERT_TRUE(wait_results(results, 60s));
  for (const auto& r : results) ASSERT_TRUE(r->ok()) << describe(*r);
  EXPECT_EQ(receiver.hits(), count);
  EXPECT_EQ(bounded.in_flight(), 0u);
  EXPECT_GT(peak, 1) << "transfers ran concurrently";
  EXPECT_LE(peak, 8) << "no more than max_host_connections at once";
  EXPECT_LE(receiver.connections(), 16u) << "connections were reused";
}

TEST_F(WebhookTransportTest, HundredsInFlightOnOneThread) {
  // 20 receivers, 10 calls each, 10 connections per host: 200 transfers at once in libcurl,
  // all driven by the test's one thread.
  std::atomic<int> active{0}, peak{0};
  const auto handler = [&](const httplib::Request&, httplib::Response& res) {
    const int now = ++active;
    for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(200ms);
    --active;
    res.status = 200;
  };
  std::vector<std::unique_ptr<Receiver>> receivers;
  for (int i = 0; i < 20; ++i) receivers.push_back(std::make_unique<Receiver>(handler, 12));
  notifiers::CurlMulti unbounded(loop.get_executor(), {.max_host_connections = 0});
  auto s = settings();
  s.max_host_connections = 10;
  auto transport = notifiers::make_webhook_transport(unbounded, s);
  constexpr int count = 200;
  std::vector<std::optional<SendResult>> results(count);
  for (int i = 0; i < count; ++i)
    transport->post(webhook(receivers[i % 20]->url(), i), [&, i](SendResult r) { results[i] = std::move(r); });
  EXPECT_EQ(unbounded.in_flight(), static_cast<std::size_t>(count)) << "all of them are libcurl's at once";
  ASSERT_TRUE(wait_results(results, 60s));
  for (const auto& r : results) ASSERT_TRUE(r->ok()) << describe(*r);
  for (const auto& receiver : receivers) EXPECT_EQ(receiver->hits(), count / 20);
  EXPECT_GT(peak.load(), 50) << "many ran at once";
}

TEST_F(WebhookTransportTest, CallsWaitingForAConnectionDoNotUseUpTheirTimeout) {
  // Each request takes 400 ms and may take 2 s; with 2 connections, 8 calls take four rounds.
  // Had they waited inside libcurl, the last ones' 2 s would have run out before they started.
  Receiver receiver([](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(400ms);
    res.status = 200;
  });
  auto s = settings();
  s.timeout = 2s;
  s.max_host_connections = 2;
  auto transport = notifiers::make_webhook_transport(multi, s);
  constexpr int count = 8;
  std::vector<std::optional<SendResult>> results(count);
  const auto started = Clock::now();
  for (int i = 0; i < count; ++i)
    transport->post(webhook(receiver.url(), i), [&, i](SendResult r) { results[i] = std::move(r); });
  ASSERT_TRUE(wait_results(results, 60s));
  for (const auto& r : results) EXPECT_TRUE(r->ok()) << describe(*r);
  EXPECT_GE(Clock::now() - started, 1500ms) << "four rounds of two";
  EXPECT_EQ(receiver.hits(), count);
}

TEST_F(WebhookTransportTest, ALargeResponseBodyIsCutWithoutBreakingAnything) {
  const std::string huge(1 << 20, 'z');
  Receiver receiver([&](const httplib::Request& req, httplib::Response& res) {
    res.status = req.path == "/fail" ? 502 : 200;
    res.set_content(huge, "text/plain");
  });
  auto s = settings();
  s.max_response_bytes = 4096;
  auto transport = notifiers::make_webhook_transport(multi, s);
  auto r = post_one(*transport, webhook(receiver.url()));
  EXPECT_TRUE(r.ok()) << describe(r);
  EXPECT_LE(r.detail.size(), 500u);
  r = post_one(*transport, webhook(receiver.url("/fail")));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 502);
  EXPECT_NE(r.detail.find("zzzz"), std::string::npos);
  EXPECT_LE(r.detail.size(), 500u);
  EXPECT_TRUE(post_one(*transport, webhook(receiver.url())).ok());
}

TEST_F(WebhookTransportTest, BadUrlsAndHeadersArePermanent) {
  Receiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  auto transport = notifiers::make_webhook_transport(multi, settings());
  auto w = webhook(receiver.url());
  w.headers.emplace_back("X-Evil", "a\r\nInjected: yes");
  auto r = post_one(*transport, w);
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);

  r = post_one(*transport, webhook("ftp://127.0.0.1:" + std::to_string(receiver.port()) + "/x"));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  r = post_one(*transport, webhook("file:///etc/passwd"));
  EXPECT_EQ(r.kind, SendResult::Kind::permanent) << describe(r);
  EXPECT_EQ(receiver.hits(), 0);

  int closed_port = 0;
  {
    Receiver gone([](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    closed_port = gone.port();
  }
  r = post_one(*transport, webhook("http://127.0.0.1:" + std::to_string(closed_port) + "/hook"));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << "nobody listening: " << describe(r);
  EXPECT_EQ(r.code, 0);
}

using CurlMultiTest = TransportLoopTest;

// Between transfers a connection's socket stays registered with the loop (parked). A receiver
// that closes an idle kept-alive connection (this one after 1 s) makes it readable while parked:
// the next post must go out on a new connection, not wait on the dead one until its timeout
// (libcurl's check before reuse finds it dead; parking must not hide that or hang).
TEST_F(WebhookTransportTest, AConnectionTheReceiverClosedWhileIdleIsNotReused) {
  Receiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  auto transport = notifiers::make_webhook_transport(multi, settings());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(post_one(*transport, webhook(receiver.url(), i)).kind, SendResult::Kind::sent);
  EXPECT_EQ(receiver.connections(), 1u) << "kept alive and reused";
  run_until([] { return false; }, 2500ms);  // the receiver's keep-alive timeout passes
  const auto r = post_one(*transport, webhook(receiver.url(), 4));
  EXPECT_EQ(r.kind, SendResult::Kind::sent) << describe(r);
  EXPECT_EQ(receiver.connections(), 2u);
}

std::size_t open_descriptors() {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}));
}

// Sockets are closed by the multi (libcurl's close callback), parked or not: none is left open
// once it is gone.
TEST_F(CurlMultiTest, EverySocketIsClosedWhenItGoes) {
  Receiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  // The loop's own descriptors (epoll, its timer and wake-up) are made on first use.
  asio::steady_timer first_use(loop, 1ms);
  bool waited = false;
  first_use.async_wait([&](const boost::system::error_code&) { waited = true; });
  ASSERT_TRUE(run_until([&] { return waited; }));
  const std::size_t before = open_descriptors();
  {
    notifiers::CurlMulti multi(loop.get_executor(), notifiers::CurlOptions{.max_host_connections = 4});
    notifiers::WebhookSettings s;
    s.allowed = [](const sockaddr*) { return true; };
    s.max_host_connections = 4;
    auto transport = notifiers::make_webhook_transport(multi, s);
    int sent = 0;
    for (int i = 0; i < 40; ++i)
      transport->post(webhook(receiver.url(), i), [&](SendResult r) { sent += r.ok() ? 1 : 0; });
    ASSERT_TRUE(run_until([&] { return sent == 40; }));
    EXPECT_GT(open_descriptors(), before) << "connections kept for reuse";
  }
  // The receiver closes its ends when it sees ours closed.
  EXPECT_TRUE(run_until([&] { return open_descriptors() <= before; }, 10s)) << open_descriptors() << " > " << before;
}

TEST_F(CurlMultiTest, DestroyingItWithTransfersInFlightDropsThem) {
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  Receiver hanging([&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, 30s, [&] { return release; });
    res.status = 200;
  });
  int called = 0;
  {
    notifiers::CurlMulti multi(loop.get_executor());
    notifiers::WebhookSettings s;
    s.allowed = [](const sockaddr*) { return true; };
    auto transport = notifiers::make_webhook_transport(multi, s);
    for (int i = 0; i < 3; ++i) transport->post(webhook(hanging.url(), i), [&](SendResult) { ++called; });
    run_until([&] { return hanging.hits() == 3; }, 5s);
    EXPECT_EQ(multi.in_flight(), 3u);
  }
  run_until([] { return false; }, 200ms);
  EXPECT_EQ(called, 0);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
}

}  // namespace
