// Webhook endpoints (DESIGN §4): a member's own, filtered by event type and community, and a
// community's, managed by its meeting and event coordinators. The secret is shown when the
// endpoint is made and when it is rotated, never again.
#include "daemon/api/common.hpp"
#include "daemon/api/routes.hpp"
#include "notifiers/audience.hpp"
#include "notifiers/webhook_signature.hpp"
#include "store/sql_lists.hpp"
#include "store/sql_time.hpp"

#include <boost/json/array.hpp>

namespace convene::api {
namespace {

constexpr std::size_t kMaxEventTypes = 20, kMaxCommunities = 200;
// A rotated-out secret keeps signing (beside the new one) this long, so receivers can switch.
constexpr auto kRotationOverlap = std::chrono::hours(24);

struct Endpoint {
  std::int64_t id = 0;
  std::optional<std::int64_t> member_id, community_id;
  std::string url, status;
  std::vector<std::string> event_types, communities;  // slugs
  std::optional<std::string> disabled_reason;
  std::string created_at;
};

std::optional<Endpoint> load_endpoint(Call& call, std::int64_t id, bool for_update = false) {
  const auto rows = call.tx.exec_params(
      std::string("SELECT e.id, e.member_id, e.community_id, e.url, e.status, array_to_string(e.event_types, ','), "
                  "(SELECT string_agg(c.slug, ',' ORDER BY c.slug) FROM communities c WHERE c.id = ANY (e.communities)), "
                  "e.disabled_reason, e.created_at FROM webhook_endpoints e WHERE e.id = $1") +
          (for_update ? " FOR UPDATE" : ""),
      id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  Endpoint e;
  e.id = r[0].as<std::int64_t>();
  if (!r[1].is_null()) e.member_id = r[1].as<std::int64_t>();
  if (!r[2].is_null()) e.community_id = r[2].as<std::int64_t>();
  e.url = r[3].as<std::string>();
  e.status = r[4].as<std::string>();
  e.event_types = store::split_list(r[5].is_null() ? "" : r[5].as<std::string>());
  e.communities = store::split_list(r[6].is_null() ? "" : r[6].as<std::string>());
  if (!r[7].is_null()) e.disabled_reason = r[7].as<std::string>();
  e.created_at = rfc3339(r[8].as<std::string>());
  return e;
}

boost::json::object endpoint_json(Call& call, const Endpoint& e) {
  boost::json::array types, communities;
  for (const auto& t : e.event_types) types.push_back(boost::json::value(t));
  for (const auto& c : e.communities) communities.push_back(boost::json::value(c));
  boost::json::object o{{"id", e.id}, {"url", e.url}, {"event_types", std::move(types)}, {"status", e.status},
                        {"created_at", e.created_at}};
  if (e.member_id) {
    o["member_id"] = *e.member_id;
    o["communities"] = e.communities.empty() ? boost::json::value(nullptr) : boost::json::value(std::move(communities));
  }
  if (e.community_id) {
    const auto slug = call.tx.exec_params("SELECT slug FROM communities WHERE id = $1", *e.community_id)[0][0];
    o["community"] = slug.as<std::string>();
  }
  o["disabled_reason"] = e.disabled_reason ? boost::json::value(*e.disabled_reason) : boost::json::value(nullptr);
  return o;
}

// {a,b} for an SQL text[] parameter; the values were validated (event kinds, slugs).
std::string array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const auto& v : values) out += (out.size() > 1 ? "," : "") + v;
  return out + "}";
}

struct Fields {
  std::optional<std::string> url;
  std::vector<std::string> event_types;
  std::optional<std::vector<std::int64_t>> community_ids;
};

// url and event_types, shared by both kinds of endpoint.
Fields read_common(Input& in) {
  Fields f;
  f.url = in.text("url", true, Text::single_line, 2000);
  if (f.url) {
    if (auto p = url_problem(*f.url)) in.invalid("url", *p), f.url.reset();
  }
  if (auto types = in.string_list("event_types", false, kMaxEventTypes, 64)) {
    for (const auto& t : *types) {
      if (!notifiers::audience_of(t)) {
        in.invalid("event_types", "'" + t + "' is not an event type (see docs/api.md, Events)");
        continue;
      }
      if (std::find(f.event_types.begin(), f.event_types.end(), t) == f.event_types.end()) f.event_types.push_back(t);
    }
  }
  return f;
}

Reply created_endpoint(Call& call, const std::optional<std::int64_t>& member_id, const std::optional<std::int64_t>& community_id,
                       const Fields& f) {
  const std::string secret = notifiers::generate_webhook_secret();
  std::optional<std::string> communities_sql;
  if (f.community_ids) {
    std::string list = "{";
    for (const auto id : *f.community_ids) list.append(list.size() > 1 ? "," : "").append(std::to_string(id));
    communities_sql = list + "}";
  }
  const auto id = call.tx
                      .exec_params(
                          "INSERT INTO webhook_endpoints (member_id, community_id, url, event_types, communities, secret, "
                          "created_by, created_at, updated_at) VALUES ($1, $2, $3, $4::text[], $5::bigint[], $6, $7, $8, $8) "
                          "RETURNING id",
                          member_id, community_id, *f.url, array_literal(f.event_types), communities_sql, secret,
                          call.principal->member_id, call.now_sql)[0][0]
                      .as<std::int64_t>();
  auto body = endpoint_json(call, *load_endpoint(call, id));
  body["secret"] = secret;
  return created(std::move(body));
}

// Whose endpoints are capped: the owning row (locked while counting) and its column in
// webhook_endpoints.
struct Owner {
  const char* table;
  const char* column;
  const char* noun;  // "a member", for the refusal
};
constexpr Owner kMemberOwner{"members", "member_id", "a member"};
constexpr Owner kCommunityOwner{"communities", "community_id", "a community"};

// A refusal when the owner already has `cap` endpoints. Disabled endpoints count: they are the
// owner's until deleted, and otherwise endpoints left to fail (or answer 410) could pile up
// without bound. The owner's row is locked first (NO KEY UPDATE: it serialises creations for
// one owner without blocking inserts that merely reference the row), so two concurrent
// creations cannot both see room for one more; the count that follows sees the other's insert.
std::optional<Reply> refuse_beyond_cap(Call& call, const Owner& owner, std::int64_t owner_id, int cap) {
  call.tx.exec_params(std::string("SELECT 1 FROM ") + owner.table + " WHERE id = $1 FOR NO KEY UPDATE", owner_id);
  const auto count = call.tx
                         .exec_params(std::string("SELECT count(*) FROM webhook_endpoints WHERE ") + owner.column + " = $1",
                                      owner_id)[0][0]
                         .as<long long>();
  if (count < cap) return std::nullopt;
  return problem(422, "Unprocessable Content",
                 std::string(owner.noun) + " may have at most " + std::to_string(cap) +
                     (cap == 1 ? " webhook endpoint" : " webhook endpoints") + "; delete one to add another",
                 boost::json::object{{"limit", cap}});
}

Reply create_member_webhook(Call& call) {
  const auto member_id = parse_id(call.param("id"));
  if (!member_id) return not_found("member");
  if (!call.self_or_admin(*member_id)) return forbidden("members manage only their own webhooks");
  if (call.tx.exec_params("SELECT 1 FROM members WHERE id = $1", *member_id).empty()) return not_found("member");
  Input in(call.http.body);
  Fields f = read_common(in);
  if (auto slugs = in.string_list("communities", false, kMaxCommunities, 64)) {
    f.community_ids.emplace();
    for (const auto& slug : *slugs) {
      const auto rows = call.tx.exec_params("SELECT id FROM communities WHERE slug = $1", slug);
      if (rows.empty()) in.invalid("communities", "no community has the slug '" + slug + "'");
      else f.community_ids->push_back(rows[0][0].as<std::int64_t>());
    }
  }
  if (auto error = in.finish()) return *error;
  if (auto refusal = refuse_beyond_cap(call, kMemberOwner, *member_id, call.services.config.webhook_max_endpoints_per_member))
    return *refusal;
  return created_endpoint(call, member_id, std::nullopt, f);
}

bool manages_community(Call& call, std::int64_t community_id) {
  return call.admin() || call.has_role(community_id, {"meeting_coordinator", "event_coordinator"});
}

Reply create_community_webhook(Call& call) {
  const auto c = find_community(call, call.param("slug"));
  if (!c) return not_found("community");
  if (!manages_community(call, c->id))
    return forbidden("only the community's meeting and event coordinators and admins manage its webhooks");
  Input in(call.http.body);
  const Fields f = read_common(in);
  if (auto error = in.finish()) return *error;
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");
  if (auto refusal = refuse_beyond_cap(call, kCommunityOwner, c->id, call.services.config.webhook_max_endpoints_per_community))
    return *refusal;
  return created_endpoint(call, std::nullopt, c->id, f);
}

// Who may see, rotate and delete an endpoint.
std::optional<Reply> refuse_unless_owner(Call& call, const Endpoint& e) {
  if (e.member_id && !call.self_or_admin(*e.member_id)) return forbidden("members manage only their own webhooks");
  if (e.community_id && !manages_community(call, *e.community_id))
    return forbidden("only the community's meeting and event coordinators and admins manage its webhooks");
  return std::nullopt;
}

Reply delete_webhook(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("webhook");
  const auto e = load_endpoint(call, *id, true);
  if (!e) return not_found("webhook");
  if (auto refusal = refuse_unless_owner(call, *e)) return *refusal;
  // Its undelivered notifications go with it (ON DELETE CASCADE).
  call.tx.exec_params("DELETE FROM webhook_endpoints WHERE id = $1", *id);
  return no_content();
}

Reply rotate_secret(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("webhook");
  const auto e = load_endpoint(call, *id, true);
  if (!e) return not_found("webhook");
  if (auto refusal = refuse_unless_owner(call, *e)) return *refusal;
  const std::string secret = notifiers::generate_webhook_secret();
  const auto until = call.now + std::chrono::duration_cast<std::chrono::microseconds>(kRotationOverlap);
  call.tx.exec_params(
      "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $2, secret = $3, updated_at = $4 "
      "WHERE id = $1",
      *id, store::sql_instant(until), secret, call.now_sql);
  auto body = endpoint_json(call, *e);
  body["secret"] = secret;
  body["previous_secret_expires_at"] = calendar::format_rfc3339_utc(until);
  return ok(std::move(body));
}

Reply list_member_webhooks(Call& call) {
  const auto member_id = parse_id(call.param("id"));
  if (!member_id) return not_found("member");
  if (!call.self_or_admin(*member_id)) return forbidden("members see only their own webhooks");
  boost::json::array items;
  for (const auto& r : call.tx.exec_params("SELECT id FROM webhook_endpoints WHERE member_id = $1 ORDER BY id", *member_id))
    items.push_back(endpoint_json(call, *load_endpoint(call, r[0].as<std::int64_t>())));
  return ok(boost::json::object{{"items", std::move(items)}});
}

Reply list_community_webhooks(Call& call) {
  const auto c = find_community(call, call.param("slug"));
  if (!c) return not_found("community");
  if (!manages_community(call, c->id))
    return forbidden("only the community's meeting and event coordinators and admins manage its webhooks");
  boost::json::array items;
  for (const auto& r : call.tx.exec_params("SELECT id FROM webhook_endpoints WHERE community_id = $1 ORDER BY id", c->id))
    items.push_back(endpoint_json(call, *load_endpoint(call, r[0].as<std::int64_t>())));
  return ok(boost::json::object{{"items", std::move(items)}});
}

}  // namespace

void register_webhooks(Api& api) {
  api.add("POST", "/v1/members/{id}/webhooks", create_member_webhook, {.body = Body::json});
  api.add("GET", "/v1/members/{id}/webhooks", list_member_webhooks);
  api.add("POST", "/v1/communities/{slug}/webhooks", create_community_webhook, {.body = Body::json});
  api.add("GET", "/v1/communities/{slug}/webhooks", list_community_webhooks);
  api.add("POST", "/v1/webhooks/{id}/rotate-secret", rotate_secret);
  api.add("DELETE", "/v1/webhooks/{id}", delete_webhook);
}

}  // namespace convene::api
