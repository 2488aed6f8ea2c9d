#include "daemon/http_server.hpp"

#include "base/log.hpp"
#include "daemon/problem.hpp"

#include <boost/json/array.hpp>

#include <chrono>

namespace convene::daemon {

std::string redact_path(std::string_view path) {
  static constexpr std::string_view secret_prefixes[] = {"/feeds/members/", "/preferences/", "/u/"};
  for (const auto prefix : secret_prefixes) {
    if (path.rfind(prefix, 0) == 0) {
      const auto rest = path.substr(prefix.size());
      const auto suffix = rest.rfind(".ics") == rest.size() - 4 && rest.size() >= 4 ? ".ics" : "";
      return std::string(prefix) + "***" + suffix;
    }
  }
  std::string out(path);
  if (const auto q = out.find('?'); q != std::string::npos) out.resize(q);
  return out;
}

HttpServer::HttpServer(const Config& config, Services services)
    : config_(config), services_(std::move(services)) {
  const auto threads = static_cast<std::size_t>(config_.http_threads);
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // CSV imports may be up to 20 MiB; JSON routes check the smaller http_max_body themselves.
  // Small responses must not wait for the peer's delayed ACK (Nagle): ~40 ms per response on
  // keep-alive connections otherwise (docs/benchmarks.md).
  server_.set_tcp_nodelay(true);
  server_.set_payload_max_length(std::max<std::size_t>(config_.http_max_body, 20 * 1024 * 1024));
  server_.set_read_timeout(10, 0);
  server_.set_write_timeout(10, 0);
  server_.set_keep_alive_timeout(5);
  server_.set_keep_alive_max_count(1000);
  server_.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});

  // RFC 9112 §6.3: a request without Content-Length or Transfer-Encoding has no body.
  // cpp-httplib 0.11 instead waits for one until the read timeout and then answers 400
  // (curl -X POST sends no Content-Length), so say "no body" explicitly before it reads.
  server_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    if (req.method != "GET" && req.method != "HEAD" && !req.has_header("Content-Length") &&
        !req.has_header("Transfer-Encoding"))
      const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;  // a route's own problem+json (e.g. "community not found")
    if (res.status == 404) {
      send_problem(res, 404, "Not Found", "no such resource");
      services_.metrics.record("unmatched", 404, {});
    } else if (res.status == 413) {
      send_problem(res, 413, "Payload Too Large",
                   "request bodies are limited to " + std::to_string(config_.http_max_body) +
                       " bytes (CSV imports to 20 MiB)");
    } else {
      send_problem(res, res.status, res.status >= 500 ? "Server Error" : "Request Error");
    }
  });
  server_.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::error("request failed", {{"method", req.method}, {"path", redact_path(req.path)}, {"error", what}});
    send_problem(res, 500, "Internal Server Error", "the error has been logged");
  });
  server_.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    if (!log::enabled(log::Level::debug)) return;
    log::debug("http request", {{"method", req.method}, {"path", redact_path(req.path)}, {"status", res.status},
                                {"remote", req.remote_addr}});
  });

  route_get("/healthz", "/healthz", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, boost::json::object{{"status", "ok"}});
  });
  route_get("/readyz", "/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const ReadinessReport report = services_.readiness.check();
    if (report.ready) {
      send_json(res, 200, boost::json::object{{"status", "ready"}});
      return;
    }
    boost::json::array problems;
    std::string detail;
    for (const auto& p : report.problems) {
      problems.emplace_back(p);
      detail += (detail.empty() ? "" : "; ") + p;
    }
    send_problem(res, 503, "Not Ready", detail, boost::json::object{{"problems", problems}});
  });
  route_get("/metrics", "/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(services_.render_metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (services_.install_routes) services_.install_routes(server_, services_.metrics);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route_get(const std::string& pattern, const std::string& name, Handler handler) {
  server_.Get(pattern, [this, name, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    const auto started = std::chrono::steady_clock::now();
    handler(req, res);
    services_.metrics.record(name, res.status, std::chrono::steady_clock::now() - started);
  });
}

void HttpServer::start() {
  const auto& listen = config_.http_listen;
  if (listen.port == 0) {
    port_ = server_.bind_to_any_port(listen.host);
  } else {
    port_ = server_.bind_to_port(listen.host, listen.port) ? listen.port : -1;
  }
  if (port_ <= 0)
    throw std::runtime_error("cannot listen on " + listen.to_string() + " (address in use or not local?)");
  listen_returned_ = false;
  thread_ = std::thread([this] {
    server_.listen_after_bind();
    listen_returned_ = true;
  });
  // stop() is a no-op until the accept loop runs; wait for it so a quick stop cannot be lost.
  while (!server_.is_running() && !listen_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  server_.stop();
  thread_.join();
}

}  // namespace convene::daemon
