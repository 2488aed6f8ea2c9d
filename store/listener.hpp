#pragma once
// PostgreSQL LISTEN without a thread: the connection's socket is watched by Asio on the event
// loop; connecting (blocking) runs on a separate executor. Reconnects with backoff after a
// PostgreSQL restart and then reports `on_reconnect`, since notifications sent while it was
// away are lost.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace convene::store {

struct ListenerOptions {
  std::string conninfo;
  std::vector<std::string> channels;
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds retry_min{200}, retry_max{10000};
};

class Listener {
 public:
  using OnNotify = std::function<void(const std::string& channel, const std::string& payload)>;

  // `blocking` runs the connection attempts; notifications and on_connected run on the loop.
  Listener(ListenerOptions options, boost::asio::any_io_executor blocking, OnNotify on_notify,
           std::function<void()> on_connected);

  // Listens until cancelled (bind a cancellation slot when spawning it).
  boost::asio::awaitable<void> run();

  bool connected() const { return connected_; }

 private:
  ListenerOptions options_;
  boost::asio::any_io_executor blocking_;
  OnNotify on_notify_;
  std::function<void()> on_connected_;
  bool connected_ = false;
};

}  // namespace convene::store
