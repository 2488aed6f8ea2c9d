#pragma once
// Routes by method and path pattern ("/v1/communities/{slug}", "/feeds/rooms/{id}.ics"), each
// with its own limits: the largest body it reads, its rate-limit class, and whether it can
// answer on the event loop. run_route is the one place a route is timed, counted and its
// failures turned into answers.
#include "daemon/http/message.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convene::daemon::http {

using Handler = std::function<void(const Request&, Response&)>;

// Which token buckets a request draws from (rate_limit.hpp; keys in docs/operations.md).
enum class LimitClass { none, api, links, feeds };

struct RouteOptions {
  std::size_t max_body = 0;  // bytes read at most, chunked or not; 0: the route takes no body
  LimitClass limit = LimitClass::none;
  // The whole handler runs on the event loop: it must not block (no database).
  bool on_loop = false;
  // Runs on a thread of its own instead of the worker pool (/readyz: answers while every
  // worker waits for the database).
  bool dedicated_thread = false;
  // Tried on the event loop first (e.g. a cached public feed); true when it answered.
  std::function<bool(const Request&, Response&)> fast_path = {};
  // Answers a failure (503 database unreachable or busy, 500 unexpected) with the status and
  // Retry-After (empty for a 500) run_route chose; default problem+json.
  std::function<void(Response&, int status, std::string_view retry_after)> failure = {};
};

struct Route {
  std::string method;
  std::string pattern;  // also the metrics label
  Handler handler;
  RouteOptions options;
  struct Segment {
    std::string literal;  // the whole segment, or the text after a parameter ("{slug}.ics" -> ".ics")
    bool parameter = false;
  };
  std::vector<Segment> segments;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::vector<std::string> params;
};

class Router {
 public:
  // Throws std::invalid_argument for a malformed pattern or a duplicate method and pattern.
  void add(std::string method, std::string pattern, Handler handler, RouteOptions options = {});
  // HEAD is routed as GET. nullopt when no route has this method and path.
  std::optional<RouteMatch> match(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

using RequestObserver = std::function<void(std::string_view route, int status, std::chrono::steady_clock::duration)>;

// Runs the route's handler on the calling thread: timed, reported to `observe`, exceptions
// answered (database unreachable or pool exhausted: 503 with Retry-After; anything else is
// logged and answered 500). Never throws.
void run_route(const Route& route, const Request& request, Response& response, const RequestObserver& observe);

// Paths that carry a secret (feed and preference tokens) with the secret replaced by "***",
// and never the query string: safe for logs.
std::string redact_path(std::string_view path);

}  // namespace convene::daemon::http
