// Meeting reminders (DESIGN §4): members whose membership is not `none` are reminded at their
// reminder offsets before every occurrence. `reminders.plan` keeps one `meeting.reminder` job
// per (occurrence, offset) for the coming two months; fan-out re-plans after every change of
// the meeting and `reminders.plan_all` daily (new members, changed offsets, a horizon moving on).
#include "jobs/kinds/community_rows.hpp"
#include "jobs/kinds/families.hpp"
#include "jobs/kinds/meeting_occurrences.hpp"
#include "jobs/kinds/outbox.hpp"
#include "jobs/kinds/payload_fields.hpp"
#include "jobs/queue.hpp"
#include "store/sql_time.hpp"

namespace convene::jobs {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;

// Offsets go up to P60D; one more day covers a plan that ran a little before its time.
constexpr auto kPlanningHorizon = std::chrono::days(61);
// A reminder more than an hour late is no longer news; one whose meeting started is skipped anyway.
constexpr auto kReminderStaleAfter = std::chrono::hours(1);

std::string reminder_key_prefix(std::int64_t meeting_id) { return "meeting:" + std::to_string(meeting_id) + ":"; }

std::int64_t unix_seconds(calendar::Instant t) {
  return std::chrono::floor<seconds>(t).time_since_epoch().count();
}

// The distinct positive reminder offsets of the members a reminder reaches, in seconds.
std::vector<std::int64_t> reminder_offsets(pqxx::work& tx, std::int64_t community_id) {
  std::vector<std::int64_t> offsets;
  for (const auto& r : tx.exec_params(
           "SELECT DISTINCT extract(epoch FROM o)::bigint AS s FROM memberships ms JOIN members m ON m.id = ms.member_id "
           "CROSS JOIN LATERAL unnest(m.reminder_offsets) o "
           "WHERE ms.community_id = $1 AND ms.delivery = ANY ($2::text[]) AND o > interval '0' ORDER BY s",
           community_id, modes_sent_now(&notifiers::route_reminder_email)))
    offsets.push_back(r[0].as<std::int64_t>());
  return offsets;
}

Outcome plan(JobRun& run) {
  const auto meeting_id = integer_field(run.job.payload, "meeting_id");
  const auto prefix = reminder_key_prefix(meeting_id);
  const auto meeting = load_meeting_series(run.tx, meeting_id);
  std::vector<std::string> planned;
  if (meeting && meeting->status != "cancelled" && meeting->community_status == "active" && !meeting->is_placeholder()) {
    const auto offsets = reminder_offsets(run.tx, meeting->community_id);
    const auto occurrences = offsets.empty() ? std::vector<ActualOccurrence>{}
                                             : occurrences_starting_in(*meeting, run.now + microseconds(1),
                                                                       run.now + kPlanningHorizon + microseconds(1));
    for (const auto& o : occurrences)
      for (const auto offset : offsets) {
        const auto due = o.start - seconds(offset);
        if (due <= run.now) continue;
        auto key = prefix + std::to_string(unix_seconds(o.start)) + ":" + std::to_string(offset);
        enqueue(run.tx,
                NewJob{"meeting.reminder", key,
                       {{"meeting_id", meeting_id},
                        {"occurrence_start", calendar::format_rfc3339_utc(o.start)},
                        {"recurrence_id", calendar::format_rfc3339_utc(o.recurrence_id)},
                        {"offset_seconds", offset}},
                       due},
                run.now, OnConflict::replan);
        planned.push_back(std::move(key));
      }
  }
  // Moved and cancelled occurrences, a cancelled meeting, an archived community: their
  // pending reminders go.
  drop_pending(run.tx, "meeting.reminder", prefix, planned);
  return Outcome::done();
}

Outcome plan_all(JobRun& run) {
  const auto now = store::sql_instant(run.now);
  const auto horizon_end = store::sql_instant(run.now + kPlanningHorizon);
  // Every meeting that may have an occurrence in the horizon: a series under way, a one-off
  // ahead, or an occurrence moved into it.
  for (const auto& r : run.tx.exec_params(
           "SELECT m.id FROM meetings m JOIN communities c ON c.id = m.community_id "
           "WHERE c.status = 'active' AND m.status <> 'cancelled' AND NOT (m.kind = 'annual' AND m.status = 'tentative') "
           "AND ((m.starts_at > $1 AND m.starts_at <= $2) OR (m.rrule IS NOT NULL AND m.starts_at <= $2) "
           "     OR EXISTS (SELECT 1 FROM meeting_exceptions x WHERE x.meeting_id = m.id AND NOT x.cancelled "
           "                AND x.starts_at > $1 AND x.starts_at <= $2)) "
           "ORDER BY m.id",
           now, horizon_end))
    plan_reminders_soon(run.tx, r[0].as<std::int64_t>(), run.now);
  return Outcome::done();
}

boost::json::value optional_text(const std::optional<std::string>& text) {
  return text ? boost::json::value(*text) : boost::json::value(nullptr);
}

Outcome remind(JobRun& run) {
  const auto meeting_id = integer_field(run.job.payload, "meeting_id");
  const auto start = instant_field(run.job.payload, "occurrence_start");
  const auto recurrence_id = instant_field(run.job.payload, "recurrence_id");
  const auto offset = integer_field(run.job.payload, "offset_seconds");
  if (run.now >= start) return Outcome::skipped("the meeting has started");
  const auto meeting = load_meeting_series(run.tx, meeting_id);
  if (!meeting) return Outcome::skipped("the meeting no longer exists");
  if (meeting->status == "cancelled") return Outcome::skipped("the meeting is cancelled");
  if (meeting->community_status != "active") return Outcome::skipped("the community is archived");
  const auto occurrence = occurrence_now(*meeting, recurrence_id);
  if (!occurrence || occurrence->start != start) return Outcome::skipped("the occurrence was moved or cancelled");
  const auto local = [&](calendar::Instant t) { return calendar::format_local_datetime(calendar::to_local(t, meeting->time_zone)); };
  emit_event(run.tx, "meeting.reminder", meeting->community_id,
             {{"meeting_id", meeting->id},
              {"uid", meeting->uid},
              {"kind", meeting->kind},
              {"title", meeting->title},
              {"recurrence_id", calendar::format_rfc3339_utc(recurrence_id)},
              {"start_utc", calendar::format_rfc3339_utc(occurrence->start)},
              {"end_utc", calendar::format_rfc3339_utc(occurrence->end)},
              {"start", local(occurrence->start)},
              {"end", local(occurrence->end)},
              {"time_zone", meeting->time_zone},
              {"all_day", meeting->all_day},
              {"offset_seconds", offset},
              {"community", meeting->community_slug},
              {"community_name", meeting->community_name},
              {"join_url", optional_text(meeting->join_url)}},
             run.now);
  return Outcome::done();
}

}  // namespace

void plan_reminders_soon(pqxx::work& tx, std::int64_t meeting_id, calendar::Instant now) {
  const NewJob job{"reminders.plan", "meeting:" + std::to_string(meeting_id), {{"meeting_id", meeting_id}}, now};
  // A finished plan runs again to see the change. (A plan running right now may miss it: the
  // daily reminders.plan_all catches up.)
  enqueue(tx, job, now, OnConflict::rerun);
}

std::vector<KindSpec> reminder_kinds(const KindSettings& settings) {
  KindSpec plan_spec{.kind = "reminders.plan", .run = plan};
  KindSpec plan_all_spec{.kind = "reminders.plan_all",
                         .run = plan_all,
                         .misfire = Misfire::coalesce,
                         .schedule = daily_at(settings.daily_checks_time, settings.organisation_time_zone)};
  KindSpec remind_spec{
      .kind = "meeting.reminder", .run = remind, .misfire = Misfire::skip_when_stale, .stale_after = kReminderStaleAfter};
  return {std::move(plan_spec), std::move(plan_all_spec), std::move(remind_spec)};
}

}  // namespace convene::jobs
