#include "jobs/periodic.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST(RunEvery, TicksUntilCancelledAndThenFinishes) {
  asio::io_context io;
  asio::cancellation_signal stop;
  int ticks = 0;
  bool finished = false;
  asio::co_spawn(io, convene::jobs::run_every(5ms, [&] { ++ticks; }),
                 asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e) {
                   EXPECT_FALSE(e);
                   finished = true;
                 }));
  // Cancel from the loop once three ticks happened; io.run() returns only if the task ended.
  asio::steady_timer poll(io);
  std::function<void()> check = [&] {
    if (ticks >= 3) {
      stop.emit(asio::cancellation_type::terminal);
      return;
    }
    poll.expires_after(1ms);
    poll.async_wait([&](auto) { check(); });
  };
  check();
  io.run();
  EXPECT_TRUE(finished);
  EXPECT_EQ(ticks, 3);
}
