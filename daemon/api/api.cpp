#include "daemon/api/api.hpp"

#include "base/log.hpp"
#include "calendar/local_time.hpp"
#include "store/errors.hpp"
#include "store/roles.hpp"
#include "store/sql_time.hpp"
#include "store/tokens.hpp"

#include <boost/json/serialize.hpp>

namespace convene::api {
namespace {

// Thrown inside the transaction to roll it back and answer with the reply.
struct Rollback {
  Reply reply;
};

constexpr std::size_t kCsvMaxBody = 20 * 1024 * 1024;
constexpr std::size_t kNoBodyLimit = 64 * 1024;

std::optional<Principal> authenticate(pqxx::work& tx, const daemon::http::Request& request, const std::string& now_sql,
                                      std::chrono::year_month_day today) {
  const std::string header = request.get_header_value("Authorization");
  static constexpr std::string_view scheme = "Bearer ";
  if (header.size() <= scheme.size() || header.compare(0, scheme.size(), scheme) != 0) return std::nullopt;
  const auto member = store::member_for_token(tx, std::string_view(header).substr(scheme.size()),
                                              store::TokenPurpose::api, now_sql);
  if (!member) return std::nullopt;
  const auto rows = tx.exec_params(
      "SELECT m.email, m.name, "
      "  bool_or(r.role = 'admin') AS admin, bool_or(r.role = 'committee') AS committee "
      "FROM members m LEFT JOIN roles r ON r.member_id = m.id AND r.community_id IS NULL "
      "  AND r.starts_on <= $2::date AND (r.ends_on IS NULL OR r.ends_on >= $2::date) "
      "WHERE m.id = $1 GROUP BY m.id",
      *member, calendar::format_date(today));
  if (rows.empty()) return std::nullopt;
  Principal p;
  p.member_id = *member;
  p.email = rows[0][0].as<std::string>();
  p.name = rows[0][1].as<std::string>();
  p.admin = !rows[0][2].is_null() && rows[0][2].as<bool>();
  p.committee = !rows[0][3].is_null() && rows[0][3].as<bool>();
  return p;
}

// "/v1/communities/{slug}/members/{id}" -> {"slug", "id"}
std::vector<std::string> parameter_names(const std::string& pattern) {
  std::vector<std::string> names;
  for (auto open = pattern.find('{'); open != std::string::npos; open = pattern.find('{', open + 1))
    names.push_back(pattern.substr(open + 1, pattern.find('}', open) - open - 1));
  return names;
}

}  // namespace

std::optional<std::string> Call::query(const std::string& name) const {
  if (!http.has_param(name)) return std::nullopt;
  return http.get_param_value(name);
}

bool Call::has_role(std::int64_t community_id, std::initializer_list<std::string_view> roles) const {
  if (!principal) return false;
  if (principal->admin) return true;
  return store::holds_role(tx, principal->member_id, community_id, roles, calendar::format_date(today));
}

Api::Api(Services services) : services_(services) {}

void Api::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  auto names = parameter_names(pattern);
  routes_.push_back(Route{{std::move(method), std::move(pattern)}, std::move(names), std::move(handler), options});
}

std::vector<RouteInfo> Api::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_) out.push_back(r.info);
  return out;
}

void write_reply(const Reply& reply, daemon::http::Response& response) {
  response.status = reply.status;
  for (const auto& [k, v] : reply.headers) response.set_header(k, v);
  if (!reply.content_type.empty()) {
    response.set_content(reply.text, reply.content_type);
  } else if (!reply.body.is_null()) {
    response.set_content(boost::json::serialize(reply.body),
                         reply.is_problem ? "application/problem+json" : "application/json");
  }
}

Reply Api::dispatch(const Route& route, const daemon::http::Request& request,
                    const std::map<std::string, std::string>& params) {
  const auto& config = services_.config;
  if (route.options.body == Body::json && request.body.size() > config.http_max_body)
    return problem(413, "Payload Too Large",
                   "JSON bodies are limited to " + std::to_string(config.http_max_body) + " bytes");
  if (route.options.body == Body::csv && request.body.size() > kCsvMaxBody)
    return problem(413, "Payload Too Large", "CSV bodies are limited to 20 MiB");
  if (route.options.body == Body::none && request.body.size() > kNoBodyLimit)
    return problem(413, "Payload Too Large", "this route takes no request body");
  const calendar::Instant now = services_.clock.now();
  const std::string now_sql = store::sql_instant(now);
  const auto today = calendar::local_date(now, config.organisation_time_zone);
  try {
    return services_.db.transact([&](pqxx::work& tx) {
      Call call{request, tx, services_, params, now, now_sql, today, std::nullopt};
      call.principal = authenticate(tx, request, now_sql, today);
      if (route.options.authenticated && !call.principal) throw Rollback{unauthorized()};
      Reply reply = route.handler(call);
      if (reply.failed()) throw Rollback{std::move(reply)};
      return reply;
    });
  } catch (Rollback& rollback) {
    return std::move(rollback.reply);
  } catch (const pqxx::unique_violation&) {
    // Handlers check uniqueness first; this is a concurrent request that won the race.
    return problem(409, "Conflict", "a concurrent request created the same record; repeat the request");
  } catch (const store::PoolExhausted&) {
    Reply r = problem(503, "Service Unavailable", "the database is busy; try again shortly");
    r.headers.emplace_back("Retry-After", "2");
    return r;
  } catch (const pqxx::broken_connection&) {
    Reply r = problem(503, "Service Unavailable", "the database is unreachable; try again shortly");
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
}

Reply Api::run(const std::string& route_pattern, const daemon::http::Request& request,
               const std::map<std::string, std::string>& params) {
  for (const auto& r : routes_)
    if (r.info.pattern == route_pattern && r.info.method == request.method) return dispatch(r, request, params);
  return not_found("route");
}

std::size_t Api::body_limit(Body body) const {
  switch (body) {
    case Body::csv: return kCsvMaxBody;
    case Body::json: return services_.config.http_max_body;
    case Body::none: break;
  }
  // Routes without a body still accept a small one (clients send "{}" or a form by habit).
  return kNoBodyLimit;
}

void Api::install(daemon::http::Router& router) {
  for (const auto& route : routes_) {
    auto handler = [this, &route](const daemon::http::Request& req, daemon::http::Response& res) {
      std::map<std::string, std::string> params;
      for (std::size_t i = 0; i < route.names.size() && i + 1 < req.matches.size(); ++i)
        params[route.names[i]] = req.matches[i + 1];
      write_reply(dispatch(route, req, params), res);
    };
    router.add(route.info.method, route.info.pattern, std::move(handler),
               {.max_body = body_limit(route.options.body), .limit = daemon::http::LimitClass::api});
  }
}

}  // namespace convene::api
