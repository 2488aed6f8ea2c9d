// Operators' routes: the job engine's jobs, notifications, suppressed addresses, and the
// simulated clock of --test-clock.
#include "daemon/api/common.hpp"
#include "daemon/api/input.hpp"
#include "daemon/api/routes.hpp"
#include "jobs/queue.hpp"
#include "store/sql_time.hpp"

#include <boost/json/parse.hpp>

#include <cctype>
#include <thread>

namespace convene::api {
namespace {

constexpr const char* kJobColumns =
    "id, kind, unique_key, state, due_at, attempts, last_error, lease_owner, lease_expires_at, started_at, "
    "finished_at, created_at, payload::text";

boost::json::value nullable_time(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  return boost::json::value(rfc3339(f.as<std::string>()));
}

boost::json::object job_json(const pqxx::row& r) {
  boost::json::value payload = boost::json::parse(r[12].c_str());
  return boost::json::object{{"id", r[0].as<std::int64_t>()},
                             {"kind", r[1].as<std::string>()},
                             {"unique_key", r[2].as<std::string>()},
                             {"state", r[3].as<std::string>()},
                             {"due_at", rfc3339(r[4].as<std::string>())},
                             {"attempts", r[5].as<std::int64_t>()},
                             {"last_error", r[6].is_null() ? boost::json::value(nullptr) : boost::json::value(r[6].as<std::string>())},
                             {"lease_owner", r[7].is_null() ? boost::json::value(nullptr) : boost::json::value(r[7].as<std::string>())},
                             {"lease_expires_at", nullable_time(r[8])},
                             {"started_at", nullable_time(r[9])},
                             {"finished_at", nullable_time(r[10])},
                             {"created_at", rfc3339(r[11].as<std::string>())},
                             {"payload", std::move(payload)}};
}

Reply list_jobs(Call& call) {
  if (!call.admin()) return forbidden("only admins see jobs");
  Reply error;
  const auto page = parse_page(call, error);
  if (!page) return error;
  std::vector<FieldError> errors;
  const auto state = call.query("state");
  if (state && *state != "pending" && *state != "running" && *state != "done" && *state != "skipped" && *state != "dead")
    errors.push_back({"state", "must be one of pending, running, done, skipped, dead"});
  const auto kind = call.query("kind");
  if (kind && (kind->empty() || kind->size() > 100)) errors.push_back({"kind", "must be a job kind such as fanout"});
  if (!errors.empty()) return field_problem(422, "bad filter", errors);
  const std::optional<std::string> state_or_null = state, kind_or_null = kind;
  const auto total = call.tx
                         .exec_params("SELECT count(*) FROM jobs WHERE ($1::text IS NULL OR state = $1) "
                                      "AND ($2::text IS NULL OR kind = $2)",
                                      state_or_null, kind_or_null)[0][0]
                         .as<std::int64_t>();
  boost::json::array items;
  for (const auto& r : call.tx.exec_params(std::string("SELECT ") + kJobColumns +
                                               " FROM jobs WHERE ($1::text IS NULL OR state = $1) "
                                               "AND ($2::text IS NULL OR kind = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
                                           state_or_null, kind_or_null, page->per_page, page->offset()))
    items.push_back(job_json(r));
  return ok(page_json(*page, total, std::move(items)));
}

Reply retry_job(Call& call) {
  if (!call.admin()) return forbidden("only admins retry jobs");
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("job");
  const auto rows = call.tx.exec_params("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", *id);
  if (rows.empty()) return not_found("job");
  if (!jobs::retry(call.tx, *id, call.now))
    return conflict("job " + std::to_string(*id) + " is " + rows[0][0].as<std::string>() + "; only dead, done or skipped jobs can be retried");
  call.services.nudge_jobs();
  return ok(job_json(call.tx.exec_params(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = $1", *id)[0]));
}

constexpr const char* kNotificationColumns =
    "id, channel, kind, recipient, state, due_at, attempts, last_error, member_id, endpoint_id, event_id, created_at, "
    "sent_at, (SELECT slug FROM communities c WHERE c.id = community_id), attempt_log::text";

boost::json::object notification_json(const pqxx::row& r) {
  auto nullable_id = [](const pqxx::field& f) {
    return f.is_null() ? boost::json::value(nullptr) : boost::json::value(f.as<std::int64_t>());
  };
  return boost::json::object{{"id", r[0].as<std::string>()},
                             {"channel", r[1].as<std::string>()},
                             {"kind", r[2].as<std::string>()},
                             {"recipient", r[3].as<std::string>()},
                             {"state", r[4].as<std::string>()},
                             {"due_at", rfc3339(r[5].as<std::string>())},
                             {"attempts", r[6].as<std::int64_t>()},
                             {"last_error", r[7].is_null() ? boost::json::value(nullptr) : boost::json::value(r[7].as<std::string>())},
                             {"member_id", nullable_id(r[8])},
                             {"endpoint_id", nullable_id(r[9])},
                             {"event_id", nullable_id(r[10])},
                             {"created_at", rfc3339(r[11].as<std::string>())},
                             {"sent_at", nullable_time(r[12])},
                             {"community", r[13].is_null() ? boost::json::value(nullptr) : boost::json::value(r[13].as<std::string>())},
                             // Every attempt, oldest first: {at, outcome, code, text} (schema 010).
                             {"attempt_log", boost::json::parse(r[14].c_str())}};
}

// A notification id: a UUID in its canonical text form.
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

Reply list_notifications(Call& call) {
  if (!call.admin()) return forbidden("only admins see notifications");
  Reply error;
  const auto page = parse_page(call, error);
  if (!page) return error;
  std::vector<FieldError> errors;
  const auto state = call.query("state");
  if (state && *state != "pending" && *state != "sending" && *state != "sent" && *state != "dead" && *state != "cancelled" &&
      *state != "suppressed")
    errors.push_back({"state", "must be one of pending, sending, sent, dead, cancelled, suppressed"});
  const auto channel = call.query("channel");
  if (channel && *channel != "email" && *channel != "webhook") errors.push_back({"channel", "must be email or webhook"});
  if (!errors.empty()) return field_problem(422, "bad filter", errors);
  const std::optional<std::string> state_or_null = state, channel_or_null = channel;
  const auto total = call.tx
                         .exec_params("SELECT count(*) FROM notifications WHERE ($1::text IS NULL OR state = $1) "
                                      "AND ($2::text IS NULL OR channel = $2)",
                                      state_or_null, channel_or_null)[0][0]
                         .as<std::int64_t>();
  boost::json::array items;
  for (const auto& r : call.tx.exec_params(std::string("SELECT ") + kNotificationColumns +
                                               " FROM notifications WHERE ($1::text IS NULL OR state = $1) "
                                               "AND ($2::text IS NULL OR channel = $2) ORDER BY created_at DESC, id "
                                               "LIMIT $3 OFFSET $4",
                                           state_or_null, channel_or_null, page->per_page, page->offset()))
    items.push_back(notification_json(r));
  return ok(page_json(*page, total, std::move(items)));
}

constexpr const char* kSuppressionColumns =
    "address, code, reason, notification_id, first_refused_at, last_refused_at";

boost::json::object suppression_json(const pqxx::row& r) {
  return boost::json::object{{"address", r[0].as<std::string>()},
                             {"code", r[1].is_null() ? boost::json::value(nullptr) : boost::json::value(r[1].as<std::int64_t>())},
                             {"reason", r[2].as<std::string>()},
                             {"notification_id", r[3].as<std::string>()},
                             {"first_refused_at", rfc3339(r[4].as<std::string>())},
                             {"last_refused_at", rfc3339(r[5].as<std::string>())}};
}

// Addresses a relay refused for good (schema 014), the latest refusal first.
Reply list_suppressions(Call& call) {
  if (!call.admin()) return forbidden("only admins see suppressions");
  Reply error;
  const auto page = parse_page(call, error);
  if (!page) return error;
  const auto total = call.tx.exec("SELECT count(*) FROM suppressions")[0][0].as<std::int64_t>();
  boost::json::array items;
  for (const auto& r : call.tx.exec_params(std::string("SELECT ") + kSuppressionColumns +
                                               " FROM suppressions ORDER BY last_refused_at DESC, address LIMIT $1 OFFSET $2",
                                           page->per_page, page->offset()))
    items.push_back(suppression_json(r));
  return ok(page_json(*page, total, std::move(items)));
}

// The address is the path segment (percent-decoded by the front), compared lower-cased.
Reply delete_suppression(Call& call) {
  if (!call.admin()) return forbidden("only admins remove suppressions");
  const auto& address = call.param("address");
  // Nothing that could not be an address reaches PostgreSQL (a stray byte would be a 500).
  if (address.empty() || text_problem(address, Text::single_line, 320))
    return not_found("suppression");
  if (call.tx.exec_params("DELETE FROM suppressions WHERE address = lower($1)", address).affected_rows() == 0)
    return not_found("suppression");
  return no_content();
}

Reply retry_notification(Call& call) {
  if (!call.admin()) return forbidden("only admins retry notifications");
  const auto& id = call.param("id");
  if (!is_uuid(id)) return not_found("notification");
  const auto rows = call.tx.exec_params("SELECT state FROM notifications WHERE id = $1::uuid FOR UPDATE", id);
  if (rows.empty()) return not_found("notification");
  const auto state = rows[0][0].as<std::string>();
  // A suppressed one is claimed again, and suppressed again unless its address no longer is.
  if (state != "dead" && state != "suppressed")
    return conflict("notification " + id + " is " + state + "; only dead or suppressed notifications can be retried");
  call.tx.exec_params(
      "UPDATE notifications SET state = 'pending', attempts = 0, due_at = $2, lease_owner = NULL, lease_expires_at = NULL "
      "WHERE id = $1::uuid",
      id, call.now_sql);
  return ok(notification_json(
      call.tx.exec_params(std::string("SELECT ") + kNotificationColumns + " FROM notifications WHERE id = $1::uuid", id)[0]));
}

// --test-clock only: moves the simulated clock, then answers once nothing is due any more
// (follow-up jobs such as fan-out included), so a test sees the effects of what it triggered.
Reply set_clock(Call& call) {
  if (!call.admin()) return forbidden("only admins move the test clock");
  Input in(call.http.body);
  const auto text = in.text("now", true, Text::single_line, 40);
  std::optional<calendar::Instant> now;
  if (text) {
    if (!text->empty() && text->back() == 'Z')
      if (const auto local = calendar::parse_local_datetime(text->substr(0, text->size() - 1)); local && !date_range_problem(*local))
        now = calendar::Instant{local->time_since_epoch()};
    if (!now) in.invalid("now", "must be a UTC instant such as 2027-06-01T08:00:00Z");
  }
  if (auto error = in.finish()) return *error;
  call.services.test_clock->set(*now);
  call.services.nudge_jobs();
  const auto now_sql = store::sql_instant(*now);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::int64_t due = 0;
  for (;;) {
    due = call.tx.exec_params("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running') AND due_at <= $1", now_sql)[0][0]
              .as<std::int64_t>();
    if (due == 0 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ok(boost::json::object{{"now", calendar::format_rfc3339_utc(*now)}, {"still_due", due}});
}

}  // namespace

void register_admin(Api& api) {
  api.add("GET", "/v1/admin/jobs", list_jobs);
  api.add("POST", "/v1/admin/jobs/{id}/retry", retry_job);
  api.add("GET", "/v1/admin/notifications", list_notifications);
  api.add("POST", "/v1/admin/notifications/{id}/retry", retry_notification);
  api.add("GET", "/v1/admin/suppressions", list_suppressions);
  api.add("DELETE", "/v1/admin/suppressions/{address}", delete_suppression);
  if (api.services().test_clock != nullptr) api.add("POST", "/v1/admin/clock", set_clock, {.body = Body::json});
}

}  // namespace convene::api
