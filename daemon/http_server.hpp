#pragma once
// The daemon's HTTP front: the server of daemon/http on the daemon's event loop, configured
// from Config, with /healthz (on the loop), /readyz (on a thread and a database connection of
// its own) and /metrics, and the routes the services install (API, feeds, member pages).
#include "daemon/config.hpp"
#include "daemon/http/server.hpp"
#include "daemon/metrics.hpp"
#include "daemon/readiness.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>

namespace convene::daemon {

using http::redact_path;

// The server's limits, rate limits and trusted proxies from the configuration.
http::ServerOptions server_options(const Config& config);

class HttpServer {
 public:
  struct Services {
    const Readiness& readiness;
    HttpMetrics& metrics;
    std::function<std::string()> render_metrics;  // the whole /metrics body
    // Registers further routes (the v1 API, feeds, member pages).
    std::function<void(http::Router&)> install_routes = {};
  };

  HttpServer(boost::asio::io_context& loop, const Config& config, Services services);

  // Binds (throws std::runtime_error when the address is taken or invalid) and accepts on the
  // loop.
  void start() { server_->start(); }
  // On the loop: stops accepting; requests being answered finish (drained() tells when).
  void stop() { server_->stop(); }
  bool drained() const { return server_->drained(); }
  http::ServerCounters counters() const { return server_->counters(); }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<http::Server> server_;
};

}  // namespace convene::daemon
