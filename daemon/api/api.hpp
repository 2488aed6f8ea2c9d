#pragma once
// The v1 HTTP API: a route table on the HTTP front's router (daemon/http). Each request runs in one database
// transaction (authentication included) that commits only when the reply is a success;
// any 4xx/5xx reply rolls back, so a failed request changes nothing.
#include "calendar/clock.hpp"
#include "daemon/api/reply.hpp"
#include "daemon/config.hpp"
#include "store/database.hpp"

#include <pqxx/pqxx>

#include "daemon/http/router.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace convene::daemon {
class HttpMetrics;
}
namespace convene::notifiers {
class Templates;
}

namespace convene::api {

struct Principal {
  std::int64_t member_id = 0;
  std::string email;
  std::string name;
  bool admin = false;
  bool committee = false;
};

struct Services {
  store::Database& db;
  const daemon::Config& config;
  const calendar::Clock& clock;
  // Set only when convened runs with --test-clock: POST /v1/admin/clock moves it.
  calendar::ManualClock* test_clock = nullptr;
  // Tells the job engine to look for due jobs now (after a retry or a clock move).
  std::function<void()> nudge_jobs = [] {};
  // The email templates, for previews (GET /v1/members/{id}/digest-preview); null: 503 there.
  const notifiers::Templates* templates = nullptr;
};

// One request being answered.
struct Call {
  const daemon::http::Request& http;
  pqxx::work& tx;
  const Services& services;
  const std::map<std::string, std::string>& params;  // path parameters by name
  calendar::Instant now;
  std::string now_sql;                   // `now` as a timestamptz literal for SQL parameters
  std::chrono::year_month_day today;     // in the organisation's zone: roles are dated
  std::optional<Principal> principal;

  const std::string& param(const std::string& name) const { return params.at(name); }
  std::optional<std::string> query(const std::string& name) const;

  bool admin() const { return principal && principal->admin; }
  bool committee() const { return principal && (principal->committee || principal->admin); }
  bool self_or_admin(std::int64_t member_id) const {
    return principal && (principal->admin || principal->member_id == member_id);
  }
  // True when the caller holds one of `roles` in the community today (admins always do).
  bool has_role(std::int64_t community_id, std::initializer_list<std::string_view> roles) const;
};

using Handler = std::function<Reply(Call&)>;

enum class Body { none, json, csv };

struct RouteOptions {
  bool authenticated = true;
  Body body = Body::none;
};

struct RouteInfo {
  std::string method;
  std::string pattern;  // "/v1/communities/{slug}"
};

class Api {
 public:
  explicit Api(Services services);

  void add(std::string method, std::string pattern, Handler handler, RouteOptions options = {});
  // Registers every route on the router, each with its body limit and the API's rate limits.
  void install(daemon::http::Router& router);
  std::vector<RouteInfo> routes() const;
  const Services& services() const { return services_; }

  // Runs a route's handler as the server would (also used by the CLI for imports).
  Reply run(const std::string& route_pattern, const daemon::http::Request& request,
            const std::map<std::string, std::string>& params);

 private:
  struct Route {
    RouteInfo info;
    std::vector<std::string> names;
    Handler handler;
    RouteOptions options;
  };
  std::size_t body_limit(Body body) const;
  Reply dispatch(const Route& route, const daemon::http::Request& request, const std::map<std::string, std::string>& params);

  Services services_;
  std::vector<Route> routes_;
};

// Writes a reply onto an HTTP response.
void write_reply(const Reply& reply, daemon::http::Response& response);

// Every route of the v1 API, registered on `api`.
void register_v1_routes(Api& api);
// An Api with every v1 route.
Api v1_api(Services services);

}  // namespace convene::api
