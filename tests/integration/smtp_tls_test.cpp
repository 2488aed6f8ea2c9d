// The SMTP transport over TLS, end to end, against the fake relay on loopback
// (tests/support/fake_smtp_server) with a throwaway CA made for the test run: STARTTLS, SMTPS,
// smtp_require_tls, certificate verification with SmtpSettings::ca_file, AUTH over TLS. The
// point of each test is what the relay saw: that the envelope, the credentials and the message
// never crossed the connection in clear text when they must not. No database involved.
#include "notifiers/smtp_transport.hpp"
#include "support/fake_smtp_server.hpp"
#include "support/run_loop.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace convene;
using namespace std::chrono_literals;
using convene::testing::FakeSmtpServer;
using notifiers::OutgoingEmail;
using notifiers::SendResult;
namespace asio = boost::asio;

namespace {

using Tls = FakeSmtpServer::Tls;

std::string describe(const SendResult& r) {
  std::ostringstream out;
  out << (r.kind == SendResult::Kind::sent ? "sent" : r.kind == SendResult::Kind::transient ? "transient" : "permanent")
      << " " << r.code << " '" << r.detail << "'";
  return out.str();
}

std::string join(const std::vector<std::string>& entries) {
  std::string out;
  for (const auto& e : entries) out += (out.empty() ? "" : " | ") + e;
  return out;
}

bool has(const std::vector<std::string>& transcript, const std::string& entry) {
  return std::find(transcript.begin(), transcript.end(), entry) != transcript.end();
}

// The message bytes are compared exactly: dots that need stuffing, UTF-8, lines at the RFC 5322
// limit, and a body larger than several TLS records.
OutgoingEmail email(int i, bool large = false) {
  std::string body = "Hello " + std::to_string(i) + ",\r\n.\r\n..two dots\r\n.leading\r\nGrüße — ☃\r\n" +
                     std::string(998, 'x') + "\r\n";
  if (large)
    for (int line = 0; line < 3000; ++line) body += std::to_string(line) + " " + std::string(70, 'a' + line % 26) + "\r\n";
  OutgoingEmail e;
  e.id = "n" + std::to_string(i);
  e.envelope_from = "bounces@convene.test";
  e.recipient = "member" + std::to_string(i) + "@example.test";
  e.message = "From: Convene <noreply@convene.test>\r\nTo: member" + std::to_string(i) +
              "@example.test\r\nSubject: TLS " + std::to_string(i) + "\r\nMessage-ID: <n" + std::to_string(i) +
              "@convene.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n\r\n" + body;
  return e;
}

class SmtpTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("convene-smtp-tls-" + std::to_string(::getpid()));
    pki_ = convene::testing::make_test_pki(dir_);
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  SmtpTls() : work_(loop.get_executor()) {}

  static std::unique_ptr<FakeSmtpServer> relay(Tls tls, std::string user = "", std::string password = "",
                                               std::string mechanisms = "PLAIN LOGIN") {
    FakeSmtpServer::Options o;
    o.tls = tls;
    o.user = std::move(user);
    o.password = std::move(password);
    o.cert_file = pki_.cert_file.string();
    o.key_file = pki_.key_file.string();
    o.auth_mechanisms = std::move(mechanisms);
    return std::make_unique<FakeSmtpServer>(std::move(o));
  }

  // Generous timeouts: two loaded cores; no test waits for one to expire.
  static notifiers::SmtpSettings settings(const FakeSmtpServer& server) {
    notifiers::SmtpSettings s;
    s.url = server.url();
    s.ca_file = pki_.ca_file.string();
    s.connect_timeout = 15s;
    s.timeout = 30s;
    s.max_connections = 1;
    return s;
  }

  // The same, logging in as "mailer"; TLS required unless `require_tls` is false.
  static notifiers::SmtpSettings authenticated(const FakeSmtpServer& server, std::string password,
                                               bool require_tls = true) {
    auto s = settings(server);
    s.require_tls = require_tls;
    s.user = "mailer";
    s.password = std::move(password);
    return s;
  }

  template <class Predicate>
  bool run_until(Predicate done, std::chrono::milliseconds timeout = 60s) {
    return convene::testing::run_loop_until(loop, std::move(done), timeout);
  }

