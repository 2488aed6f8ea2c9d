#pragma once
// A fixed-interval task on the event loop (watchdog pings, fallback polls). It runs on the
// loop thread, so the task must not block; it stops when its cancellation slot is emitted.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>

namespace convene::jobs {

// Calls `tick` every `interval` (the first call after one interval) until cancelled.
// Ticks do not pile up after a stall: the next one is scheduled from when the last ran.
boost::asio::awaitable<void> run_every(std::chrono::steady_clock::duration interval, std::function<void()> tick);

}  // namespace convene::jobs
