// Members, their tokens, /v1/me and join-all.
#include "calendar/durations.hpp"
#include "calendar/local_time.hpp"
#include "calendar/zones.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/member_changes.hpp"
#include "daemon/api/routes.hpp"
#include "notifiers/routing.hpp"
#include "store/sql_lists.hpp"
#include "store/tokens.hpp"

#include <boost/json/array.hpp>

namespace convene::api {
namespace {

const std::string kMemberColumns = "m.id, m.email, m.name, m.time_zone, m.digest_hour, m.weekly_day, " +
                                   store::seconds_list_sql("m.reminder_offsets") + ", m.created_at, m.updated_at";

boost::json::object member_json(const pqxx::row& r) {
  boost::json::array offsets;
  for (const auto seconds : store::parse_seconds_list(r[6].as<std::string>()))
    offsets.emplace_back(calendar::format_iso8601_duration(std::chrono::seconds(seconds)));
  return boost::json::object{{"id", r[0].as<std::int64_t>()},
                             {"email", r[1].as<std::string>()},
                             {"name", r[2].as<std::string>()},
                             {"time_zone", r[3].as<std::string>()},
                             {"digest_hour", r[4].as<int>()},
                             {"weekly_day", std::string(weekday_name(r[5].as<int>()))},
                             {"reminder_offsets", std::move(offsets)},
                             {"created_at", rfc3339(r[7].as<std::string>())},
                             {"updated_at", rfc3339(r[8].as<std::string>())}};
}

std::optional<pqxx::row> load_member(Call& call, std::int64_t id) {
  const auto rows = call.tx.exec_params(std::string("SELECT ") + kMemberColumns + " FROM members m WHERE m.id = $1", id);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

// The member fields of POST and PATCH; `creating` makes email, name and time_zone required.
MemberSettings read_member_fields(Input& in, bool creating) {
  MemberSettings f;
  f.email = in.text("email", creating, Text::single_line, 254);
  if (f.email) {
    if (auto p = email_problem(*f.email)) in.invalid("email", *p), f.email.reset();
  }
  f.name = in.text("name", creating, Text::single_line, 200);
  if (f.name && f.name->empty()) in.invalid("name", "must not be empty"), f.name.reset();
  f.time_zone = in.text("time_zone", false, Text::single_line, 64);
  if (f.time_zone && !calendar::is_known_zone(*f.time_zone))
    in.invalid("time_zone", "must be an IANA time zone such as Europe/London"), f.time_zone.reset();
  f.digest_hour = in.integer("digest_hour", false, 0, 23);
  if (auto day = in.text("weekly_day", false, Text::single_line, 16)) {
    f.weekly_day = parse_weekday(*day);
    if (!f.weekly_day) in.invalid("weekly_day", "must be a day name such as monday");
  }
  if (auto offsets = in.string_list("reminder_offsets", false, 10, 32)) {
    std::vector<std::chrono::seconds> seconds;
    for (const auto& text : *offsets) {
      const auto offset = parse_reminder_offset(text);
      if (!offset) {
        in.invalid("reminder_offsets", "'" + text + "' must be an ISO 8601 duration from PT1M to P60D, such as PT1H or P1D");
        break;
      }
      seconds.push_back(*offset);
    }
    if (seconds.size() == offsets->size()) f.reminder_offsets_sql = interval_array_sql(seconds);
  }
  return f;
}

Reply email_taken(const std::string& email) {
  return conflict("a member with the email address " + email + " already exists",
                  boost::json::object{{"errors", boost::json::array{boost::json::object{
                                                     {"field", "email"}, {"message", "is already taken"}}}}});
}

bool email_in_use(Call& call, const std::string& email, std::int64_t except_id) {
  return !call.tx.exec_params("SELECT 1 FROM members WHERE lower(email) = lower($1) AND id <> $2", email, except_id)
              .empty();
}

Reply create_member(Call& call) {
  if (!call.admin()) return forbidden("only admins create members");
  Input in(call.http.body);
  const MemberSettings f = read_member_fields(in, true);
  if (auto error = in.finish()) return *error;
  if (email_in_use(call, *f.email, 0)) return email_taken(*f.email);
  const auto rows = call.tx.exec_params(
      "INSERT INTO members (email, name, time_zone, digest_hour, weekly_day, reminder_offsets, created_at, updated_at) "
      "VALUES ($1, $2, $3, coalesce($4, 7), coalesce($5, 1), coalesce($6::interval[], '{1 day,1 hour}'), $7, $7) "
      "RETURNING id",
      *f.email, *f.name, f.time_zone.value_or(call.services.config.organisation_time_zone), f.digest_hour, f.weekly_day, f.reminder_offsets_sql, call.now_sql);
  return created(member_json(*load_member(call, rows[0][0].as<std::int64_t>())));
}

Reply get_member(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("member");
  if (!call.self_or_admin(*id) && !call.committee()) return forbidden("members can only read themselves");
  const auto row = load_member(call, *id);
  if (!row) return not_found("member");
  return ok(member_json(*row));
}

Reply update_member(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("member");
  if (!call.self_or_admin(*id)) return forbidden("members can only change themselves");
  if (!load_member(call, *id)) return not_found("member");
  Input in(call.http.body);
  const MemberSettings f = read_member_fields(in, false);
  if (auto error = in.finish()) return *error;
  if (f.email && email_in_use(call, *f.email, *id)) return email_taken(*f.email);
  update_member_settings(call.tx, *id, f, call.now_sql);
  return ok(member_json(*load_member(call, *id)));
}

Reply create_api_token(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("member");
  if (!call.admin()) return forbidden("only admins issue API tokens");
  if (!load_member(call, *id)) return not_found("member");
  Input in(call.http.body.empty() ? std::string_view("{}") : std::string_view(call.http.body));
  const auto label = in.text("label", false, Text::single_line, 100);
  if (auto error = in.finish()) return *error;
  const std::string token = store::generate_token(store::TokenPurpose::api);
  const auto token_id = store::insert_token(call.tx, *id, store::TokenPurpose::api, token, label.value_or(""), call.now_sql);
  return created(boost::json::object{{"id", token_id}, {"member_id", *id}, {"token", token}});
}

Reply rotate_feed_token(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("member");
  if (!call.self_or_admin(*id)) return forbidden("members can only rotate their own feed");
  if (!load_member(call, *id)) return not_found("member");
  return created(boost::json::object{
      {"feed_url", rotate_feed_url(call.tx, *id, call.services.config.public_url, call.now_sql)}});
}

Reply join_all(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("member");
  if (!call.self_or_admin(*id)) return forbidden("members can only join communities themselves");
  if (!load_member(call, *id)) return not_found("member");
  Input in(call.http.body);
  const auto delivery = in.text("delivery", true, Text::single_line, 16);
  if (delivery && !notifiers::parse_delivery_mode(*delivery))
    in.invalid("delivery", "must be one of realtime, daily, weekly, none");
  if (auto error = in.finish()) return *error;
  // Existing memberships keep their delivery mode; joining is idempotent.
  const auto joined = call.tx.exec_params(
      "INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) "
      "SELECT $1, c.id, $2, $3, $3 FROM communities c WHERE c.status = 'active' "
      "ON CONFLICT (member_id, community_id) DO NOTHING RETURNING community_id",
      *id, *delivery, call.now_sql);
  boost::json::array slugs;
  for (const auto& r : joined) {
    const auto community_id = r[0].as<std::int64_t>();
    const auto c = call.tx.exec_params("SELECT slug, name FROM communities WHERE id = $1", community_id);
    slugs.emplace_back(c[0][0].as<std::string>());
    emit_event(call, "member.joined", community_id,
               {{"member_id", *id}, {"community", c[0][0].as<std::string>()}, {"community_name", c[0][1].as<std::string>()},
                {"delivery", *delivery}});
  }
  return ok(boost::json::object{{"joined", std::move(slugs)}});
}

Reply me(Call& call) {
  const auto row = load_member(call, call.principal->member_id);
  boost::json::object body = member_json(*row);
  boost::json::array global;
  if (call.principal->admin) global.emplace_back("admin");
  if (call.principal->committee) global.emplace_back("committee");
  body["global_roles"] = std::move(global);
  boost::json::array memberships;
  for (const auto& r : call.tx.exec_params(
           "SELECT c.slug, c.name, ms.delivery FROM memberships ms JOIN communities c ON c.id = ms.community_id "
           "WHERE ms.member_id = $1 ORDER BY c.slug",
           call.principal->member_id))
    memberships.push_back(boost::json::object{
        {"community", r[0].as<std::string>()}, {"name", r[1].as<std::string>()}, {"delivery", r[2].as<std::string>()}});
  body["memberships"] = std::move(memberships);
  boost::json::array roles;
  for (const auto& r : call.tx.exec_params(
           "SELECT c.slug, r.role, r.starts_on::text, r.ends_on::text FROM roles r JOIN communities c ON c.id = r.community_id "
           "WHERE r.member_id = $1 AND r.starts_on <= $2::date AND (r.ends_on IS NULL OR r.ends_on >= $2::date) "
           "ORDER BY c.slug, r.role",
           call.principal->member_id, calendar::format_date(call.today))) {
    boost::json::object role{{"community", r[0].as<std::string>()}, {"role", r[1].as<std::string>()},
                             {"starts_on", r[2].as<std::string>()}};
    role["ends_on"] = r[3].is_null() ? boost::json::value(nullptr) : boost::json::value(r[3].as<std::string>());
    roles.push_back(std::move(role));
  }
  body["roles"] = std::move(roles);
  return ok(std::move(body));
}

}  // namespace

void register_members(Api& api) {
  api.add("GET", "/v1/me", me);
  api.add("POST", "/v1/members", create_member, {.body = Body::json});
  api.add("GET", "/v1/members/{id}", get_member);
  api.add("PATCH", "/v1/members/{id}", update_member, {.body = Body::json});
  api.add("POST", "/v1/members/{id}/tokens", create_api_token, {.body = Body::json});
  api.add("POST", "/v1/members/{id}/feed-token", rotate_feed_token);
  api.add("POST", "/v1/members/{id}/join-all", join_all, {.body = Body::json});
}

}  // namespace convene::api
