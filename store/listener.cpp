#include "store/listener.hpp"

#include "base/log.hpp"
#include "store/conninfo.hpp"
#include "store/database.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <pqxx/pqxx>

#include <unistd.h>

#include <memory>
#include <random>

namespace convene::store {
namespace {

namespace asio = boost::asio;

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const std::string& channel, const Listener::OnNotify& on_notify)
      : pqxx::notification_receiver(c, channel), on_notify_(on_notify) {}
  void operator()(const std::string& payload, int) override { on_notify_(channel(), payload); }

 private:
  const Listener::OnNotify& on_notify_;
};

struct Session {
  std::unique_ptr<pqxx::connection> connection;
  std::vector<std::unique_ptr<Receiver>> receivers;
};

bool cancelled(const asio::cancellation_state& state) { return state.cancelled() != asio::cancellation_type::none; }

// Plain coroutine functions, not capturing lambdas: their parameters live in the coroutine
// frame, whichever thread runs it.
asio::awaitable<std::shared_ptr<Session>> open_session(std::string conninfo, std::vector<std::string> channels,
                                                        const Listener::OnNotify* on_notify) {
  auto session = std::make_shared<Session>();
  session->connection = std::make_unique<pqxx::connection>(conninfo);
  for (const auto& channel : channels)
    session->receivers.push_back(std::make_unique<Receiver>(*session->connection, channel, *on_notify));
  co_return session;
}

asio::awaitable<void> close_session(std::shared_ptr<Session> session) {
  session.reset();
  co_return;
}

}  // namespace

Listener::Listener(ListenerOptions options, asio::any_io_executor blocking, OnNotify on_notify,
                   std::function<void()> on_connected)
    : options_(std::move(options)),
      blocking_(std::move(blocking)),
      on_notify_(std::move(on_notify)),
      on_connected_(std::move(on_connected)) {}

asio::awaitable<void> Listener::run() {
  const auto loop = co_await asio::this_coro::executor;
  const auto conninfo = with_session_defaults(options_.conninfo, options_.connect_timeout, "convened-listen");
  const Backoff backoff{options_.retry_min, options_.retry_max};
  std::minstd_rand random{std::random_device{}()};
  asio::steady_timer timer(loop);
  for (int failures = 0;;) {
    if (cancelled(co_await asio::this_coro::cancellation_state)) co_return;
    std::shared_ptr<Session> session;
    std::string error;
    try {
      // Connecting and LISTEN block: not on the loop thread.
      session = co_await asio::co_spawn(blocking_, open_session(conninfo, options_.channels, &on_notify_),
                                        asio::use_awaitable);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!session) {  // (no co_await inside a catch handler)
      ++failures;
      const auto delay = backoff.delay(failures, std::uniform_real_distribution<double>(0.5, 1.0)(random));
      if (failures == 1 || failures % 20 == 0)
        log::warn("notification listener cannot connect; retrying", {{"error", error}, {"attempts", failures}});
      timer.expires_after(delay);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    failures = 0;
    connected_ = true;
    log::info("listening for notifications", {{"channels", static_cast<unsigned long>(options_.channels.size())}});
    if (on_connected_) on_connected_();
    // Watch a duplicate of libpq's socket, so closing the descriptor never closes libpq's.
    asio::posix::stream_descriptor socket(loop, ::dup(session->connection->sock()));
    for (;;) {
      auto [ec] = co_await socket.async_wait(asio::posix::stream_descriptor::wait_read, asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || cancelled(co_await asio::this_coro::cancellation_state)) {
        connected_ = false;
        co_return;
      }
      try {
        session->connection->get_notifs();  // reads what arrived and calls the receivers
      } catch (const std::exception& e) {
        log::warn("notification listener lost its connection; reconnecting", {{"error", std::string(e.what())}});
        break;
      }
      if (ec) break;
    }
    connected_ = false;
    socket.close();
    // Tear the session down on the blocking executor too: closing may wait on the network.
    co_await asio::co_spawn(blocking_, close_session(std::move(session)), asio::use_awaitable);
  }
}

}  // namespace convene::store
