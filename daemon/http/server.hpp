#pragma once
// The HTTP/1.1 server on the daemon's event loop (Boost.Beast): a coroutine per connection
// that reads with limits and deadlines, routes, rate-limits, runs handlers that may block on a
// bounded worker pool (503 with Retry-After when it is full) and writes the answer. See
// docs/operations.md ("HTTP limits") for what each limit defends against.
#include "daemon/http/client_address.hpp"
#include "daemon/http/rate_limit.hpp"
#include "daemon/http/router.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace convene::daemon::http {

struct ServerLimits {
  std::size_t header_bytes = 16 * 1024;  // request line and header fields together
  std::size_t header_fields = 100;
  std::size_t target_bytes = 4096;       // longer request targets: 414
  std::size_t max_connections = 20000;   // beyond: the oldest idle connection is closed, else the new one
  std::size_t workers = 16;              // threads for handlers that may block (the database)
  std::size_t max_queued = 256;          // requests waiting for a worker; beyond: 503
  // Bytes of request bodies held (counted as they arrive, until the answer is written), all
  // connections together and per client address; beyond: 503. Bounds what clients that have
  // not been authenticated yet can make the daemon hold.
  std::size_t max_body_memory = 256 * 1024 * 1024;
  std::size_t max_body_memory_per_client = 48 * 1024 * 1024;  // two CSV imports at once
  std::chrono::milliseconds header_timeout{10000};  // from the first byte of a request to its last header
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive: waiting for the next request
  std::chrono::milliseconds write_timeout{30000};
};

struct RateLimits {
  BucketSpec api;            // API requests per client address
  BucketSpec token;          // API requests per bearer token
  BucketSpec auth_failures;  // API requests answered 401, per client address
  BucketSpec links;          // /preferences and /u per client address
  BucketSpec feeds;          // feeds per client address
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port (port() tells which)
  ServerLimits limits;
  RateLimits rates;
  TrustedProxies trusted_proxies;
};

struct ServerCounters {
  std::size_t open_connections = 0;
  std::size_t idle_connections = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t idle_closed_total = 0;  // idle connections closed to make room
  std::uint64_t refused_total = 0;      // connections refused at the cap
  std::uint64_t busy_total = 0;         // 503: the worker queue was full
  std::uint64_t rate_limited_total = 0; // 429
  // Requests handed to the worker pool and not yet answered, running or waiting for a worker:
  // at workers + max_queued the next one is answered 503.
  std::size_t worker_requests = 0;
  std::size_t body_bytes_held = 0;  // request body bytes held now, all connections (max_body_memory)
};

class Server {
 public:
  Server(boost::asio::io_context& loop, ServerOptions options, Router router, RequestObserver observe = {});
  // Waits for handlers still running on the worker threads. Call stop() on the loop first
  // (or stop the loop): a running server must not lose its worker threads under it.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (throws std::runtime_error when the address is taken or invalid), then
  // accepts on the loop. May be called before the loop runs.
  void start();
  // On the loop thread: stops accepting and closes every connection that is not answering a
  // request; those close once their answer is written.
  void stop();
  // Loop thread only.
  bool drained() const;
  ServerCounters counters() const;  // any thread
  int port() const { return port_; }

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
  boost::asio::thread_pool workers_;
  boost::asio::thread_pool dedicated_{1};
  int port_ = 0;
};

}  // namespace convene::daemon::http
