#include "support/raw_http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace convene::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<long long>(0, left));
}

// A chunked body at the start of `data`: the body and the bytes it took; nullopt while incomplete.
std::optional<std::pair<std::string, std::size_t>> parse_chunked(std::string_view data) {
  std::string body;
  std::size_t pos = 0;
  for (;;) {
    const auto eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::nullopt;
    const auto size = std::strtoul(std::string(data.substr(pos, eol - pos)).c_str(), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      // Trailers, then the blank line.
      for (;;) {
        const auto end = data.find("\r\n", pos);
        if (end == std::string_view::npos) return std::nullopt;
        const bool blank = end == pos;
        pos = end + 2;
        if (blank) return std::pair{std::move(body), pos};
      }
    }
    if (data.size() < pos + size + 2) return std::nullopt;
    body.append(data.substr(pos, size));
    pos += size + 2;
  }
}

}  // namespace

std::string RawResponse::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string request_bytes(const std::string& method, const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
  std::string out = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  bool chunked = false;
  for (const auto& [name, value] : headers) {
    out += name + ": " + value + "\r\n";
    if (lower(name) == "transfer-encoding") chunked = true;
  }
  if (!body.empty() && !chunked) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

std::optional<std::pair<RawResponse, std::size_t>> parse_response(std::string_view data, bool eof) {
  const auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return std::nullopt;
  RawResponse r;
  const auto status_end = data.find("\r\n");
  const std::string_view status_line = data.substr(0, status_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
  r.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  std::size_t pos = status_end + 2;
  while (pos < head_end) {
    const auto eol = data.find("\r\n", pos);
    const auto line = data.substr(pos, eol - pos);
    if (const auto colon = line.find(':'); colon != std::string_view::npos)
      r.headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    pos = eol + 2;
  }
  const std::size_t body_start = head_end + 4;
  const auto rest = data.substr(body_start);
  if (r.status < 200 || r.status == 204 || r.status == 304) return std::pair{std::move(r), body_start};
  if (lower(r.header("transfer-encoding")).find("chunked") != std::string::npos) {
    auto chunked = parse_chunked(rest);
    if (!chunked) return std::nullopt;
    r.body = std::move(chunked->first);
    return std::pair{std::move(r), body_start + chunked->second};
  }
  if (const auto length = r.header("content-length"); !length.empty()) {
    const auto n = std::stoull(length);
    if (rest.size() < n) return std::nullopt;
    r.body = std::string(rest.substr(0, n));
    return std::pair{std::move(r), body_start + n};
  }
  if (!eof) return std::nullopt;  // the body ends with the connection
  r.body = std::string(rest);
  return std::pair{std::move(r), data.size()};
}

RawConnection::RawConnection(int port, const std::string& local_address) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!local_address.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, local_address.c_str(), &local.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      error_ = "bind " + local_address + ": " + std::strerror(errno);
      close();
      return;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    error_ = std::string("connect: ") + std::strerror(errno);
    close();
  }
}

RawConnection::~RawConnection() { close(); }

RawConnection::RawConnection(RawConnection&& other) noexcept { *this = std::move(other); }

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    peer_closed_ = other.peer_closed_;
    sent_ = other.sent_;
    error_ = std::move(other.error_);
  }
  return *this;
}

bool RawConnection::finish_connect() {
  if (fd_ < 0) return false;
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    error_ = std::string("connect: ") + std::strerror(err != 0 ? err : errno);
    return false;
  }
  return true;
}

bool RawConnection::wait_connected(Millis timeout) {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
    error_ = "connect: timed out";
    return false;
  }
  return finish_connect();
}

long RawConnection::send_some(std::string_view bytes) {
  if (fd_ < 0) return -1;
  const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (n >= 0) {
    sent_ += static_cast<std::size_t>(n);
    return n;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  error_ = std::string("send: ") + std::strerror(errno);
  return -1;
}

bool RawConnection::send(std::string_view bytes, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    const long n = send_some(bytes);
    if (n < 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
    if (bytes.empty()) break;
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
      error_ = "send: timed out";
      return false;
    }
  }
  return true;
}

bool RawConnection::pump() {
  if (fd_ < 0 || peer_closed_) return false;
  char chunk[65536];
  for (;;) {
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      peer_closed_ = true;
      return false;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    if (errno == EINTR) continue;
    error_ = std::string("recv: ") + std::strerror(errno);
    peer_closed_ = true;  // reset
    return false;
  }
}

bool RawConnection::wait_readable(Millis timeout) {
  if (fd_ < 0 || peer_closed_) return false;
  pollfd p{fd_, POLLIN, 0};
  const bool ready = ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  if (ready) pump();
  return ready;
}

std::optional<RawResponse> RawConnection::take_response() {
  auto parsed = parse_response(buffer_, peer_closed_);
  if (!parsed) return std::nullopt;
  buffer_.erase(0, parsed->second);
  return std::move(parsed->first);
}

std::optional<RawResponse> RawConnection::read_response(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pump();
    if (auto r = take_response()) return r;
    if (peer_closed_ || fd_ < 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return std::nullopt;
  }
}

bool RawConnection::read_until(std::string_view text, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pump();
    if (buffer_.find(text) != std::string::npos) return true;
    if (peer_closed_ || fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
  }
}

bool RawConnection::wait_closed(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pump();
    if (peer_closed_) return true;
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
  }
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<RawResponse> raw_exchange(int port, std::string_view request, Millis timeout, std::string* why,
                                        const std::string& local_address) {
  const auto deadline = Clock::now() + timeout;
  RawConnection c(port, local_address);
  if (!c.wait_connected(timeout)) {
    if (why) *why = "connect (" + c.error() + ")";
    return std::nullopt;
  }
  if (!c.send(request, Millis(remaining_ms(deadline)))) {
    if (why) *why = "send (" + c.error() + ")";
    return std::nullopt;
  }
  auto r = c.read_response(Millis(remaining_ms(deadline)));
  if (!r && why) *why = c.closed() ? "closed without an answer" : "no answer within " + std::to_string(timeout.count()) + " ms";
  return r;
}

long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

RssWatch::RssWatch(pid_t pid) : pid_(pid), baseline_(rss_kb(pid)), peak_(baseline_) {
  thread_ = std::thread([this] {
    while (!stop_) {
      const long now = rss_kb(pid_);
      long seen = peak_.load();
      while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(Millis(10));
    }
  });
}

RssWatch::~RssWatch() { stop(); }

void RssWatch::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  const long now = rss_kb(pid_);
  long seen = peak_.load();
  if (now > seen) peak_ = now;
}

}  // namespace convene::testing
