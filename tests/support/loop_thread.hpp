#pragma once
// An io_context running on a thread of its own, for tests that serve from a loop (the HTTP
// server) while the test thread makes blocking calls as a client would.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <functional>
#include <future>
#include <optional>
#include <thread>

namespace convene::testing {

class LoopThread {
 public:
  LoopThread() = default;
  ~LoopThread() { stop(); }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  boost::asio::io_context& context() { return loop_; }
  void start() {
    thread_ = std::thread([this] { loop_.run(); });
  }
  // Runs `f` on the loop thread and waits for it.
  void run(const std::function<void()>& f) {
    if (!thread_.joinable()) return f();
    std::promise<void> done;
    boost::asio::post(loop_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }
  void stop() {
    guard_.reset();
    loop_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  boost::asio::io_context loop_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_{loop_.get_executor()};
  std::thread thread_;
};

}  // namespace convene::testing