  SendResult send_one(const notifiers::SmtpSettings& s, OutgoingEmail e) {
    auto transport = notifiers::make_smtp_transport(loop.get_executor(), s);
    std::optional<SendResult> result;
    transport->send(std::move(e), [&](SendResult r) { result = std::move(r); });
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result.value_or(SendResult{});
  }

  // A refusal before anything of the message left: transient, and the relay saw no envelope.
  static void expect_nothing_sent(const SendResult& r, const FakeSmtpServer& server) {
    EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
    const auto transcript = server.transcript();
    EXPECT_FALSE(has(transcript, "MAIL")) << join(transcript);
    EXPECT_EQ(server.mail_commands_in_clear(), 0u);
    EXPECT_TRUE(server.messages().empty());
  }

  static inline std::filesystem::path dir_;
  static inline convene::testing::TestPki pki_;
  asio::io_context loop;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
};

// ---------------------------------------------------------------- STARTTLS and SMTPS

TEST_F(SmtpTls, StartTlsComesBeforeTheEnvelopeAndEhloIsRepeated) {
  for (const bool require : {false, true}) {
    SCOPED_TRACE(require ? "smtp_require_tls = true" : "smtp_require_tls = false");
    auto server = relay(Tls::starttls);
    auto s = settings(*server);
    s.require_tls = require;
    const auto r = send_one(s, email(1));
    ASSERT_TRUE(r.ok()) << describe(r);

    const auto t = server->transcript();
    ASSERT_GE(t.size(), 6u) << join(t);
    EXPECT_EQ(t[0], "CONNECT") << join(t);
    EXPECT_EQ(t[1], "EHLO") << join(t);
    EXPECT_EQ(t[2], "STARTTLS") << join(t);
    EXPECT_TRUE(t[3] == "TLS TLSv1.3" || t[3] == "TLS TLSv1.2") << join(t);
    EXPECT_EQ(t[4], "EHLO") << "the client must start again after the handshake: " << join(t);
    EXPECT_EQ(t[5], "MAIL") << join(t);
    EXPECT_FALSE(has(t, "PIPELINED-STARTTLS")) << join(t);
    EXPECT_EQ(server->mail_commands_in_clear(), 0u);
    ASSERT_EQ(server->messages().size(), 1u);
    EXPECT_TRUE(server->messages()[0].tls);
  }
}

TEST_F(SmtpTls, MessagesOverTlsArriveByteForByteOnReusedConnections) {
  auto server = relay(Tls::starttls);
  auto s = settings(*server);
  s.require_tls = true;
  s.max_connections = 3;
  auto transport = notifiers::make_smtp_transport(loop.get_executor(), s);
  constexpr int count = 12;
  std::map<std::string, std::string> sent;  // recipient -> message
  std::vector<std::optional<SendResult>> results(count);
  for (int i = 0; i < count; ++i) {
    auto e = email(i, /*large=*/i % 4 == 0);  // some of ~230 KB: many TLS records
    sent[e.recipient] = e.message;
    transport->send(std::move(e), [&results, i](SendResult r) { results[i] = std::move(r); });
  }
  ASSERT_TRUE(run_until([&] { return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); }); }));
  for (const auto& r : results) EXPECT_TRUE(r->ok()) << describe(*r);

  const auto received = server->messages();
  ASSERT_EQ(received.size(), static_cast<std::size_t>(count));
  for (const auto& m : received) {
    ASSERT_EQ(m.recipients.size(), 1u);
    EXPECT_TRUE(m.tls) << m.recipients[0];
    EXPECT_EQ(m.mail_from, "bounces@convene.test");
    EXPECT_TRUE(m.data == sent.at(m.recipients[0])) << "the bytes of the message to " << m.recipients[0] << " differ";
  }
  EXPECT_EQ(server->mail_commands_in_clear(), 0u);
  EXPECT_LE(server->connections(), 3u) << "TLS connections are reused";
  EXPECT_EQ(server->tls_sessions(), server->connections());
}

