#pragma once
// A raw HTTP/1.1 client over plain sockets, for tests that must send what a well-behaved client
// never would (malformed, huge or slow requests; thousands of connections at once) and watch
// the server's answer byte by byte. cpp-httplib cannot. Loopback only.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <atomic>
#include <utility>
#include <vector>

namespace convene::testing {

using Millis = std::chrono::milliseconds;

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  // The header's value ("" when absent); `name` in lower case.
  std::string header(const std::string& name) const;
};

// "METHOD PATH HTTP/1.1", Host, `headers`, then Content-Length when `body` is not empty (and no
// Transfer-Encoding header was given), the blank line and the body.
std::string request_bytes(const std::string& method, const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          const std::string& body = "");

// One response at the start of `data` and the number of bytes it took; nullopt while incomplete.
// At `eof` a response without a length ends with the data.
std::optional<std::pair<RawResponse, std::size_t>> parse_response(std::string_view data, bool eof);

// A TCP connection to 127.0.0.1:PORT on a non-blocking socket; closed when destroyed.
class RawConnection {
 public:
  RawConnection() = default;
  // Starts connecting (from `local_address`, such as "127.0.0.2", when not empty) without
  // waiting: see wait_connected(). ok() is false when even that failed.
  explicit RawConnection(int port, const std::string& local_address = "");
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& error() const { return error_; }

  // Waits until the connect finished: true when connected.
  bool wait_connected(Millis timeout);
  // After poll() said the socket is writable: whether the connect succeeded.
  bool finish_connect();

  // Sends all of `bytes`, waiting up to `timeout` for room; false when the peer closed the
  // connection or the time ran out (bytes_sent() says how far it got).
  bool send(std::string_view bytes, Millis timeout = Millis(5000));
  // Sends what fits now without waiting: the number of bytes taken, -1 when the peer is gone.
  long send_some(std::string_view bytes);
  std::size_t bytes_sent() const { return sent_; }

  // Reads what has arrived into the buffer without waiting: false once the peer closed (EOF or
  // reset) and nothing more will come.
  bool pump();
  // Waits up to `timeout` for data or the peer's close (true), then pump()s.
  bool wait_readable(Millis timeout);
  // One whole response from the buffer, removing it; nullopt while incomplete.
  std::optional<RawResponse> take_response();
  // One response within `timeout`: nullopt when it did not come (closed() tells whether the peer
  // closed the connection instead).
  std::optional<RawResponse> read_response(Millis timeout);
  // Waits up to `timeout` until `text` is in received(); false when it did not come in time or
  // the peer closed the connection without sending it.
  bool read_until(std::string_view text, Millis timeout);
  // Waits up to `timeout` for the peer to close the connection (EOF or reset); true when it did.
  bool wait_closed(Millis timeout);
  bool closed() const { return peer_closed_; }
  const std::string& received() const { return buffer_; }

  void close();

 private:
  int fd_ = -1;
  std::string buffer_;
  bool peer_closed_ = false;
  std::size_t sent_ = 0;
  std::string error_;
};

// One request on a fresh connection and its response within `timeout`, or nullopt with the
// reason in *why ("connect", "timeout", "closed").
std::optional<RawResponse> raw_exchange(int port, std::string_view request, Millis timeout, std::string* why = nullptr,
                                        const std::string& local_address = "");

// The resident set (VmRSS of /proc/PID/status) in kB; -1 when the process is gone.
long rss_kb(pid_t pid);

// Samples a process's RSS every 10 ms on a thread of its own from construction until stop()
// (or destruction): the baseline is the RSS at construction.
class RssWatch {
 public:
  explicit RssWatch(pid_t pid);
  ~RssWatch();
  RssWatch(const RssWatch&) = delete;
  RssWatch& operator=(const RssWatch&) = delete;
  void stop();
  long baseline_kb() const { return baseline_; }
  long peak_kb() const { return peak_.load(); }
  // The highest RSS seen minus the baseline, in MB (10^6 bytes).
  double growth_mb() const { return static_cast<double>(peak_.load() - baseline_) * 1024.0 / 1e6; }

 private:
  pid_t pid_;
  long baseline_;
  std::atomic<long> peak_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace convene::testing
