#include "daemon/http/router.hpp"

#include "base/log.hpp"
#include "daemon/http/problem.hpp"
#include "store/pool.hpp"

#include <pqxx/except>

#include <stdexcept>

namespace convene::daemon::http {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (path.empty() || path.front() != '/') return parts;
  std::size_t start = 1;
  for (;;) {
    const auto slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

// Why a handler failed.
enum class RouteFailure { database_unreachable, database_busy, unexpected };

// How a failure is answered: its status and Retry-After (given to a route's own failure page
// too), and the default problem's title and detail.
struct FailureAnswer {
  int status;
  std::string_view retry_after;  // empty: none
  std::string_view title, detail;
};

FailureAnswer answer_for(RouteFailure failure) {
  switch (failure) {
    case RouteFailure::database_unreachable:
      return {503, "5", "Service Unavailable", "the database is unreachable; try again shortly"};
    case RouteFailure::database_busy:
      return {503, "2", "Service Unavailable", "the database is busy; try again shortly"};
    case RouteFailure::unexpected:
      break;
  }
  return {500, "", "Internal Server Error", "the error has been logged"};
}

void answer_failure(const Route& route, RouteFailure failure, Response& response) {
  const FailureAnswer answer = answer_for(failure);
  response = Response{};
  if (route.options.failure) return route.options.failure(response, answer.status, answer.retry_after);
  send_problem(response, answer.status, answer.title, answer.detail);
  if (!answer.retry_after.empty()) response.set_header("Retry-After", answer.retry_after);
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  Route route{std::move(method), std::move(pattern), std::move(handler), std::move(options), {}};
  if (route.pattern.empty() || route.pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': " + route.pattern);
  for (const auto part : split_path(route.pattern)) {
    Route::Segment segment;
    if (!part.empty() && part.front() == '{') {
      const auto close = part.find('}');
      if (close == std::string_view::npos || close == 1)
        throw std::invalid_argument("route parameter without a name in " + route.pattern);
      segment.parameter = true;
      segment.literal = std::string(part.substr(close + 1));
    } else {
      if (part.find('{') != std::string_view::npos)
        throw std::invalid_argument("a route parameter must start its segment: " + route.pattern);
      segment.literal = std::string(part);
    }
    route.segments.push_back(std::move(segment));
  }
  for (const auto& r : routes_)
    if (r.method == route.method && r.pattern == route.pattern)
      throw std::invalid_argument("route registered twice: " + route.method + " " + route.pattern);
  routes_.push_back(std::move(route));
}

std::optional<RouteMatch> Router::match(std::string_view method, std::string_view path) const {
  if (method == "HEAD") method = "GET";
  const auto parts = split_path(path);
  for (const auto& route : routes_) {
    if (route.method != method || route.segments.size() != parts.size()) continue;
    RouteMatch m{&route, {}};
    bool matched = true;
    for (std::size_t i = 0; i < parts.size() && matched; ++i) {
      const auto& segment = route.segments[i];
      const auto part = parts[i];
      if (!segment.parameter) {
        matched = part == segment.literal;
      } else if (part.size() > segment.literal.size() && part.ends_with(segment.literal)) {
        m.params.emplace_back(part.substr(0, part.size() - segment.literal.size()));
      } else {
        matched = false;
      }
    }
    if (matched) return m;
  }
  return std::nullopt;
}

void run_route(const Route& route, const Request& request, Response& response, const RequestObserver& observe) {
  const auto started = std::chrono::steady_clock::now();
  try {
    route.handler(request, response);
  } catch (const pqxx::broken_connection&) {
    answer_failure(route, RouteFailure::database_unreachable, response);
  } catch (const store::PoolExhausted&) {
    answer_failure(route, RouteFailure::database_busy, response);
  } catch (const std::exception& e) {
    log::error("request failed", {{"method", request.method}, {"path", redact_path(request.path)}, {"error", std::string(e.what())}});
    answer_failure(route, RouteFailure::unexpected, response);
  } catch (...) {
    log::error("request failed", {{"method", request.method}, {"path", redact_path(request.path)}, {"error", "unknown"}});
    answer_failure(route, RouteFailure::unexpected, response);
  }
  if (observe) observe(route.pattern, response.status, std::chrono::steady_clock::now() - started);
}

std::string redact_path(std::string_view path) {
  static constexpr std::string_view secret_prefixes[] = {"/feeds/members/", "/preferences/", "/u/"};
  for (const auto prefix : secret_prefixes) {
    if (path.rfind(prefix, 0) == 0) {
      const auto rest = path.substr(prefix.size());
      const auto suffix = rest.size() >= 4 && rest.substr(rest.size() - 4) == ".ics" ? ".ics" : "";
      std::string out(prefix);
      out.append("***").append(suffix);
      return out;
    }
  }
  std::string out(path);
  if (const auto q = out.find('?'); q != std::string::npos) out.resize(q);
  return out;
}

}  // namespace convene::daemon::http
