// Joining, changing delivery and leaving a community.
#include "daemon/api/common.hpp"
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
  const auto existing = call.tx.exec_params(
      "SELECT delivery FROM memberships WHERE member_id = $1 AND community_id = $2 FOR UPDATE", *member_id, c->id);
  boost::json::object body{{"member_id", *member_id}, {"community", c->slug}, {"delivery", *delivery}};
  if (!existing.empty()) {
    call.tx.exec_params("UPDATE memberships SET delivery = $3, updated_at = $4 WHERE member_id = $1 AND community_id = $2",
                        *member_id, c->id, *delivery, call.now_sql);
    return ok(std::move(body));
  }
  call.tx.exec_params(
      "INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
      *member_id, c->id, *delivery, call.now_sql);
  emit_event(call, "member.joined", c->id,
             {{"member_id", *member_id}, {"community", c->slug}, {"community_name", c->name}, {"delivery", *delivery}});
  return created(std::move(body));
}

Reply delete_membership(Call& call) {
  const auto member_id = parse_id(call.param("member_id"));
  const auto c = find_community(call, call.param("slug"));
  if (!member_id || !c) return not_found(!c ? "community" : "member");
  if (!call.self_or_admin(*member_id)) return forbidden("members join and leave communities themselves");
  const auto removed = call.tx.exec_params(
      "DELETE FROM memberships WHERE member_id = $1 AND community_id = $2 RETURNING delivery", *member_id, c->id);
  if (!removed.empty()) {
    // Leaving stops everything still queued for this membership, at once.
    call.tx.exec_params(
        "UPDATE notifications SET state = 'cancelled' WHERE member_id = $1 AND community_id = $2 AND state = 'pending'",
        *member_id, c->id);
    emit_event(call, "member.left", c->id, {{"member_id", *member_id}, {"community", c->slug}, {"community_name", c->name}});
    // The member's feed lost a community: its Last-Modified must move on.
    call.tx.exec_params("UPDATE members SET updated_at = $2 WHERE id = $1", *member_id, call.now_sql);
  }
  return no_content();
}

}  // namespace

void register_memberships(Api& api) {
  api.add("PUT", "/v1/communities/{slug}/members/{member_id}", put_membership, {.body = Body::json});
  api.add("DELETE", "/v1/communities/{slug}/members/{member_id}", delete_membership);
}

}  // namespace convene::api
