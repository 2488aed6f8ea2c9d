#include "daemon/http_server.hpp"

#include "daemon/http/problem.hpp"

#include <boost/json/array.hpp>

namespace convene::daemon {
namespace {

http::Router base_routes(const HttpServer::Services& services) {
  http::Router router;
  router.add("GET", "/healthz", [](const http::Request&, http::Response& res) {
    http::send_json(res, 200, boost::json::object{{"status", "ok"}});
  }, {.on_loop = true});
  router.add("GET", "/readyz", [&readiness = services.readiness](const http::Request&, http::Response& res) {
    const ReadinessReport report = readiness.check();
    if (report.ready) {
      http::send_json(res, 200, boost::json::object{{"status", "ready"}});
      return;
    }
    boost::json::array problems;
    std::string detail;
    for (const auto& p : report.problems) {
      problems.emplace_back(p);
      if (!detail.empty()) detail += "; ";
      detail += p;
    }
    http::send_problem(res, 503, "Not Ready", detail, boost::json::object{{"problems", problems}});
  }, {.dedicated_thread = true});
  router.add("GET", "/metrics", [render = services.render_metrics](const http::Request&, http::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (services.install_routes) services.install_routes(router);
  return router;
}

}  // namespace

http::ServerOptions server_options(const Config& config) {
  http::ServerOptions o;
  o.host = config.http_listen.host;
  o.port = config.http_listen.port;
  auto& l = o.limits;
  l.max_connections = static_cast<std::size_t>(config.http_max_connections);
  l.workers = static_cast<std::size_t>(config.http_threads);
  l.max_queued = static_cast<std::size_t>(config.http_max_queued);
  l.header_timeout = config.http_header_timeout;
  l.body_timeout = config.http_body_timeout;
  l.idle_timeout = config.http_idle_timeout;
  l.write_timeout = config.http_write_timeout;
  o.rates = {config.rate_limit_api, config.rate_limit_token, config.rate_limit_auth_failures, config.rate_limit_links,
             config.rate_limit_feeds};
  o.trusted_proxies = http::TrustedProxies::parse(config.trusted_proxies);
  return o;
}

HttpServer::HttpServer(boost::asio::io_context& loop, const Config& config, Services services)
    : server_(std::make_unique<http::Server>(
          loop, server_options(config), base_routes(services),
          [&metrics = services.metrics](std::string_view route, int status, std::chrono::steady_clock::duration took) {
            metrics.record(route, status, took);
          })) {}

}  // namespace convene::daemon