TEST_F(SmtpTls, SmtpsIsTlsFromTheFirstByte) {
  for (const bool require : {false, true}) {
    SCOPED_TRACE(require ? "smtp_require_tls = true" : "smtp_require_tls = false");
    auto server = relay(Tls::implicit);
    ASSERT_EQ(server->url().rfind("smtps://", 0), 0u);
    auto s = settings(*server);
    s.require_tls = require;
    const auto sent = email(2, /*large=*/true);
    const auto r = send_one(s, sent);
    ASSERT_TRUE(r.ok()) << describe(r);

    const auto t = server->transcript();
    ASSERT_GE(t.size(), 4u) << join(t);
    EXPECT_EQ(t[0], "CONNECT") << join(t);
    EXPECT_EQ(t[1].rfind("TLS TLSv1.", 0), 0u) << "the handshake comes before the greeting: " << join(t);
    EXPECT_EQ(t[2], "EHLO") << join(t);
    EXPECT_EQ(t[3], "MAIL") << join(t);
    EXPECT_FALSE(has(t, "STARTTLS")) << join(t);
    ASSERT_EQ(server->messages().size(), 1u);
    EXPECT_TRUE(server->messages()[0].tls);
    EXPECT_TRUE(server->messages()[0].data == sent.message) << "the message bytes differ";
  }
}

// ---------------------------------------------------------------- require_tls

TEST_F(SmtpTls, RequiredTlsAgainstARelayWithoutStartTlsSendsNothing) {
  auto server = relay(Tls::none);
  auto s = settings(*server);
  s.require_tls = true;
  const auto r = send_one(s, email(3));
  expect_nothing_sent(r, *server);
  EXPECT_EQ(server->connections(), 1u) << "it did try";
}

TEST_F(SmtpTls, RequiredTlsWhenTheRelayRefusesStartTlsSendsNothing) {
  auto server = relay(Tls::starttls, "mailer", "s3cret-pw");
  server->fail_next("STARTTLS", 454, "4.7.0 TLS not available due to local problem");
  const auto r = send_one(authenticated(*server, "s3cret-pw"), email(4));
  expect_nothing_sent(r, *server);
  EXPECT_FALSE(has(server->transcript(), "AUTH")) << join(server->transcript());
  EXPECT_EQ(server->tls_sessions(), 0u);
}

TEST_F(SmtpTls, OptionalTlsAgainstARelayWithoutStartTlsSendsInClear) {
  auto server = relay(Tls::none);
  auto s = settings(*server);
  s.require_tls = false;
  const auto sent = email(5);
  const auto r = send_one(s, sent);
  ASSERT_TRUE(r.ok()) << describe(r);
  ASSERT_EQ(server->messages().size(), 1u);
  EXPECT_FALSE(server->messages()[0].tls);
  EXPECT_EQ(server->mail_commands_in_clear(), 1u);
  EXPECT_TRUE(server->messages()[0].data == sent.message);

  // Opportunistic: a relay (or anything in between) refusing STARTTLS gets the message in clear.
  auto refusing = relay(Tls::starttls);
  refusing->fail_next("STARTTLS", 454, "4.7.0 TLS not available");
  const auto again = send_one(settings(*refusing), email(6));
  ASSERT_TRUE(again.ok()) << describe(again);
  ASSERT_EQ(refusing->messages().size(), 1u);
  EXPECT_FALSE(refusing->messages()[0].tls);
}

// ---------------------------------------------------------------- certificates

