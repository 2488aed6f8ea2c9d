#pragma once
// An HTTP(S) receiver on 127.0.0.1 for tests of webhook delivery: cpp-httplib with a handler
// the test supplies, counting what arrived (requests, client connections, most at once).
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace convene::testing {

// A certificate and its key, as PEM files (HTTPS receivers).
struct TlsFiles {
  std::string cert, key;
};

class Receiver {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // `threads`: requests the receiver serves at once (each kept-alive connection holds one).
  explicit Receiver(Handler handler, std::size_t threads = 8, std::optional<TlsFiles> tls = std::nullopt)
      : server_(tls ? std::make_unique<httplib::SSLServer>(tls->cert.c_str(), tls->key.c_str())
                    : std::make_unique<httplib::Server>()),
        scheme_(tls ? "https" : "http") {
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_keep_alive_max_count(10'000);
    server_->set_keep_alive_timeout(1);  // stop() waits for idle kept-alive connections
    server_->Post(R"(/.*)", [this, handler](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex_);
        ++hits_;
        most_at_once_ = std::max(most_at_once_, ++in_handler_);
        ports_.insert(req.remote_port);
        last_ = req;
      }
      handler(req, res);
      std::lock_guard lock(mutex_);
      --in_handler_;
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_->stop();
    thread_.join();
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::string url(const std::string& path = "/hook") const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  int hits() const {
    std::lock_guard lock(mutex_);
    return hits_;
  }
  std::size_t connections() const {  // distinct client ports seen
    std::lock_guard lock(mutex_);
    return ports_.size();
  }
  int most_at_once() const {  // requests inside the handler at the same time, at most
    std::lock_guard lock(mutex_);
    return most_at_once_;
  }
  httplib::Request last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::string scheme_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  int hits_ = 0, in_handler_ = 0, most_at_once_ = 0;
  std::set<int> ports_;
  httplib::Request last_;
};

}  // namespace convene::testing
