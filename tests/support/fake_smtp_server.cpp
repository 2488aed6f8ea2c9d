#include "support/fake_smtp_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <future>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace convene::testing {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // '=' padding and anything else
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

// "<a@b> SIZE=123" -> "a@b"
std::string angle_address(std::string_view arguments) {
  const auto open = arguments.find('<');
  const auto close = arguments.find('>', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::string(arguments);
  return std::string(arguments.substr(open + 1, close - open - 1));
}

}  // namespace

struct FakeSmtpServer::Session {
  explicit Session(tcp::socket s) : socket(std::move(s)), hang(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer hang;
  std::string buffer;
  std::string user;  // authenticated as
  bool in_transaction = false;
  Message message;
};

FakeSmtpServer::FakeSmtpServer(Options options)
    : options_(std::move(options)), work_(io_.get_executor()), acceptor_(io_) {
  open_listener();
  asio::co_spawn(io_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

FakeSmtpServer::~FakeSmtpServer() {
  run_on_io([this] { close_all(); });
  work_.reset();
  io_.stop();
  thread_.join();
}

std::string FakeSmtpServer::url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

void FakeSmtpServer::run_on_io(const std::function<void()>& work) {
  std::promise<void> done;
  asio::post(io_, [&] {
    try {
      work();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  done.get_future().get();
}

void FakeSmtpServer::open_listener() {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port_);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
}

void FakeSmtpServer::close_all() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& s : sessions_) {
    s->socket.shutdown(tcp::socket::shutdown_both, ignored);
    s->socket.close(ignored);
    s->hang.cancel();
  }
  sessions_.clear();
}

void FakeSmtpServer::stop_accepting() {
  run_on_io([this] { close_all(); });
}

void FakeSmtpServer::start_accepting() {
  run_on_io([this] {
    open_listener();
    asio::co_spawn(io_, accept_loop(), asio::detached);
  });
}

void FakeSmtpServer::fail_next(const std::string& point, int code, std::string text, int times) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < times; ++i) faults_[point].push_back({Fault::Action::reply, code, text});
}

void FakeSmtpServer::drop_next(const std::string& point, int times) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < times; ++i) faults_[point].push_back({Fault::Action::drop, 0, ""});
}

void FakeSmtpServer::hang_next(const std::string& point, int times) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < times; ++i) faults_[point].push_back({Fault::Action::hang, 0, ""});
}

bool FakeSmtpServer::take_fault(const std::string& point, Fault& fault) {
  std::lock_guard lock(mutex_);
  auto it = faults_.find(point);
  if (it == faults_.end() || it->second.empty()) return false;
  fault = std::move(it->second.front());
  it->second.pop_front();
  return true;
}

std::vector<FakeSmtpServer::Message> FakeSmtpServer::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::size_t FakeSmtpServer::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

bool FakeSmtpServer::wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return received_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
}

asio::awaitable<void> FakeSmtpServer::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      ++connections_;
    }
    auto s = std::make_shared<Session>(std::move(socket));
    sessions_.insert(s);
    asio::co_spawn(io_, session(std::move(s)), asio::detached);
  }
}

asio::awaitable<bool> FakeSmtpServer::read_line(Session& s, std::string& line) {
  auto buffer = asio::dynamic_buffer(s.buffer);
  auto [ec, n] = co_await asio::async_read_until(s.socket, buffer, "\r\n", asio::as_tuple(asio::use_awaitable));
  if (ec) co_return false;
  line.assign(s.buffer, 0, n - 2);
  s.buffer.erase(0, n);
  co_return true;
}

asio::awaitable<bool> FakeSmtpServer::write_text(Session& s, const std::string& text) {
  auto buffer = asio::buffer(text);
  auto [ec, n] = co_await asio::async_write(s.socket, buffer, asio::as_tuple(asio::use_awaitable));
  (void)n;
  co_return !ec;
}

