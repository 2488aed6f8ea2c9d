#pragma once
// A real ESMTP server on 127.0.0.1 (an ephemeral port) for transport tests: EHLO/HELO, optional
// AUTH PLAIN/LOGIN, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT, and TLS (OpenSSL through
// Asio): STARTTLS (RFC 3207) or implicit TLS (SMTPS). It keeps what it received, counts
// connections (to prove reuse), keeps a transcript of what happened (to prove TLS came before
// the envelope), and can be told to misbehave: answer a command with any code, drop the
// connection, or hang; stop listening and start again on the same port.
// It runs on its own thread; every method may be called from the test's thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace convene::testing {

// A throwaway PKI for TLS tests, made with OpenSSL's C API (P-256 keys, valid from an hour ago
// for two days) in `dir`, which is created. Throws std::runtime_error when OpenSSL fails.
struct TestPki {
  std::filesystem::path ca_file;               // the test CA's certificate: what a client trusts
  std::filesystem::path cert_file;             // the server's certificate for IP 127.0.0.1 and DNS localhost, then the CA's
  std::filesystem::path key_file;              // the server's private key (also the key of wrong_name_cert_file)
  std::filesystem::path wrong_name_cert_file;  // signed by the same CA, for DNS other.invalid only
  std::filesystem::path other_ca_file;         // a CA that signed none of these: trusting it alone must fail
};
TestPki make_test_pki(const std::filesystem::path& dir);

class FakeSmtpServer {
 public:
  enum class Tls {
    none,      // plain SMTP: STARTTLS neither advertised nor accepted (a client requiring TLS must refuse it)
    starttls,  // STARTTLS advertised and honoured; after the handshake the client must EHLO again
    implicit,  // SMTPS: the TLS handshake before the greeting; url() is smtps://
  };

  struct Options {
    std::string user;  // non-empty: AUTH offered, and required before MAIL (with TLS: offered and accepted only over TLS)
    std::string password;
    Tls tls = Tls::none;
    std::string cert_file;  // PEM chain and key for Tls::starttls and Tls::implicit (TestPki's)
    std::string key_file;
    std::string auth_mechanisms = "PLAIN LOGIN";  // as advertised in EHLO (those two are implemented)
    std::chrono::milliseconds final_reply_delay{0};  // wait this long before answering a final dot (a slow relay)
  };

  struct Message {
    std::string mail_from;  // without the angle brackets
    std::vector<std::string> recipients;
    std::string data;  // as received after dot-unstuffing, CRLF line ends, without the final "."
    std::string user;  // who authenticated, if anyone
    bool tls = false;  // the session was TLS when MAIL FROM came
    // The notification id in its Message-ID header (<id@domain>, as convene writes it); "" when none.
    std::string notification_id() const {
      const std::string prefix = "\r\nMessage-ID: <";
      const auto start = data.find(prefix);
      if (start == std::string::npos) return {};
      const auto from = start + prefix.size();
      const auto at = data.find('@', from);
      return at == std::string::npos ? std::string() : data.substr(from, at - from);
    }
  };

  // The points a fault can replace: "CONNECT" (the greeting), "EHLO" (also HELO), "STARTTLS"
  // (the 220 before the handshake), "AUTH", "MAIL", "RCPT", "DATA" (the 354), "END" (the reply
  // after the message's final dot).
  void fail_next(const std::string& point, int code, std::string text = "", int times = 1);
  void drop_next(const std::string& point, int times = 1);  // close the connection instead of replying
  void hang_next(const std::string& point, int times = 1);  // never reply (until the server stops)
  // From now on, every RCPT TO for `address` (point "RCPT"), or every message to it at its final
  // dot (point "END"), is answered `code` with `text` (as one line: "550 <text>").
  void refuse_recipient(const std::string& address, int code, std::string text, const std::string& point = "RCPT");
  // RCPT TO commands received for `address`, refused ones included.
  std::size_t rcpt_count(const std::string& address) const;
  // From now on, each message at its final dot (after fail_next, drop_next, hang_next and
  // refuse_recipient had their say) is, at random: answered "451 4.3.0 try again later" and not
  // kept, with probability `temporary_failure_ratio`; kept, then its connection closed without
  // a reply, with probability `drop_ratio` (the client cannot know it arrived: a copy sent again
  // is legitimate); accepted otherwise. The draws come from std::mt19937 seeded with `seed`, so
  // a run's sequence of faults is reproducible (which message gets which depends on arrival order).
  void set_random_faults(double temporary_failure_ratio, double drop_ratio, unsigned seed);
  std::size_t temporary_failures() const;  // 451s answered by set_random_faults
  std::size_t dropped() const;             // connections closed by set_random_faults after keeping a message

