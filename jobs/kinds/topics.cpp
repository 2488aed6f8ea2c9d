// Topic cadence (DESIGN §2): when a community's cadence passes without a topic, its discussion
// monitors are reminded, once per missed period. `topic.overdue.check` (daily) finds the
// communities; `topic.overdue` writes the event.
#include "calendar/durations.hpp"
#include "jobs/kinds/duty_keys.hpp"
#include "jobs/kinds/community_rows.hpp"
#include "jobs/kinds/families.hpp"
#include "jobs/kinds/outbox.hpp"
#include "jobs/kinds/payload_fields.hpp"
#include "jobs/queue.hpp"
#include "store/sql_time.hpp"

namespace convene::jobs {
namespace {

using std::chrono::seconds;

// The latest topic of the community, nullopt when it has none.
std::optional<calendar::Instant> latest_topic(pqxx::work& tx, std::int64_t community_id) {
  const auto rows = tx.exec_params("SELECT max(posted_at) FROM topics WHERE community_id = $1", community_id);
  if (rows[0][0].is_null()) return std::nullopt;
  return store::parse_sql_instant(rows[0][0].c_str());
}

boost::json::value optional_instant_json(const std::optional<calendar::Instant>& t) {
  return t ? boost::json::value(calendar::format_rfc3339_utc(*t)) : boost::json::value(nullptr);
}

Outcome check(JobRun& run) {
  for (const auto& r : run.tx.exec_params(
           "SELECT c.id, extract(epoch FROM c.topic_cadence)::bigint, c.created_at FROM communities c "
           "WHERE c.status = 'active' AND c.topic_cadence IS NOT NULL ORDER BY c.id")) {
    const auto community_id = r[0].as<std::int64_t>();
    const seconds cadence{r[1].as<std::int64_t>()};
    const auto last_topic = latest_topic(run.tx, community_id);
    const auto since = last_topic.value_or(store::parse_sql_instant(r[2].c_str()));
    if (since + cadence > run.now) continue;
    const auto missed_periods = (run.now - since) / cadence;
    enqueue(run.tx,
            NewJob{"topic.overdue", topic_overdue_key(community_id, overdue_period_end(since, cadence, run.now)),
                   {{"community_id", community_id},
                    {"last_topic_at", optional_instant_json(last_topic)},
                    {"overdue_since", calendar::format_rfc3339_utc(since + cadence)},
                    {"periods_missed", static_cast<std::int64_t>(missed_periods)}},
                   run.now},
            run.now, OnConflict::keep);
  }
  return Outcome::done();
}

Outcome remind(JobRun& run) {
  const auto community_id = integer_field(run.job.payload, "community_id");
  const auto community = load_community(run.tx, community_id);
  if (!community || !community->active()) return Outcome::skipped("the community is archived");
  const auto cadence = run.tx.exec_params(
      "SELECT extract(epoch FROM topic_cadence)::bigint FROM communities WHERE id = $1 AND topic_cadence IS NOT NULL",
      community_id);
  if (cadence.empty()) return Outcome::skipped("the community no longer has a topic cadence");
  const auto* recorded = run.job.payload.if_contains("last_topic_at");
  const auto last_topic = latest_topic(run.tx, community_id);
  const auto recorded_last = recorded != nullptr && recorded->is_string()
                                 ? std::optional<calendar::Instant>(instant_field(run.job.payload, "last_topic_at"))
                                 : std::nullopt;
  if (last_topic != recorded_last) return Outcome::skipped("a topic was posted since the check");
  const seconds every{cadence[0][0].as<std::int64_t>()};
  emit_event(run.tx, "topic.overdue", community_id,
             {{"community", community->slug},
              {"community_name", community->name},
              {"last_topic_at", optional_instant_json(last_topic)},
              {"cadence", calendar::format_iso8601_duration(every)},
              {"cadence_seconds", every.count()},
              {"overdue_since", text_field(run.job.payload, "overdue_since")}},
             run.now);
  return Outcome::done();
}

}  // namespace

std::vector<KindSpec> topic_kinds(const KindSettings& settings) {
  KindSpec check_spec{.kind = "topic.overdue.check",
                      .run = check,
                      .misfire = Misfire::coalesce,
                      .schedule = daily_at(settings.daily_checks_time, settings.organisation_time_zone)};
  KindSpec remind_spec{.kind = "topic.overdue", .run = remind};
  return {std::move(check_spec), std::move(remind_spec)};
}

}  // namespace convene::jobs
