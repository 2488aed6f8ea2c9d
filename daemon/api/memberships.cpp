// Joining, changing delivery and leaving a community.
#include "daemon/api/common.hpp"
#include "daemon/api/member_changes.hpp"
#include "daemon/api/routes.hpp"
#include "notifiers/routing.hpp"

namespace convene::api {
namespace {

Reply put_membership(Call& call) {
  const auto member_id = parse_id(call.param("member_id"));
  const auto c = find_community(call, call.param("slug"));
  if (!member_id || !c) return not_found(!c ? "community" : "member");
  if (!call.self_or_admin(*member_id)) return forbidden("members join and leave communities themselves");
  Input in(call.http.body);
  const auto delivery = in.text("delivery", true, Text::single_line, 16);
  if (delivery && !notifiers::parse_delivery_mode(*delivery))
    in.invalid("delivery", "must be one of realtime, daily, weekly, none");
  if (auto error = in.finish()) return *error;
  if (call.tx.exec_params("SELECT 1 FROM members WHERE id = $1", *member_id).empty()) return not_found("member");
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");
  boost::json::object body{{"member_id", *member_id}, {"community", c->slug}, {"delivery", *delivery}};
  const auto actor = call.principal ? std::optional(call.principal->member_id) : std::nullopt;
  if (set_membership(call.tx, *member_id, *c, *delivery, actor, call.now_sql) == MembershipChange::joined)
    return created(std::move(body));
  return ok(std::move(body));
}

Reply delete_membership(Call& call) {
  const auto member_id = parse_id(call.param("member_id"));
  const auto c = find_community(call, call.param("slug"));
  if (!member_id || !c) return not_found(!c ? "community" : "member");
  if (!call.self_or_admin(*member_id)) return forbidden("members join and leave communities themselves");
  leave_community(call.tx, *member_id, *c, call.principal ? std::optional(call.principal->member_id) : std::nullopt,
                  call.now_sql);
  return no_content();
}

}  // namespace

void register_memberships(Api& api) {
  api.add("PUT", "/v1/communities/{slug}/members/{member_id}", put_membership, {.body = Body::json});
  api.add("DELETE", "/v1/communities/{slug}/members/{member_id}", delete_membership);
}

}  // namespace convene::api