  FakeSmtpServer();  // plain SMTP, no AUTH (not a default argument: Options' initialisers need the class complete)
  explicit FakeSmtpServer(Options options);
  ~FakeSmtpServer();
  FakeSmtpServer(const FakeSmtpServer&) = delete;
  FakeSmtpServer& operator=(const FakeSmtpServer&) = delete;

  unsigned short port() const { return port_; }
  std::string url() const;  // smtp://127.0.0.1:<port>, or smtps:// for Tls::implicit

  // What happened, in order, over all sessions: "CONNECT"; "TLS <version>" when a handshake
  // succeeded, "TLS-FAILED" when one did not; each command's verb as received ("EHLO",
  // "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "QUIT", ...: never an argument, so no
  // credentials); "AUTH-OK" or "AUTH-FAILED" after an authentication exchange; "END" after a
  // message's final dot; "PIPELINED-STARTTLS" when bytes followed STARTTLS before the 220
  // (they are discarded, as RFC 3207 says).
  std::vector<std::string> transcript() const;
  // Waits until the transcript has `entry` (an exact entry, or a prefix of one ending in a space
  // such as "TLS ").
  bool wait_for_transcript(const std::string& entry, std::chrono::milliseconds timeout) const;
  std::size_t mail_commands_in_clear() const;  // MAIL FROM received outside TLS
  std::size_t tls_sessions() const;            // handshakes that succeeded
  // With final_reply_delay: the most sessions that were waiting for their final-dot reply at
  // the same time (messages in flight at once).
  std::size_t peak_final_replies_pending() const;

  void stop_accepting();   // the server is down: listener closed, open sessions dropped
  void start_accepting();  // up again on the same port

  std::vector<Message> messages() const;
  std::size_t connections() const;  // accepted since construction
  bool wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const;

 private:
  struct Fault {
    enum class Action { reply, drop, hang } action = Action::reply;
    int code = 0;
    std::string text;
  };
  struct Session;

  void run_on_io(const std::function<void()>& work);
  void open_listener();
  void close_all();
  bool take_fault(const std::string& point, Fault& fault);

  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(std::shared_ptr<Session> s);
  boost::asio::awaitable<bool> read_line(Session& s, std::string& line);
  boost::asio::awaitable<bool> write_text(Session& s, const std::string& text);
  // Replies with the fault instead; false when the session is over (dropped, hung, or a 421).
  boost::asio::awaitable<bool> apply_fault(Session& s, const Fault& fault);
  boost::asio::awaitable<bool> authenticate(Session& s, const std::string& arguments);
  boost::asio::awaitable<bool> handshake(Session& s);  // false: the session is over
  void note(std::string entry);
  bool auth_offered(const Session& s) const;

  Options options_;
  std::unique_ptr<boost::asio::ssl::context> tls_context_;  // outlives the sessions (declared before io_)
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::set<std::shared_ptr<Session>> sessions_;  // io thread only

  mutable std::mutex mutex_;
  std::size_t final_replies_pending_ = 0, peak_final_replies_pending_ = 0;  // under mutex_
  mutable std::condition_variable received_;
  std::vector<Message> messages_;
  std::map<std::string, std::deque<Fault>> faults_;
  std::size_t connections_ = 0;
  std::vector<std::string> transcript_;
  std::size_t mail_in_clear_ = 0;
  std::size_t tls_sessions_ = 0;
  struct Refusal {
    std::string point;
    int code = 0;
    std::string text;
  };
  std::map<std::string, Refusal> refusals_;  // by address
  std::map<std::string, std::size_t> rcpts_;  // RCPT TO received, by address
  struct RandomFaults {
    double temporary_failure_ratio = 0, drop_ratio = 0;
    std::mt19937 generator;
    std::size_t temporary_failures = 0, dropped = 0;
  };
  std::optional<RandomFaults> random_faults_;

  std::thread thread_;
};

}  // namespace convene::testing