TEST_F(SmtpTls, AnUntrustedCertificateIsTransientAndSendsNothing) {
  struct Case {
    const char* name;
    Tls tls;
    std::string ca_file;
    bool require;
  };
  const std::vector<Case> cases{
      {"STARTTLS, a CA that did not sign it", Tls::starttls, pki_.other_ca_file.string(), false},
      {"STARTTLS, required, a CA that did not sign it", Tls::starttls, pki_.other_ca_file.string(), true},
      {"STARTTLS, the system's CAs", Tls::starttls, "", false},
      {"SMTPS, a CA that did not sign it", Tls::implicit, pki_.other_ca_file.string(), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto server = relay(c.tls);
    auto s = settings(*server);
    s.ca_file = c.ca_file;
    s.require_tls = c.require;
    const auto r = send_one(s, email(7));
    expect_nothing_sent(r, *server);
    EXPECT_EQ(r.code, 0) << describe(r);
    // The handshake was attempted and refused (the relay may notice just after the client).
    EXPECT_TRUE(server->wait_for_transcript("TLS-FAILED", 30s)) << join(server->transcript());
    EXPECT_EQ(server->tls_sessions(), 0u);
  }
}

TEST_F(SmtpTls, ACertificateForAnotherNameIsRefused) {
  FakeSmtpServer::Options o;
  o.tls = Tls::starttls;
  o.cert_file = pki_.wrong_name_cert_file.string();  // signed by the trusted CA, for other.invalid
  o.key_file = pki_.key_file.string();
  FakeSmtpServer server(o);
  const auto r = send_one(settings(server), email(8));
  expect_nothing_sent(r, server);
  EXPECT_EQ(r.code, 0) << describe(r);
  // The chain is good, so the handshake may complete on the relay's side before the client
  // checks the name; either way not one command crosses the TLS session.
  const auto t = server.transcript();
  const auto tls_at = std::find_if(t.begin(), t.end(), [](const std::string& e) { return e.rfind("TLS", 0) == 0; });
  ASSERT_NE(tls_at, t.end()) << join(t);
  EXPECT_EQ(std::next(tls_at), t.end()) << join(t);
}

// ---------------------------------------------------------------- AUTH over TLS

TEST_F(SmtpTls, AuthOverTlsWithTheRightCredentialsIsSent) {
  for (const std::string mechanisms : {"PLAIN LOGIN", "LOGIN"}) {
    SCOPED_TRACE("AUTH " + mechanisms);
    auto server = relay(Tls::starttls, "mailer", "s3cret-pw", mechanisms);
    const auto r = send_one(authenticated(*server, "s3cret-pw"), email(9));
    ASSERT_TRUE(r.ok()) << describe(r);
    ASSERT_EQ(server->messages().size(), 1u);
    EXPECT_EQ(server->messages()[0].user, "mailer");
    EXPECT_TRUE(server->messages()[0].tls);

    const auto t = server->transcript();
    const auto tls_at = std::find_if(t.begin(), t.end(), [](const std::string& e) { return e.rfind("TLS ", 0) == 0; });
    const auto auth_at = std::find(t.begin(), t.end(), "AUTH");
    ASSERT_NE(tls_at, t.end()) << join(t);
    ASSERT_NE(auth_at, t.end()) << join(t);
    EXPECT_LT(tls_at, auth_at) << "credentials only over TLS: " << join(t);
    EXPECT_TRUE(has(t, "AUTH-OK")) << join(t);
  }
}

TEST_F(SmtpTls, AWrongPasswordIsTransientAndNeverInTheResult) {
  // base64 of what PLAIN ("\0mailer\0wrong-pw-42") and LOGIN ("wrong-pw-42") would send.
  const std::vector<std::string> secrets{"wrong-pw-42", "AG1haWxlcgB3cm9uZy1wdy00Mg", "d3JvbmctcHctNDI"};
  for (const std::string mechanisms : {"PLAIN LOGIN", "LOGIN"}) {
    SCOPED_TRACE("AUTH " + mechanisms);
    auto server = relay(Tls::starttls, "mailer", "s3cret-pw", mechanisms);
    const auto r = send_one(authenticated(*server, "wrong-pw-42"), email(10));
    expect_nothing_sent(r, *server);
    EXPECT_EQ(r.code, 535) << describe(r);
    for (const auto& secret : secrets) EXPECT_EQ(r.detail.find(secret), std::string::npos) << r.detail;
    EXPECT_TRUE(has(server->transcript(), "AUTH-FAILED")) << join(server->transcript());
  }
}

TEST_F(SmtpTls, WithoutTlsTheCredentialsAreNotOfferedAndNothingIsSent) {
  // The relay offers AUTH only over TLS and refuses STARTTLS this time. With credentials the
  // transport requires TLS (smtp_require_tls or not), so it stops at the refusal: transient,
  // no MAIL, the password never sent.
  auto server = relay(Tls::starttls, "mailer", "s3cret-pw");
  server->fail_next("STARTTLS", 454, "4.7.0 TLS not available");
  const auto r = send_one(authenticated(*server, "s3cret-pw", /*require_tls=*/false), email(11));
  EXPECT_EQ(r.kind, SendResult::Kind::transient) << describe(r);
  EXPECT_EQ(r.code, 454) << describe(r);
  EXPECT_FALSE(has(server->transcript(), "AUTH")) << join(server->transcript());
  EXPECT_FALSE(has(server->transcript(), "MAIL")) << join(server->transcript());
  EXPECT_TRUE(server->messages().empty());
}

}  // namespace
