// Discussion topics and each community's topic cadence.
#include "calendar/durations.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/routes.hpp"

namespace convene::api {
namespace {

Reply put_cadence(Call& call) {
  const auto c = find_community(call, call.param("slug"), true);
  if (!c) return not_found("community");
  if (!call.committee() && !call.has_role(c->id, {"discussion_monitor"}))
    return forbidden("only the community's discussion monitors, the committee and admins set its topic cadence");
  Input in(call.http.body);
  // "every": an ISO 8601 duration, or null to clear the cadence.
  std::int64_t every_seconds = 0;
  const bool clearing = in.is_null("every");
  if (const auto text = in.text("every", !clearing, Text::single_line, 32)) {
    const auto every = calendar::parse_iso8601_duration(*text);
    if (!every || *every < std::chrono::days(1) || *every > std::chrono::days(366))
      in.invalid("every", "must be an ISO 8601 duration from P1D to P366D, such as P7D or P2W");
    else
      every_seconds = every->count();
  }
  if (auto error = in.finish()) return *error;
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");
  const auto interval = every_seconds > 0 ? std::optional<std::string>(std::to_string(every_seconds) + " seconds") : std::nullopt;
  call.tx.exec_params("UPDATE communities SET topic_cadence = $2::interval, updated_at = $3 WHERE id = $1", c->id, interval,
                      call.now_sql);
  boost::json::object body{{"community", c->slug}};
  body["every"] = every_seconds > 0 ? boost::json::value(calendar::format_iso8601_duration(std::chrono::seconds(every_seconds)))
                                    : boost::json::value(nullptr);
  return ok(std::move(body));
}

Reply post_topic(Call& call) {
  const auto c = find_community(call, call.param("slug"));
  if (!c) return not_found("community");
  if (!call.has_role(c->id, {"discussion_monitor"}))
    return forbidden("only the community's discussion monitors post topics");
  Input in(call.http.body);
  auto title = in.text("title", true, Text::single_line, 300);
  if (title && title->empty()) in.invalid("title", "must not be empty"), title.reset();
  const auto body_text = in.text("body", false, Text::multi_line, 50000);
  auto url = in.text("url", false, Text::single_line, 2000);
  if (url) {
    if (auto p = url_problem(*url)) in.invalid("url", *p), url.reset();
  }
  if (auto error = in.finish()) return *error;
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");
  const auto rows = call.tx.exec_params(
      "INSERT INTO topics (community_id, author_id, title, body, url, posted_at) VALUES ($1, $2, $3, $4, $5, $6) "
      "RETURNING id",
      c->id, call.principal->member_id, *title, body_text.value_or(""), url, call.now_sql);
  boost::json::object topic{{"id", rows[0][0].as<std::int64_t>()},
                            {"community", c->slug},
                            {"author_id", call.principal->member_id},
                            {"title", *title},
                            {"body", body_text.value_or("")},
                            {"posted_at", calendar::format_rfc3339_utc(call.now)}};
  topic["url"] = url ? boost::json::value(*url) : boost::json::value(nullptr);
  boost::json::object payload = topic;
  payload["topic_id"] = topic["id"];
  payload["community_name"] = c->name;
  emit_event(call, "topic.posted", c->id, std::move(payload));
  return created(std::move(topic));
}

}  // namespace

void register_topics(Api& api) {
  api.add("PUT", "/v1/communities/{slug}/topic-cadence", put_cadence, {.body = Body::json});
  api.add("POST", "/v1/communities/{slug}/topics", post_topic, {.body = Body::json});
}

}  // namespace convene::api
