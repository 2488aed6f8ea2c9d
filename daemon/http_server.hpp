#pragma once
// The HTTP server (cpp-httplib) on its own thread pool. Handlers reach the rest of the daemon
// only through thread-safe interfaces (the pool, Readiness, metrics).
#include "daemon/config.hpp"
#include "daemon/metrics.hpp"
#include "daemon/readiness.hpp"

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace convene::daemon {

// Paths that carry a secret (feed and preference tokens) with the secret replaced by "***",
// and never the query string: safe for logs.
std::string redact_path(std::string_view path);

class HttpServer {
 public:
  struct Services {
    const Readiness& readiness;
    HttpMetrics& metrics;
    std::function<std::string()> render_metrics;  // the whole /metrics body
    // Registers further routes (the v1 API) on the server.
    std::function<void(httplib::Server&, HttpMetrics&)> install_routes = {};
  };

  HttpServer(const Config& config, Services services);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds (throws std::runtime_error when the address is taken or invalid) and serves on a
  // background thread.
  void start();
  // Stops accepting; requests in flight finish; returns once the server threads are gone.
  void stop();
  int port() const { return port_; }

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  void route_get(const std::string& pattern, const std::string& name, Handler handler);

  const Config config_;
  Services services_;
  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
};

}  // namespace convene::daemon
