#pragma once
// Drives a test's own io_context until a condition holds: transports under test complete on
// that loop, so waiting means running it.
#include <boost/asio/io_context.hpp>

#include <chrono>

namespace convene::testing {

template <class Predicate>
bool run_loop_until(boost::asio::io_context& loop, Predicate done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace convene::testing
