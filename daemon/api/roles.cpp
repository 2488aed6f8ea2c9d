// Volunteer leadership roles per community, with start and optional end dates.
#include "calendar/local_time.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/routes.hpp"

namespace convene::api {
namespace {

bool is_community_role(std::string_view role) {
  return role == "discussion_monitor" || role == "meeting_coordinator" || role == "event_coordinator";
}

Reply put_role(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins assign roles");
  const auto member_id = parse_id(call.param("member_id"));
  const auto c = find_community(call, call.param("slug"));
  if (!member_id || !c) return not_found(!c ? "community" : "member");
  Input in(call.http.body);
  const auto role = in.text("role", true, Text::single_line, 32);
  if (role && !is_community_role(*role))
    in.invalid("role", "must be discussion_monitor, meeting_coordinator or event_coordinator");
  std::optional<std::chrono::year_month_day> starts = call.today, ends;
  if (const auto text = in.text("starts_on", false, Text::single_line, 10)) {
    starts = calendar::parse_date(*text);
    if (!starts) in.invalid("starts_on", "must be a date such as 2027-01-31");
    else if (auto p = date_range_problem(*starts)) in.invalid("starts_on", *p), starts.reset();
  }
  if (const auto text = in.text("ends_on", false, Text::single_line, 10)) {
    ends = calendar::parse_date(*text);
    if (!ends) in.invalid("ends_on", "must be a date such as 2027-12-31");
    else if (auto p = date_range_problem(*ends)) in.invalid("ends_on", *p), ends.reset();
  }
  if (starts && ends && *ends < *starts) in.invalid("ends_on", "must not be before starts_on");
  if (auto error = in.finish()) return *error;
  if (call.tx.exec_params("SELECT 1 FROM members WHERE id = $1", *member_id).empty()) return not_found("member");
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");
  const auto ends_sql = ends ? std::optional<std::string>(calendar::format_date(*ends)) : std::nullopt;
  // One current-or-future assignment per member, community and role: re-assigning updates its dates.
  const auto existing = call.tx.exec_params(
      "SELECT id FROM roles WHERE member_id = $1 AND community_id = $2 AND role = $3 "
      "AND (ends_on IS NULL OR ends_on >= $4::date) ORDER BY starts_on LIMIT 1 FOR UPDATE",
      *member_id, c->id, *role, calendar::format_date(call.today));
  std::int64_t id = 0;
  bool created_now = false;
  bool changed = true;
  if (!existing.empty()) {
    id = existing[0][0].as<std::int64_t>();
    const auto updated = call.tx.exec_params(
        "UPDATE roles SET starts_on = $2::date, ends_on = $3::date WHERE id = $1 "
        "AND (starts_on, ends_on) IS DISTINCT FROM ($2::date, $3::date) RETURNING id",
        id, calendar::format_date(*starts), ends_sql);
    changed = !updated.empty();
  } else {
    id = call.tx.exec_params(
                     "INSERT INTO roles (member_id, community_id, role, starts_on, ends_on, created_at) "
                     "VALUES ($1, $2, $3, $4::date, $5::date, $6) "
                     "ON CONFLICT (member_id, coalesce(community_id, 0), role, starts_on) "
                     "DO UPDATE SET ends_on = EXCLUDED.ends_on RETURNING id",
                     *member_id, c->id, *role, calendar::format_date(*starts), ends_sql, call.now_sql)[0][0]
             .as<std::int64_t>();
    created_now = true;
  }
  boost::json::object body{{"id", id},
                           {"member_id", *member_id},
                           {"community", c->slug},
                           {"role", *role},
                           {"starts_on", calendar::format_date(*starts)}};
  body["ends_on"] = ends_sql ? boost::json::value(*ends_sql) : boost::json::value(nullptr);
  if (changed) emit_event(call, "role.assigned", c->id, body);
  return created_now ? created(std::move(body)) : ok(std::move(body));
}

Reply end_role(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins end roles");
  const auto member_id = parse_id(call.param("member_id"));
  const auto c = find_community(call, call.param("slug"));
  const std::string role = call.param("role");
  if (!member_id || !c || !is_community_role(role)) return not_found(!c ? "community" : "role");
  const std::string today = calendar::format_date(call.today);
  // Future assignments disappear; a current one ends yesterday, so it grants nothing today.
  call.tx.exec_params("DELETE FROM roles WHERE member_id = $1 AND community_id = $2 AND role = $3 AND starts_on >= $4::date",
                      *member_id, c->id, role, today);
  call.tx.exec_params(
      "UPDATE roles SET ends_on = $4::date - 1 WHERE member_id = $1 AND community_id = $2 AND role = $3 "
      "AND (ends_on IS NULL OR ends_on >= $4::date)",
      *member_id, c->id, role, today);
  return no_content();
}

}  // namespace

void register_roles(Api& api) {
  api.add("PUT", "/v1/communities/{slug}/roles/{member_id}", put_role, {.body = Body::json});
  api.add("DELETE", "/v1/communities/{slug}/roles/{member_id}/{role}", end_role);
}

}  // namespace convene::api
