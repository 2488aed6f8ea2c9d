#pragma once
// Blocking work (database calls) from a coroutine on the event loop: it runs on a thread pool
// and the coroutine resumes on its own executor with the result or the exception.
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>

namespace convene {

// Runs a copy of `work` on `pool` and resumes the awaiting coroutine on its own executor with
// the result (or the exception). Callers pass a named function object: GCC 12 destroys
// temporaries of a co_await expression twice, so none with a destructor may appear there.
template <class T, class Work>
boost::asio::awaitable<T> offload(boost::asio::thread_pool& pool, const Work& work) {
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, T)>(
      [&pool, &work](auto handler) {
        asio::post(pool, [handler = std::move(handler), work]() mutable {
          std::exception_ptr error;
          T value{};
          try {
            value = work();
          } catch (...) {
            error = std::current_exception();
          }
          auto executor = asio::get_associated_executor(handler);
          asio::post(executor, [handler = std::move(handler), error, value = std::move(value)]() mutable {
            std::move(handler)(error, std::move(value));
          });
        });
      },
      asio::use_awaitable);
}

}  // namespace convene
