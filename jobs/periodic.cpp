#include "jobs/periodic.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace convene::jobs {

namespace asio = boost::asio;

asio::awaitable<void> run_every(std::chrono::steady_clock::duration interval, std::function<void()> tick) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(interval);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // operation_aborted: cancelled by shutdown
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
    tick();
  }
}

}  // namespace convene::jobs
