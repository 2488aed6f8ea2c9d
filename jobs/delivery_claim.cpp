#include "jobs/delivery_parts.hpp"

#include "jobs/meeting_attachment.hpp"
#include "notifiers/email_message.hpp"
#include "notifiers/signed_token.hpp"
#include "notifiers/webhook_body.hpp"
#include "notifiers/webhook_signature.hpp"
#include "notifiers/webhook_transport.hpp"
#include "store/server_secrets.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <map>
#include <unordered_map>

// Claiming due notifications and composing them: on a lane's claims thread.
namespace convene::jobs {
namespace {

using notifiers::SendResult;

std::optional<std::string> nullable(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<std::string>(f.as<std::string>());
}

struct ClaimedRow {
  std::string id, channel, kind, recipient, payload;
  int attempts = 0;
  std::string claimed_state;      // sending; suppressed or dead: finished by the claim; deferred: put back
  std::int64_t link_version = 0;  // the member's preferences links (rotatable)
  std::optional<std::int64_t> member_id, community_id, endpoint_id, event_id;
  std::string member_name, time_zone;
  std::optional<std::string> community_slug, community_name, url, secret, previous_secret, previous_until, endpoint_status;
  std::string receiver;  // a webhook's scheme://host:port, set by put_back_beyond_room
};

struct PutBack {
  std::size_t count = 0;
  std::vector<std::int64_t> endpoints;  // of the rows put back
  std::map<std::string, std::pair<std::size_t, std::chrono::microseconds>> per_receiver;  // count, the last one's delay
};

// A webhook receiver takes what room it has (ReceiverRooms, taken when the claim started);
// the rest of its rows go back to the queue in the claim's transaction, due at the receiver's
// pace, their attempt not counted: they were never tried. Their rows are marked 'deferred'.
PutBack put_back_beyond_room(pqxx::work& tx, std::vector<ClaimedRow>& rows, const ReceiverRooms& rooms,
                             calendar::Instant now, std::chrono::microseconds max_deferral, const std::string& owner) {
  PutBack put_back;
  std::unordered_map<std::string, std::size_t> taken;
  std::vector<std::string> ids, due;
  for (auto& row : rows) {
    if (row.claimed_state != "sending" || row.channel != "webhook" || !row.url || row.endpoint_status != "active") continue;
    row.receiver = notifiers::webhook_receiver(*row.url);
    const ReceiverRoom& room = rooms.of(row.receiver);
    std::size_t& used = taken[row.receiver];
    if (used < room.room) {
      ++used;
      continue;
    }
    auto& [count, last] = put_back.per_receiver[row.receiver];
    last = std::min(max_deferral, room.defer_from + room.interval * static_cast<long>(count));
    ++count;
    ++put_back.count;
    if (row.endpoint_id) put_back.endpoints.push_back(*row.endpoint_id);
    row.claimed_state = "deferred";
    ids.push_back(row.id);
    due.push_back(store::sql_instant(now + last));
  }
  if (!ids.empty())
    exec_prepared(tx, "delivery_put_back",
                  "UPDATE notifications n SET state = 'pending', attempts = n.attempts - 1, lease_owner = NULL, "
                  "lease_expires_at = NULL, due_at = v.due "
                  "FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, due) "
                  "WHERE n.id = v.id AND n.lease_owner = $3 AND n.state = 'sending'",
                  store::text_array(ids), store::text_array(due), owner);
  return put_back;
}

}  // namespace

DeliveryWorker::Batch DeliveryWorker::claim_and_compose(Lane& lane, const ClaimRequest& request) {
  const std::size_t limit = request.limit;
  const ReceiverRooms& rooms = request.rooms;
  const auto now = clock_.now();
  const auto now_sql = store::sql_instant(now);
  std::vector<ClaimedRow> rows;
  // The batch's events, each read once however many of its recipients are in the batch.
  struct BatchEvent {
    calendar::Instant occurred;
    std::optional<std::string> message_text;     // schema 010; none for notifications queued before
    std::optional<boost::json::object> message;  // message_text parsed, on first use
    std::string webhook_body;                    // the same for every recipient: made on first use
  };
  std::map<std::int64_t, BatchEvent> events;
  Batch batch;
  // Go on from the last full claim's position, past the rows in flight before it; from the
  // start when the last claim came back short, and at least once a second, for rows that
  // became due behind the position (a crashed instance's lease that ran out, a late commit).
  const auto steady_now = std::chrono::steady_clock::now();
  if (lane.position && steady_now - lane.walked_from_start >= std::chrono::seconds(1)) lane.position.reset();
  if (!lane.position) lane.walked_from_start = steady_now;
  using QueuePosition = Lane::QueuePosition;
  const QueuePosition from = lane.position.value_or(QueuePosition{"-infinity", "00000000-0000-0000-0000-000000000000"});
  std::optional<QueuePosition> reached;
  std::string link_key;
  {
    std::lock_guard lock(link_key_mutex_);
    link_key = link_key_;
  }
  database_.transact([&](pqxx::work& tx) {
    rows.clear();
    events.clear();
    reached.reset();
    batch.deferred = 0;
    batch.deferrals.clear();
    if (link_key.empty()) {
      link_key = store::server_secret(tx, "links", now_sql);
      std::lock_guard lock(link_key_mutex_);
      link_key_ = link_key;
    }
    // A claim lost in a crash only leaves the notification pending: no flush wait. The queue's
    // statistics lag behind bursts (fan-out inserts thousands at once), and a planner that
    // thinks few rows are due reads them all through a bitmap and sorts them, on every claim;
    // walking the due-time index in order stops after `limit` rows.
    tx.exec("SET LOCAL synchronous_commit = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off");
    // Due notifications oldest first, from the position (schema 012): pending ones, and those
    // whose lease ran out (a crashed instance's). One statement
    // claims them and reads what composing needs; the claim is a HOT update (schemas 009, 010).
    // The limit is part of the text: a plan made for an unknown limit need not walk the index.
    // The rows are updated where the walk found them (by ctid), without locking them first (a
    // lock is a write of its own per row: a third of the claim's time). Another instance
    // claiming the same row at once waits for this transaction to end, and PostgreSQL then
    // checks the conditions again on the row's new version, which is no longer due: the row is
    // skipped, never claimed twice. Both update in ctid order (a TID scan sorts its list). The
    // conditions checked again name the state, not `queued`: `queued` would match the queue's
    // partial index, and a planner misled by stale statistics (a fan-out burst) then walks the
    // whole queue with the ctids as a filter (9 ms instead of 0.3 ms per claim, seen in a lab).
    // A claim may wait for rows another transaction holds (a member leaving cancels theirs);
    // a deadlock with one is retried by transact().
    const auto claimed = exec_prepared(
        tx, "delivery_claim_" + lane.channel + "_" + std::to_string(limit),
        "WITH claimed AS ("
        // Finished here, never attempted (their lease columns are set like the others' but mean
        // nothing on a finished row):
        // - a row claimed max_attempts times already with no outcome recorded: every claim ended
        //   with the process (a poison message that crashes it): dead, not a crash loop;
        // - an email to a suppressed address (schema 014): 'suppressed', with the refusal as its
        //   last error; one lookup per row.
        "  UPDATE notifications n SET (state, attempts, last_error) = ("
        "      SELECT CASE WHEN n.attempts >= $6 THEN 'dead' WHEN s.address IS NULL THEN 'sending' ELSE 'suppressed' END, "
        "        n.attempts + CASE WHEN n.attempts < $6 AND s.address IS NULL THEN 1 ELSE 0 END, "
        "        CASE WHEN n.attempts >= $6 THEN 'claimed ' || n.attempts || ' times and never answered: the process "
        "stopped while delivering it each time' "
        "             WHEN s.address IS NULL THEN n.last_error ELSE 'suppressed: ' || s.reason END "
        "      FROM (VALUES (1)) AS one (x) LEFT JOIN suppressions s "
        "        ON n.channel = 'email' AND s.address = lower(n.recipient)), "
        "    lease_owner = $2, lease_expires_at = $1::timestamptz + $3::interval "
        "  WHERE n.ctid = ANY (ARRAY(SELECT ctid FROM notifications WHERE queued AND channel = $7 AND due_at <= $1 "
        "      AND (due_at, id) > ($4::timestamptz, $5::uuid) AND (state = 'pending' OR lease_expires_at <= $1) "
        "      AND (endpoint_id IS NULL OR endpoint_id <> ALL ($8::bigint[])) "
        "      ORDER BY due_at, id LIMIT " + std::to_string(limit) + ")) "
        "    AND n.state IN ('pending', 'sending') AND n.due_at <= $1 AND (n.state = 'pending' OR n.lease_expires_at <= $1) "
        "  RETURNING n.id, n.channel, n.kind, n.recipient, n.payload, n.attempts, n.member_id, n.community_id, "
        "    n.endpoint_id, n.event_id, n.due_at, n.state) "
        "SELECT n.id, n.channel, n.kind, n.recipient, n.payload::text, n.attempts, n.member_id, n.community_id, "
        "n.endpoint_id, coalesce(m.name, ''), coalesce(m.time_zone, 'UTC'), c.slug, c.name, e.url, e.secret, "
        "e.previous_secret, e.previous_secret_until, e.status, coalesce(m.preferences_link_version, 0), n.event_id, "
        "n.due_at, n.state "
        "FROM claimed n "
        // Only an email needs its member and community (names, zone, links, List-Id). For a
        // webhook the condition on n.channel skips the lookup (a one-time filter; OFFSET 0 keeps
        // the planner from flattening the subquery into a join that would look up every row).
        "LEFT JOIN LATERAL (SELECT name, time_zone, preferences_link_version FROM members "
        "  WHERE id = n.member_id AND n.channel = 'email' OFFSET 0) m ON true "
        "LEFT JOIN LATERAL (SELECT slug, name FROM communities "
        "  WHERE id = n.community_id AND n.channel = 'email' OFFSET 0) c ON true "
        "LEFT JOIN webhook_endpoints e ON e.id = n.endpoint_id ORDER BY n.due_at, n.id",
        now_sql, options_.owner, std::to_string(options_.lease.count()) + " milliseconds", from.due_at, from.id,
        options_.max_attempts, lane.channel, store::bigint_array(request.excluded_endpoints));
    for (const auto& r : claimed) {
      ClaimedRow row;
      row.id = r[0].as<std::string>();
      row.channel = r[1].as<std::string>();
      row.kind = r[2].as<std::string>();
      row.recipient = r[3].as<std::string>();
      row.payload = r[4].as<std::string>();
      row.attempts = r[5].as<int>();
      if (!r[6].is_null()) row.member_id = r[6].as<std::int64_t>();
      if (!r[7].is_null()) row.community_id = r[7].as<std::int64_t>();
      if (!r[8].is_null()) row.endpoint_id = r[8].as<std::int64_t>();
      row.member_name = r[9].as<std::string>();
      row.time_zone = r[10].as<std::string>();
      row.community_slug = nullable(r[11]);
      row.community_name = nullable(r[12]);
      row.url = nullable(r[13]);
      row.secret = nullable(r[14]);
      row.previous_secret = nullable(r[15]);
      row.previous_until = nullable(r[16]);
      row.endpoint_status = nullable(r[17]);
      row.link_version = r[18].as<std::int64_t>();
      if (!r[19].is_null()) row.event_id = r[19].as<std::int64_t>();
      row.claimed_state = r[21].as<std::string>();
      rows.push_back(std::move(row));
    }
    // Rows beyond their receiver's room go back to the queue (the webhook lane's only).
    const auto put_back = put_back_beyond_room(tx, rows, rooms, now, options_.receivers.max_deferral, options_.owner);
    batch.deferred = put_back.count;
    batch.deferrals = put_back.per_receiver;
    batch.deferred_endpoints = put_back.endpoints;
    // Rows come in queue order: the last is where this claim ended.
    if (!rows.empty()) reached = QueuePosition{claimed[claimed.size() - 1][20].as<std::string>(), rows.back().id};
    std::vector<std::int64_t> event_ids;
    for (const auto& row : rows)
      if (row.event_id) event_ids.push_back(*row.event_id);
    std::sort(event_ids.begin(), event_ids.end());
    event_ids.erase(std::unique(event_ids.begin(), event_ids.end()), event_ids.end());
    if (!event_ids.empty())
      for (const auto& r : exec_prepared(tx, "delivery_events",
                                         "SELECT id, occurred_at, message::text FROM events WHERE id = ANY ($1::bigint[])",
                                         store::bigint_array(event_ids)))
        events.emplace(r[0].as<std::int64_t>(), BatchEvent{store::parse_sql_instant(r[1].c_str()), nullable(r[2]), {}, {}});
    // A full batch means more is due now; otherwise, when is the next one due?
    if (rows.size() == limit) {
      batch.next_due = now;
      return;
    }
    // Both walk the queue index from its start: past those in flight (the first), and over
    // the due ones, which are all in flight now (the second).
    const auto next = tx.exec_params(
        "SELECT least((SELECT due_at FROM notifications WHERE queued AND channel = $2 AND state = 'pending' "
        "              ORDER BY due_at LIMIT 1), "
        "             (SELECT min(lease_expires_at) FROM notifications WHERE queued AND channel = $2 AND state = 'sending' "
        "              AND due_at <= $1))",
        now_sql, lane.channel);
    batch.next_due = next.empty() || next[0][0].is_null() ? std::nullopt
                                                          : std::optional(store::parse_sql_instant(next[0][0].c_str()));
  });
  lane.position = rows.size() == limit ? reached : std::nullopt;

  std::vector<Claimed>& out = batch.items;
  out.reserve(rows.size());
  const auto event_of = [&](const ClaimedRow& row) -> BatchEvent* {
    const auto found = row.event_id ? events.find(*row.event_id) : events.end();
    return found == events.end() ? nullptr : &found->second;
  };
  // The event's message, or none when the row holds it all (queued before schema 010).
  const auto message_of = [](BatchEvent* event) -> const boost::json::object* {
    if (!event || !event->message_text) return nullptr;
    if (!event->message) {
      auto parsed = boost::json::parse(*event->message_text);
      event->message = parsed.is_object() ? std::move(parsed.get_object()) : boost::json::object{};
    }
    return &*event->message;
  };
  for (const auto& row : rows) {
    if (row.claimed_state != "sending") {  // finished or put back by the claim: nothing to compose or send
      if (row.claimed_state != "deferred") ++(row.claimed_state == "dead" ? batch.dead : batch.suppressed);
      continue;
    }
    Claimed item;
    item.id = row.id;
    item.attempts = row.attempts;
    item.endpoint_id = row.endpoint_id;
    try {
      // The event's message with this recipient's own fields over it (schema 010).
      auto parsed = boost::json::parse(row.payload);
      boost::json::object own = parsed.is_object() ? std::move(parsed.get_object()) : boost::json::object{};
      BatchEvent* event = event_of(row);
      const boost::json::object* message = message_of(event);
      const auto merged = [&] {
        boost::json::object payload = message ? *message : boost::json::object{};
        for (auto& [key, value] : own) payload[key] = std::move(value);
        return payload;
      };
      if (row.channel == "webhook") {
        if (!row.url || row.endpoint_status != "active") {
          item.cancel = true;
          item.settled = SendResult{SendResult::Kind::permanent, 0, "the endpoint is disabled", std::nullopt, false};
        } else {
          const auto occurred = event ? event->occurred : now;
          std::optional<calendar::Instant> until;
          if (row.previous_until) until = store::parse_sql_instant(*row.previous_until);
          const auto secrets = notifiers::signing_secrets(*row.secret, row.previous_secret, until, now);
          std::string body;
          if (message && own.empty()) {
            if (event->webhook_body.empty()) event->webhook_body = notifiers::webhook_body(row.kind, occurred, *message);
            body = event->webhook_body;
          } else {
            body = notifiers::webhook_body(row.kind, occurred, merged());
          }
          item.receiver = row.receiver;
          item.webhook = notifiers::sign_webhook(row.id, *row.url, std::move(body), secrets, now);
        }
      } else {
        const boost::json::object payload = merged();
        notifiers::MessageContext context;
        context.member_name = row.member_name;
        context.member_id = row.member_id;
        context.time_zone = row.time_zone;
        context.public_url = options_.public_url;
        if (row.member_id) {
          auto links = notifiers::member_links(link_key, options_.public_url, row.kind, *row.member_id, row.community_id,
                                               row.link_version);
          context.preferences_url = std::move(links.preferences_url);
          context.unsubscribe_url = std::move(links.unsubscribe_url);
        }
        const auto rendered = templates_.render(row.kind, payload, context);
        notifiers::EmailParts parts;
        parts.from = {options_.mail_from, options_.mail_from_name};
        parts.to = {row.recipient, row.member_name};
        parts.subject = rendered.subject;
        parts.notification_id = row.id;
        parts.message_id_domain = options_.domain;
        parts.date = now;
        if (row.community_slug)
          parts.list = notifiers::ListIdentity{*row.community_slug, options_.domain, row.community_name.value_or("")};
        parts.unsubscribe_url = context.unsubscribe_url;
        // The mailto form names the same signed token, for mail clients that only mail; only
        // to a configured address that something reads (mail_from is read by nothing).
        parts.unsubscribe_mailto = notifiers::unsubscribe_mailto(options_.unsubscribe_mailto, context.unsubscribe_url);
        parts.text = rendered.text;
        parts.html = rendered.html;
        parts.ics = meeting_attachment(row.kind, payload, options_.mail_from, now);
        item.email = notifiers::OutgoingEmail{row.id, options_.mail_from, row.recipient, notifiers::compose_email(parts)};
      }
    } catch (const std::exception& e) {
      // A message that cannot be made never will be: dead at once, visible to admins.
      item.settled = SendResult{SendResult::Kind::permanent, 0, std::string("could not compose: ") + e.what(), std::nullopt, false};
    }
    out.push_back(std::move(item));
  }
  return batch;
}


}  // namespace convene::jobs
