#pragma once
// A real ESMTP server on 127.0.0.1 (an ephemeral port) for transport tests: EHLO/HELO, optional
// AUTH PLAIN/LOGIN, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT. It keeps what it
// received, counts connections (to prove reuse), and can be told to misbehave: answer a command
// with any code, drop the connection, or hang; stop listening and start again on the same port.
// It runs on its own thread; every method may be called from the test's thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace convene::testing {

class FakeSmtpServer {
 public:
  struct Options {
    std::string user;  // non-empty: AUTH PLAIN LOGIN offered, and required before MAIL
    std::string password;
  };

  struct Message {
    std::string mail_from;  // without the angle brackets
    std::vector<std::string> recipients;
    std::string data;  // as received after dot-unstuffing, CRLF line ends, without the final "."
    std::string user;  // who authenticated, if anyone
  };

  // The points a fault can replace: "CONNECT" (the greeting), "EHLO" (also HELO), "AUTH", "MAIL",
  // "RCPT", "DATA" (the 354), "END" (the reply after the message's final dot).
  void fail_next(const std::string& point, int code, std::string text = "", int times = 1);
  void drop_next(const std::string& point, int times = 1);  // close the connection instead of replying
  void hang_next(const std::string& point, int times = 1);  // never reply (until the server stops)

  explicit FakeSmtpServer(Options options = {});
  ~FakeSmtpServer();
  FakeSmtpServer(const FakeSmtpServer&) = delete;
  FakeSmtpServer& operator=(const FakeSmtpServer&) = delete;

  unsigned short port() const { return port_; }
  std::string url() const;  // smtp://127.0.0.1:<port>

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

  Options options_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::set<std::shared_ptr<Session>> sessions_;  // io thread only

  mutable std::mutex mutex_;
  mutable std::condition_variable received_;
  std::vector<Message> messages_;
  std::map<std::string, std::deque<Fault>> faults_;
  std::size_t connections_ = 0;

  std::thread thread_;
};

}  // namespace convene::testing
