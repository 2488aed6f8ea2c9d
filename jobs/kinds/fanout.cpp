// `fanout` (payload {event_id}): an outbox event becomes one email notification per recipient
// and one webhook notification per subscribed endpoint (DESIGN §4). The audience of each event kind is notifiers::audience_of; delivery modes route
// community news (realtime now, daily/weekly through digests, none never) and reminders.
#include "jobs/kinds/community_rows.hpp"
#include "jobs/kinds/families.hpp"
#include "jobs/kinds/payload_fields.hpp"
#include "notifiers/audience.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <stdexcept>

namespace convene::jobs {
namespace {

using notifiers::Audience;
using store::bigint_array;

struct OutboxEvent {
  std::int64_t id = 0;
  std::string kind;
  std::optional<std::int64_t> community_id;
  boost::json::object payload;
  calendar::Instant occurred_at;
  std::string community_slug, community_name;
  // Members hear about an active community only; and about the split that archived theirs.
  bool community_reachable = false;
};

std::optional<OutboxEvent> load_event(pqxx::work& tx, std::int64_t id) {
  const auto rows = tx.exec_params(
      "SELECT e.kind, e.community_id, e.payload::text, e.occurred_at, c.slug, c.name, "
      "coalesce(c.status = 'active' OR (e.kind = 'community.split' AND c.archived_at = e.occurred_at), false) "
      "FROM events e LEFT JOIN communities c ON c.id = e.community_id WHERE e.id = $1",
      id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  OutboxEvent e;
  e.id = id;
  e.kind = r[0].as<std::string>();
  if (!r[1].is_null()) {
    e.community_id = r[1].as<std::int64_t>();
    e.community_slug = r[4].as<std::string>();
    e.community_name = r[5].as<std::string>();
  }
  auto payload = boost::json::parse(r[2].c_str());
  if (payload.is_object()) e.payload = std::move(payload.get_object());
  e.occurred_at = store::parse_sql_instant(r[3].c_str());
  e.community_reachable = r[6].as<bool>();
  return e;
}

std::vector<std::int64_t> member_ids(const pqxx::result& rows) {
  std::vector<std::int64_t> ids;
  ids.reserve(rows.size());
  for (const auto& r : rows) ids.push_back(r[0].as<std::int64_t>());
  return ids;
}

// Holders of a role today: the global committee, or a community's monitors.
std::vector<std::int64_t> role_holders(pqxx::work& tx, std::string_view role, std::optional<std::int64_t> community_id,
                                       const std::string& today) {
  return member_ids(tx.exec_params(
      "SELECT DISTINCT member_id FROM roles WHERE role = $1 AND community_id IS NOT DISTINCT FROM $2 "
      "AND starts_on <= $3::date AND (ends_on IS NULL OR ends_on >= $3::date) ORDER BY member_id",
      std::string(role), community_id, today));
}

std::vector<std::int64_t> recipients(pqxx::work& tx, Audience audience, const OutboxEvent& e, const std::string& today) {
  switch (audience) {
    case Audience::community_members:
      if (!e.community_reachable) return {};
      return member_ids(tx.exec_params(
          "SELECT member_id FROM memberships WHERE community_id = $1 AND delivery = ANY ($2::text[]) ORDER BY member_id",
          *e.community_id, modes_sent_now(&notifiers::route_event_email)));
    case Audience::reminder_members:
      if (!e.community_reachable) return {};
      return member_ids(tx.exec_params(
          "SELECT ms.member_id FROM memberships ms JOIN members m ON m.id = ms.member_id "
          "WHERE ms.community_id = $1 AND ms.delivery = ANY ($2::text[]) "
          "AND $3::bigint IN (SELECT extract(epoch FROM o)::bigint FROM unnest(m.reminder_offsets) o) ORDER BY ms.member_id",
          *e.community_id, modes_sent_now(&notifiers::route_reminder_email), integer_field(e.payload, "offset_seconds")));
    case Audience::subject_member:
      return {integer_field(e.payload, "member_id")};
    case Audience::subject_and_committee: {
      auto ids = role_holders(tx, "committee", std::nullopt, today);
      ids.push_back(integer_field(e.payload, "member_id"));
      return ids;
    }
    case Audience::committee:
      return role_holders(tx, "committee", std::nullopt, today);
    case Audience::monitors:
      if (!e.community_reachable) return {};
      return role_holders(tx, "discussion_monitor", e.community_id, today);
    case Audience::none:
      // member.joined and member.left are webhook-only types: no email.
      return {};
  }
  return {};
}

// What a message needs besides the event itself.
boost::json::object message_payload(const OutboxEvent& e) {
  boost::json::object payload = e.payload;
  payload["event_id"] = e.id;
  payload["occurred_at"] = calendar::format_rfc3339_utc(e.occurred_at);
  if (e.community_id) {
    payload["community"] = e.community_slug;
    payload["community_name"] = e.community_name;
  }
  return payload;
}

// One row per recipient; its id derives from its dedupe key (schema 011), so a second run (a
// retry) adds nothing. The message itself is the event's (events.message, schema 010); a row
// holds what differs per recipient.
void insert_notifications(pqxx::work& tx, const OutboxEvent& e, const std::vector<std::int64_t>& ids,
                          calendar::Instant now) {
  if (ids.empty()) return;
  tx.exec_params(
      "INSERT INTO notifications (id, dedupe_key, event_id, member_id, community_id, channel, kind, recipient, payload, "
      "state, due_at, created_at) "
      "SELECT notification_id(k.key), k.key, $1, m.id, $2, 'email', $3, m.email, "
      "jsonb_build_object('recipient_name', m.name), 'pending', $4, $4 "
      "FROM members m CROSS JOIN LATERAL (SELECT 'event:' || $1::bigint || ':email:' || m.id AS key) k "
      "WHERE m.id = ANY ($5::bigint[]) ORDER BY m.id "
      "ON CONFLICT (id) DO NOTHING",
      e.id, e.community_id, e.kind, store::sql_instant(now), bigint_array(ids));
}

// Webhooks fire in real time for every event type an endpoint subscribes to (DESIGN §4),
// whatever the delivery mode: the community's own endpoints, and members' endpoints for
// events of a community they belong to (within their community filter) or addressed to them.
void insert_webhooks(pqxx::work& tx, const OutboxEvent& e, std::vector<std::int64_t> people, calendar::Instant now) {
  if (const auto* subject = e.payload.if_contains("member_id"); subject && subject->is_int64())
    people.push_back(subject->get_int64());
  tx.exec_params(
      "INSERT INTO notifications (id, dedupe_key, event_id, member_id, community_id, channel, kind, recipient, payload, "
      "state, due_at, created_at, endpoint_id) "
      "SELECT notification_id(k.key), k.key, $1, w.member_id, $2, 'webhook', $3, w.url, '{}', "
      "'pending', $4, $4, w.id "
      "FROM webhook_endpoints w CROSS JOIN LATERAL (SELECT 'event:' || $1::bigint || ':webhook:' || w.id AS key) k "
      "WHERE w.status = 'active' AND (cardinality(w.event_types) = 0 OR $3 = ANY (w.event_types)) AND ("
      "  ($6 AND w.community_id = $2) "
      "  OR (w.member_id IS NOT NULL AND ("
      "    ($6 AND (w.communities IS NULL OR $2 = ANY (w.communities)) "
      "      AND EXISTS (SELECT 1 FROM memberships ms WHERE ms.member_id = w.member_id AND ms.community_id = $2)) "
      "    OR w.member_id = ANY ($5::bigint[])))) "
      "ORDER BY w.id ON CONFLICT (id) DO NOTHING",
      e.id, e.community_id, e.kind, store::sql_instant(now), bigint_array(people),
      e.community_id.has_value() && e.community_reachable);
}

Outcome fan_out(JobRun& run, const std::string& organisation_zone) {
  const auto event = load_event(run.tx, integer_field(run.job.payload, "event_id"));
  if (!event) return Outcome::skipped("the event does not exist");
  const auto audience = notifiers::audience_of(event->kind);
  if (!audience) throw std::logic_error("no audience for event kind " + event->kind);
  const auto people = recipients(run.tx, *audience, *event, date_text(run.now, organisation_zone));
  // The message every notification of the event is composed from, stored once. A second run
  // keeps the first's, so every recipient gets the same text.
  run.tx.exec_params("UPDATE events SET message = coalesce(message, $2::jsonb) WHERE id = $1", event->id,
                     boost::json::serialize(message_payload(*event)));
  insert_notifications(run.tx, *event, people, run.now);
  insert_webhooks(run.tx, *event, people, run.now);
  // Reminders follow the meeting's changes.
  if (notifiers::replans_reminders(event->kind) && event->payload.contains("meeting_id"))
    plan_reminders_soon(run.tx, integer_field(event->payload, "meeting_id"), run.now);
  run.tx.exec_params("UPDATE events SET fanned_out_at = coalesce(fanned_out_at, $2) WHERE id = $1", event->id,
                     store::sql_instant(run.now));
  return Outcome::done();
}

}  // namespace

KindSpec fanout_kind(const KindSettings& settings) {
  KindSpec spec;
  spec.kind = "fanout";
  spec.run = [zone = settings.organisation_time_zone](JobRun& run) { return fan_out(run, zone); };
  // A few statements per event: an import's thousands of events fan out in batches.
  spec.batch = 16;
  return spec;
}

}  // namespace convene::jobs