asio::awaitable<bool> FakeSmtpServer::apply_fault(Session& s, const Fault& fault) {
  boost::system::error_code ignored;
  switch (fault.action) {
    case Fault::Action::drop:
      s.socket.shutdown(tcp::socket::shutdown_both, ignored);
      s.socket.close(ignored);
      co_return false;
    case Fault::Action::hang: {
      s.hang.expires_at(asio::steady_timer::time_point::max());
      auto [ec] = co_await s.hang.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
      s.socket.close(ignored);
      co_return false;
    }
    case Fault::Action::reply:
      break;
  }
  std::string line = std::to_string(fault.code) + " " + (fault.text.empty() ? "fault injected" : fault.text) + "\r\n";
  const bool written = co_await write_text(s, line);
  if (!written || fault.code == 421) {  // 421: the server closes the channel
    s.socket.close(ignored);
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> FakeSmtpServer::authenticate(Session& s, const std::string& arguments) {
  const auto space = arguments.find(' ');
  const std::string mechanism = upper(arguments.substr(0, space));
  std::string initial = space == std::string::npos ? "" : arguments.substr(space + 1);
  std::string user, password;
  if (mechanism == "PLAIN") {
    if (initial.empty()) {
      const std::string prompt = "334 \r\n";
      if (!co_await write_text(s, prompt)) co_return false;
      if (!co_await read_line(s, initial)) co_return false;
    }
    const std::string decoded = base64_decode(initial);  // authzid \0 user \0 password
    const auto first = decoded.find('\0');
    const auto second = first == std::string::npos ? std::string::npos : decoded.find('\0', first + 1);
    if (second != std::string::npos) {
      user = decoded.substr(first + 1, second - first - 1);
      password = decoded.substr(second + 1);
    }
  } else if (mechanism == "LOGIN") {
    std::string line = initial;
    if (line.empty()) {
      const std::string prompt = "334 VXNlcm5hbWU6\r\n";
      if (!co_await write_text(s, prompt)) co_return false;
      if (!co_await read_line(s, line)) co_return false;
    }
    user = base64_decode(line);
    const std::string prompt = "334 UGFzc3dvcmQ6\r\n";
    if (!co_await write_text(s, prompt)) co_return false;
    if (!co_await read_line(s, line)) co_return false;
    password = base64_decode(line);
  } else {
    const std::string reply = "504 5.5.4 Unrecognized authentication type\r\n";
    co_return co_await write_text(s, reply);
  }
  if (user == options_.user && password == options_.password) {
    s.user = user;
    const std::string reply = "235 2.7.0 Authentication successful\r\n";
    co_return co_await write_text(s, reply);
  }
  const std::string reply = "535 5.7.8 Authentication credentials invalid\r\n";
  co_return co_await write_text(s, reply);
}

asio::awaitable<void> FakeSmtpServer::session(std::shared_ptr<Session> s) {
  Fault fault;
  bool open = true;
  if (take_fault("CONNECT", fault)) {
    open = co_await apply_fault(*s, fault);
  } else {
    const std::string greeting = "220 fake.smtp.test ESMTP ready\r\n";
    open = co_await write_text(*s, greeting);
  }

  std::string line;
  while (open && co_await read_line(*s, line)) {
    const auto space = line.find(' ');
    const std::string verb = upper(line.substr(0, space));
    const std::string arguments = space == std::string::npos ? "" : line.substr(space + 1);
    std::string reply;

    if (verb == "EHLO" || verb == "HELO") {
      if (take_fault("EHLO", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      s->in_transaction = false;
      if (verb == "HELO") {
        reply = "250 fake.smtp.test\r\n";
      } else {
        reply = "250-fake.smtp.test greets " + arguments + "\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n";
        if (!options_.user.empty()) reply += "250-AUTH PLAIN LOGIN\r\n";
        reply += "250 ENHANCEDSTATUSCODES\r\n";
      }
    } else if (verb == "AUTH") {
      if (take_fault("AUTH", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      if (options_.user.empty()) {
        reply = "502 5.5.1 AUTH not offered\r\n";
      } else {
        open = co_await authenticate(*s, arguments);
        continue;
      }
    } else if (verb == "MAIL") {
      if (take_fault("MAIL", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      if (!options_.user.empty() && s->user.empty()) {
        reply = "530 5.7.0 Authentication required\r\n";
      } else {
        s->in_transaction = true;
        s->message = Message{};
        s->message.mail_from = angle_address(arguments.substr(arguments.find(':') + 1));
        s->message.user = s->user;
        reply = "250 2.1.0 Sender OK\r\n";
      }
    } else if (verb == "RCPT") {
      if (take_fault("RCPT", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      if (!s->in_transaction) {
        reply = "503 5.5.1 MAIL first\r\n";
      } else {
        s->message.recipients.push_back(angle_address(arguments.substr(arguments.find(':') + 1)));
        reply = "250 2.1.5 Recipient OK\r\n";
      }
    } else if (verb == "DATA") {
      if (take_fault("DATA", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      if (!s->in_transaction || s->message.recipients.empty()) {
        reply = "503 5.5.1 RCPT first\r\n";
      } else {
        const std::string go = "354 End data with <CR><LF>.<CR><LF>\r\n";
        if (!co_await write_text(*s, go)) break;
        std::string data;
        bool complete = false;
        while (co_await read_line(*s, line)) {
          if (line == ".") {
            complete = true;
            break;
          }
          if (!line.empty() && line.front() == '.') line.erase(0, 1);  // dot-unstuffing
          data += line;
          data += "\r\n";
        }
        if (!complete) break;
        s->in_transaction = false;
        if (take_fault("END", fault)) {
          open = co_await apply_fault(*s, fault);
          continue;
        }
        s->message.data = std::move(data);
        {
          std::lock_guard lock(mutex_);
          messages_.push_back(std::move(s->message));
        }
        received_.notify_all();
        reply = "250 2.0.0 Queued\r\n";
      }
    } else if (verb == "RSET") {
      s->in_transaction = false;
      reply = "250 2.0.0 OK\r\n";
    } else if (verb == "NOOP") {
      reply = "250 2.0.0 OK\r\n";
    } else if (verb == "QUIT") {
      reply = "221 2.0.0 Bye\r\n";
      co_await write_text(*s, reply);
      break;
    } else {
      reply = "502 5.5.2 Command not recognized\r\n";
    }
    open = co_await write_text(*s, reply);
  }
  boost::system::error_code ignored;
  s->socket.close(ignored);
  sessions_.erase(s);
}

}  // namespace convene::testing
