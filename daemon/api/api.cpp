#include "daemon/api/api.hpp"

#include "base/log.hpp"
#include "calendar/local_time.hpp"
#include "daemon/metrics.hpp"
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

std::optional<Principal> authenticate(pqxx::work& tx, const httplib::Request& request, const std::string& now_sql,
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

// "/v1/communities/{slug}" -> ^/v1/communities/([^/]+)$ with names {"slug"}
std::pair<std::regex, std::vector<std::string>> compile(const std::string& pattern) {
  std::string re = "^";
  std::vector<std::string> names;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern[i] == '{') {
      const auto close = pattern.find('}', i);
      names.push_back(pattern.substr(i + 1, close - i - 1));
      re += "([^/]+)";
      i = close + 1;
    } else {
      const char c = pattern[i++];
      if (std::string_view(".+*?^$()[]|\\").find(c) != std::string_view::npos) re += '\\';
      re += c;
    }
  }
  re += "$";
  return {std::regex(re), names};
}

}  // namespace

std::optional<std::string> Call::query(const std::string& name) const {
  if (!http.has_param(name.c_str())) return std::nullopt;
  return http.get_param_value(name.c_str());
}

bool Call::has_role(std::int64_t community_id, std::initializer_list<std::string_view> roles) const {
  if (!principal) return false;
  if (principal->admin) return true;
  return store::holds_role(tx, principal->member_id, community_id, roles, calendar::format_date(today));
}

Api::Api(Services services) : services_(services) {}

void Api::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  auto [regex, names] = compile(pattern);
  routes_.push_back(Route{{std::move(method), std::move(pattern)}, std::move(regex), std::move(names),
                          std::move(handler), options});
}

std::vector<RouteInfo> Api::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_) out.push_back(r.info);
  return out;
}

void write_reply(const Reply& reply, httplib::Response& response) {
  response.status = reply.status;
  for (const auto& [k, v] : reply.headers) response.set_header(k.c_str(), v);
  if (!reply.content_type.empty()) {
    response.set_content(reply.text, reply.content_type.c_str());
  } else if (!reply.body.is_null()) {
    response.set_content(boost::json::serialize(reply.body),
                         reply.is_problem ? "application/problem+json" : "application/json");
  }
}

Reply Api::dispatch(const Route& route, const httplib::Request& request,
                    const std::map<std::string, std::string>& params) {
  const auto& config = services_.config;
  if (route.options.body == Body::json && request.body.size() > config.http_max_body)
    return problem(413, "Payload Too Large",
                   "JSON bodies are limited to " + std::to_string(config.http_max_body) + " bytes");
  if (route.options.body == Body::csv && request.body.size() > kCsvMaxBody)
    return problem(413, "Payload Too Large", "CSV bodies are limited to 20 MiB");
  if (route.options.body == Body::none && request.body.size() > config.http_max_body)
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

Reply Api::run(const std::string& route_pattern, const httplib::Request& request,
               const std::map<std::string, std::string>& params) {
  for (const auto& r : routes_)
    if (r.info.pattern == route_pattern && r.info.method == request.method) return dispatch(r, request, params);
  return not_found("route");
}

void Api::install(httplib::Server& server, daemon::HttpMetrics& metrics) {
  // One httplib handler per method and pattern; httplib matches the regex, we name the groups.
  for (const auto& route : routes_) {
    auto handler = [this, &route, &metrics](const httplib::Request& req, httplib::Response& res) {
      const auto started = std::chrono::steady_clock::now();
      std::map<std::string, std::string> params;
      for (std::size_t i = 0; i < route.names.size() && i + 1 < req.matches.size(); ++i)
        params[route.names[i]] = req.matches[i + 1].str();
      write_reply(dispatch(route, req, params), res);
      metrics.record(route.info.pattern, res.status, std::chrono::steady_clock::now() - started);
    };
    const std::string regex = std::regex_replace(route.info.pattern, std::regex(R"(\{[a-z_]+\})"), "([^/]+)");
    if (route.info.method == "GET") server.Get(regex, handler);
    else if (route.info.method == "POST") server.Post(regex, handler);
    else if (route.info.method == "PUT") server.Put(regex, handler);
    else if (route.info.method == "PATCH") server.Patch(regex, handler);
    else if (route.info.method == "DELETE") server.Delete(regex, handler);
  }
}

}  // namespace convene::api
