#include "jobs/delivery.hpp"

#include "base/log.hpp"
#include "jobs/meeting_attachment.hpp"
#include "notifiers/email_message.hpp"
#include "notifiers/signed_token.hpp"
#include "notifiers/webhook_body.hpp"
#include "notifiers/webhook_signature.hpp"
#include "store/server_secrets.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <map>


namespace convene::jobs {
namespace {

namespace asio = boost::asio;
using notifiers::SendResult;

std::optional<std::string> nullable(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<std::string>(f.as<std::string>());
}

// Runs a statement of every batch as a prepared statement: planning a claim anew took a third
// of its time. libpqxx keeps the definition per connection (the same text again is no change)
// and prepares it on the connection's first use, again after a reconnect.
template <typename... Args>
pqxx::result exec_prepared(pqxx::work& tx, const std::string& name, const std::string& sql, Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace

struct DeliveryWorker::Claimed {
  std::string id;
  int attempts = 0;
  std::optional<std::int64_t> endpoint_id;
  std::optional<notifiers::OutgoingEmail> email;
  std::optional<notifiers::OutgoingWebhook> webhook;
  std::optional<SendResult> settled;  // decided without sending: cannot be composed, endpoint gone
  bool cancel = false;
};

struct DeliveryWorker::Outcome {
  std::string id;
  int attempts = 0;
  std::optional<std::int64_t> endpoint_id;
  SendResult result;
  calendar::Instant at;
  bool cancel = false;
};

DeliveryWorker::DeliveryWorker(asio::any_io_executor loop, store::Database& database, const calendar::Clock& clock,
                               DeliveryOptions options, const notifiers::Templates& templates,
                               notifiers::EmailTransport& email, notifiers::WebhookTransport& webhooks)
    : loop_(loop),
      database_(database),
      clock_(clock),
      options_(std::move(options)),
      templates_(templates),
      email_(email),
      webhooks_(webhooks),
      wake_(loop),
      idle_(loop),
      chunk_(std::max<std::size_t>(1, options_.max_in_flight / 4)) {}

DeliveryWorker::~DeliveryWorker() {
  claims_.join();
  records_.join();
}

void DeliveryWorker::nudge() {
  asio::post(loop_, [this] {
    look_now_ = true;
    wake_.cancel();
  });
}

DeliveryCounters DeliveryWorker::counters() const {
  std::lock_guard lock(counters_mutex_);
  return counters_;
}

DeliveryWorker::Batch DeliveryWorker::claim_and_compose(std::size_t limit) {
  const auto now = clock_.now();
  const auto now_sql = store::sql_instant(now);
  struct Row {
    std::string id, channel, kind, recipient, payload;
    int attempts = 0;
    std::string claimed_state;      // sending; or suppressed or dead: finished by the claim
    std::int64_t link_version = 0;  // the member's preferences links (rotatable)
    std::optional<std::int64_t> member_id, community_id, endpoint_id, event_id;
    std::string member_name, time_zone;
    std::optional<std::string> community_slug, community_name, url, secret, previous_secret, previous_until, endpoint_status;
  };
  std::vector<Row> rows;
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
  if (position_ && steady_now - walked_from_start_ >= std::chrono::seconds(1)) position_.reset();
  if (!position_) walked_from_start_ = steady_now;
  const QueuePosition from = position_.value_or(QueuePosition{"-infinity", "00000000-0000-0000-0000-000000000000"});
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
        tx, "delivery_claim_" + std::to_string(limit),
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
        "  WHERE n.ctid = ANY (ARRAY(SELECT ctid FROM notifications WHERE queued AND due_at <= $1 "
        "      AND (due_at, id) > ($4::timestamptz, $5::uuid) AND (state = 'pending' OR lease_expires_at <= $1) "
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
        options_.max_attempts);
    for (const auto& r : claimed) {
      Row row;
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
        "SELECT least((SELECT due_at FROM notifications WHERE queued AND state = 'pending' ORDER BY due_at LIMIT 1), "
        "             (SELECT min(lease_expires_at) FROM notifications WHERE queued AND state = 'sending' "
        "              AND due_at <= $1))",
        now_sql);
    batch.next_due = next.empty() || next[0][0].is_null() ? std::nullopt
                                                          : std::optional(store::parse_sql_instant(next[0][0].c_str()));
  });
  position_ = rows.size() == limit ? reached : std::nullopt;

  std::vector<Claimed>& out = batch.items;
  out.reserve(rows.size());
  const auto event_of = [&](const Row& row) -> BatchEvent* {
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
    if (row.claimed_state != "sending") {  // finished by the claim: nothing to compose or send
      ++(row.claimed_state == "dead" ? batch.dead : batch.suppressed);
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

asio::awaitable<void> DeliveryWorker::run() {
  loop_active_ = true;
  while (!stopping_) {
    const auto steady_now = std::chrono::steady_clock::now();
    const bool poll = steady_now - last_look_ >= options_.poll_interval;
    const bool due = look_now_ || poll || (next_due_ && *next_due_ <= clock_.now());
    if (in_flight_ > 0 && steady_now - last_renewal_ >= options_.lease / 3) renew_leases();
    if (due && steady_now >= pause_until_ && claims_running_ == 0 && in_flight_ + chunk_ <= options_.max_in_flight) {
      look_now_ = false;
      last_look_ = steady_now;
      start_claim(chunk_);
    }
    // A second claim only while the last one came back full: more is due than one claim takes.
    if (backlog_ && steady_now >= pause_until_ && claims_running_ == 1 &&
        in_flight_ + reserved_ + chunk_ <= options_.max_in_flight)
      start_claim(chunk_);
    using namespace std::chrono;
    steady_clock::duration wait = options_.poll_interval - (steady_clock::now() - last_look_);
    if (pause_until_ > steady_clock::now()) wait = std::min(wait, pause_until_ - steady_clock::now());
    if (next_due_) {
      const auto now = clock_.now();
      wait = std::min<steady_clock::duration>(wait, *next_due_ <= now ? milliseconds(0) : duration_cast<steady_clock::duration>(*next_due_ - now) + milliseconds(1));
    }
    // While claims run or there is no room, only their results or finished sends (which
    // cancel the timer) matter.
    if (claims_running_ > 0 || in_flight_ + chunk_ > options_.max_in_flight) wait = options_.poll_interval;
    if (in_flight_ > 0) wait = std::min<steady_clock::duration>(wait, last_renewal_ + options_.lease / 3 - steady_clock::now());
    wake_.expires_after(std::max<steady_clock::duration>(wait, milliseconds(1)));
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  loop_active_ = false;
}

void DeliveryWorker::start_claim(std::size_t limit) {
  ++claims_running_;
  reserved_ += limit;
  asio::post(claims_, [this, limit] {
    Batch batch;
    std::exception_ptr error;
    try {
      batch = claim_and_compose(limit);
    } catch (...) {
      error = std::current_exception();
    }
    asio::post(loop_, [this, limit, batch = std::move(batch), error]() mutable { claimed(limit, std::move(batch), error); });
  });
}

void DeliveryWorker::claimed(std::size_t limit, Batch batch, std::exception_ptr error) {
  --claims_running_;
  reserved_ -= limit;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::warn("claiming notifications failed; retrying", {{"error", std::string(e.what())}});
    }
    pause_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    look_now_ = true;
    backlog_ = false;
  } else {
    next_due_ = batch.next_due;
    backlog_ = batch.items.size() + batch.suppressed + batch.dead == limit;
    if (backlog_) look_now_ = true;
    {
      std::lock_guard lock(counters_mutex_);
      counters_.claimed += batch.items.size();
      counters_.suppressed += batch.suppressed;
      counters_.dead += batch.dead;
    }
    if (in_flight_ == 0) last_renewal_ = std::chrono::steady_clock::now();  // fresh leases
    // Claimed while stopping too: sent within the shutdown deadline rather than left to their leases.
    for (auto& item : batch.items) send(std::move(item));
  }
  if (stopping_) maybe_idle();
  else wake_.cancel();
}

void DeliveryWorker::maybe_idle() {
  if (in_flight_ == 0 && !recording_ && claims_running_ == 0) idle_.cancel();
}

// Messages can wait in a transport's queue (a slow relay, a busy endpoint) longer than a lease:
// while they are in flight their leases are renewed, so no other instance sends them again.
void DeliveryWorker::renew_leases() {
  last_renewal_ = std::chrono::steady_clock::now();
  asio::post(records_, [this] {
    const auto now = clock_.now();
    try {
      database_.transact([&](pqxx::work& tx) {
        tx.exec_params(
            "UPDATE notifications SET lease_expires_at = $2::timestamptz + $3::interval "
            "WHERE queued AND state = 'sending' AND lease_owner = $1 AND lease_expires_at > $2::timestamptz",
            options_.owner, store::sql_instant(now), std::to_string(options_.lease.count()) + " milliseconds");
      });
    } catch (const std::exception& e) {
      log::warn("renewing delivery leases failed", {{"error", std::string(e.what())}});
    }
  });
}

void DeliveryWorker::send(Claimed item) {
  ++in_flight_;
  if (item.settled) {
    Outcome o{item.id, item.attempts, item.endpoint_id, *item.settled, clock_.now(), item.cancel};
    asio::post(loop_, [this, o = std::move(o)]() mutable { finished(std::move(o)); });
    return;
  }
  auto done = [this, id = item.id, attempts = item.attempts, endpoint = item.endpoint_id](SendResult result) {
    finished(Outcome{id, attempts, endpoint, std::move(result), clock_.now(), false});
  };
  if (item.email) email_.send(std::move(*item.email), std::move(done));
  else webhooks_.post(std::move(*item.webhook), std::move(done));
}

void DeliveryWorker::finished(Outcome outcome) {
  --in_flight_;
  unrecorded_.push_back(std::move(outcome));
  flush();
  // The loop only needs waking when there is room for another claim (a timer cancelled per
  // message would cost a timerfd update each).
  if (!stopping_ && in_flight_ + reserved_ + chunk_ == options_.max_in_flight) wake_.cancel();
}

// Outcomes are recorded in batches, one transaction at a time, on the worker's thread.
void DeliveryWorker::flush() {
  if (recording_ || unrecorded_.empty()) return;
  recording_ = true;
  std::vector<Outcome> batch;
  batch.swap(unrecorded_);
  asio::post(records_, [this, batch = std::move(batch)]() mutable {
    record(std::move(batch));
    asio::post(loop_, [this] {
      recording_ = false;
      flush();
      if (stopping_) maybe_idle();
    });
  });
}

void DeliveryWorker::record(std::vector<Outcome> outcomes) {
  // Each attempt is appended to its notification's attempt_log (schema 010).
  std::vector<std::string> finished_ids, finished_states, finished_attempts, retry_ids, retry_attempts;
  std::vector<std::optional<std::string>> finished_errors, retry_at, retry_errors;
  std::vector<std::int64_t> gone, failing, working;
  std::vector<std::string> refused_ids, refused_reasons, refused_at;  // permanent refusals of a recipient
  std::vector<std::optional<std::string>> refused_codes;
  DeliveryCounters delta;
  for (const auto& o : outcomes) {
    const auto& r = o.result;
    const char* outcome = r.kind == SendResult::Kind::sent ? "sent" : r.kind == SendResult::Kind::transient ? "transient" : "permanent";
    boost::json::object attempt;
    attempt["at"] = calendar::format_rfc3339_utc(o.at);
    attempt["outcome"] = outcome;
    attempt["code"] = r.code ? boost::json::value(r.code) : boost::json::value(nullptr);
    attempt["text"] = r.detail.empty() ? boost::json::value(nullptr) : boost::json::value(r.detail);
    std::string attempt_json = boost::json::serialize(attempt);
    std::optional<std::string> next;
    std::string state;
    if (o.cancel) {
      state = "cancelled", ++delta.cancelled;
    } else if (r.ok()) {
      state = "sent", ++delta.sent;
    } else if (r.kind == SendResult::Kind::transient && o.attempts < options_.max_attempts) {
      // Exponential backoff with equal jitter, or later when the receiver asked for it.
      std::chrono::microseconds delay = options_.retry_backoff.equal_jitter(o.attempts, store::unit_random());
      if (r.retry_after && *r.retry_after > delay) delay = *r.retry_after;
      next = store::sql_instant(o.at + delay);
      state = "pending", ++delta.retried;
    } else {
      state = "dead", ++delta.dead;
    }
    const std::optional<std::string> error =
        r.ok() ? std::nullopt : std::optional<std::string>(r.detail.empty() ? std::string(outcome) : r.detail);
    if (next) {
      retry_ids.push_back(o.id);
      retry_at.push_back(next);
      retry_errors.push_back(error);
      retry_attempts.push_back(std::move(attempt_json));
    } else {
      finished_ids.push_back(o.id);
      finished_states.push_back(state);
      finished_errors.push_back(error);
      finished_attempts.push_back(std::move(attempt_json));
    }
    if (r.recipient_refused && !o.cancel) {
      refused_ids.push_back(o.id);
      refused_codes.push_back(r.code ? std::optional(std::to_string(r.code)) : std::nullopt);
      refused_reasons.push_back(r.detail.empty() ? std::string("refused") : r.detail);
      refused_at.push_back(store::sql_instant(o.at));
    }
    if (o.endpoint_id && !o.cancel) {
      if (r.endpoint_gone) gone.push_back(*o.endpoint_id);
      else if (r.ok()) working.push_back(*o.endpoint_id);
      else failing.push_back(*o.endpoint_id);
    }
  }
  const auto now_sql = store::sql_instant(clock_.now());
  const auto limit = std::to_string(options_.endpoint_failing_limit.count()) + " hours";
  const auto hours = options_.endpoint_failing_limit.count();
  const std::string failing_reason = "deliveries failed for " +
                                     (hours % 24 == 0 ? std::to_string(hours / 24) + " days" : std::to_string(hours) + " hours") +
                                     " in a row";
  try {
    database_.transact([&](pqxx::work& tx) {
      // Every row is found by its id: a planner misled by the queue's lagging statistics must
      // not scan the table once per outcome instead (seen as 0.7 s per batch).
      tx.exec("SET LOCAL enable_seqscan = off");
      // Finished ones first, without due_at: an update of due_at wakes every instance's worker
      // (schema 005's trigger), which only retries need.
      // One statement per kind of outcome, joined to the outcomes on the id alone, so that the
      // planner, seeing the whole table on that side, looks each row up by its key. Whether the
      // lease is still ours is decided per row, on the row as it is when updated: every attempt
      // is appended, also one whose lease another instance took meanwhile (whose state and lease
      // are then left alone); one of a notification deleted meanwhile (its member was) is not.
      // `column = value` on a row whose lease is still ours ($5), the column unchanged otherwise.
      const auto if_ours = [](const std::string& column, const std::string& value) {
        return column + " = CASE WHEN n.lease_owner = $5 AND n.state = 'sending' THEN " + value + " ELSE n." + column +
               " END, ";
      };
      exec_prepared(
          tx, "delivery_record_finished",
          "UPDATE notifications n SET " + if_ours("state", "v.state") + if_ours("lease_expires_at", "NULL") +
              if_ours("last_error", "v.error") +
              if_ours("sent_at", "CASE WHEN v.state = 'sent' THEN $4::timestamptz END") +
              "attempt_log = n.attempt_log || v.attempt "
          "FROM unnest($1::uuid[], $2::text[], $3::text[], $6::jsonb[]) AS v(id, state, error, attempt) WHERE n.id = v.id",
          store::text_array(finished_ids), store::text_array(finished_states), store::text_array(finished_errors), now_sql,
          options_.owner, store::text_array(finished_attempts));
      // Retries apart: only they move due_at, whose update wakes every instance's worker.
      if (!retry_ids.empty())
        exec_prepared(
            tx, "delivery_record_retries",
            "UPDATE notifications n SET " + if_ours("state", "'pending'") + if_ours("due_at", "v.retry_at") +
                if_ours("lease_expires_at", "NULL") + if_ours("last_error", "v.error") +
                "attempt_log = n.attempt_log || v.attempt "
            "FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::jsonb[]) AS v(id, retry_at, error, attempt) "
            "WHERE n.id = v.id",
            store::text_array(retry_ids), store::text_array(retry_at), store::text_array(retry_errors),
            store::text_array(retry_attempts), options_.owner);
      // A recipient the relay refused for good is suppressed (schema 014): later emails to the
      // address finish at claim. One row per address, the latest refusal's reason.
      if (!refused_ids.empty())
        exec_prepared(
            tx, "delivery_record_suppressions",
            "INSERT INTO suppressions (address, code, reason, notification_id, first_refused_at, last_refused_at) "
            "SELECT DISTINCT ON (lower(n.recipient)) lower(n.recipient), v.code, v.reason, n.id, "
            "  min(v.at) OVER (PARTITION BY lower(n.recipient)), max(v.at) OVER (PARTITION BY lower(n.recipient)) "
            "FROM unnest($1::uuid[], $2::integer[], $3::text[], $4::timestamptz[]) AS v(id, code, reason, at) "
            "JOIN notifications n ON n.id = v.id WHERE n.channel = 'email' AND n.recipient <> '' "
            "ORDER BY lower(n.recipient), v.at DESC "
            "ON CONFLICT (address) DO UPDATE SET code = EXCLUDED.code, reason = EXCLUDED.reason, "
            "  notification_id = EXCLUDED.notification_id, "
            "  first_refused_at = least(suppressions.first_refused_at, EXCLUDED.first_refused_at), "
            "  last_refused_at = greatest(suppressions.last_refused_at, EXCLUDED.last_refused_at)",
            store::text_array(refused_ids), store::text_array(refused_codes), store::text_array(refused_reasons),
            store::text_array(refused_at));
      std::vector<std::int64_t> disabled;
      if (!gone.empty())
        for (const auto& r : tx.exec_params(
                 "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'the receiver answered 410 Gone', "
                 "updated_at = $2 WHERE id = ANY ($1::bigint[]) AND status = 'active' RETURNING id",
                 store::bigint_array(gone), now_sql))
          disabled.push_back(r[0].as<std::int64_t>());
      if (!working.empty())
        exec_prepared(tx, "delivery_endpoints_working",
                      "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ANY ($1::bigint[]) AND failing_since IS NOT NULL",
                      store::bigint_array(working));
      if (!failing.empty()) {
        tx.exec_params(
            "UPDATE webhook_endpoints SET failing_since = $2 WHERE id = ANY ($1::bigint[]) AND failing_since IS NULL",
            store::bigint_array(failing), now_sql);
        for (const auto& r : tx.exec_params(
                 "UPDATE webhook_endpoints SET status = 'disabled', updated_at = $2, "
                 "disabled_reason = $4 "
                 "WHERE id = ANY ($1::bigint[]) AND status = 'active' AND failing_since <= $2::timestamptz - $3::interval "
                 "RETURNING id",
                 store::bigint_array(failing), now_sql, limit, failing_reason))
          disabled.push_back(r[0].as<std::int64_t>());
      }
      // The owner hears of it by email: the member, or whoever made a community's endpoint.
      if (!disabled.empty())
        tx.exec_params(
            "INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, payload, "
            "due_at, created_at) "
            "SELECT notification_id(k.key), k.key, m.id, w.community_id, "
            "'email', 'webhook.disabled', m.email, "
            "jsonb_build_object('endpoint_id', w.id, 'url', w.url, 'reason', w.disabled_reason, "
            "  'community', c.slug, 'community_name', c.name), $2::timestamptz, $2::timestamptz "
            "FROM webhook_endpoints w JOIN members m ON m.id = coalesce(w.member_id, w.created_by) "
            "LEFT JOIN communities c ON c.id = w.community_id "
            "CROSS JOIN LATERAL (SELECT 'webhook-disabled:' || w.id || ':' || extract(epoch FROM $2::timestamptz)::bigint "
            "  AS key) k "
            "WHERE w.id = ANY ($1::bigint[]) ON CONFLICT (id) DO NOTHING",
            store::bigint_array(disabled), now_sql);
    });
  } catch (const std::exception& e) {
    // Unrecorded outcomes: the leases run out and the notifications are sent again (at least
    // once; receivers drop duplicates by id).
    log::error("delivery outcomes not recorded", {{"notifications", static_cast<unsigned long>(outcomes.size())},
                                                  {"error", std::string(e.what())}});
    return;
  }
  std::lock_guard lock(counters_mutex_);
  counters_.sent += delta.sent;
  counters_.retried += delta.retried;
  counters_.dead += delta.dead;
  counters_.cancelled += delta.cancelled;
}

asio::awaitable<void> DeliveryWorker::stop(std::chrono::milliseconds deadline) {
  stopping_ = true;
  wake_.cancel();
  if (in_flight_ > 0 || recording_ || claims_running_ > 0) {
    idle_.expires_after(deadline);
    co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (in_flight_ > 0)
    log::warn("notifications still in flight at the shutdown deadline; their leases will run out and they will be sent again",
              {{"notifications", static_cast<unsigned long>(in_flight_)}});
}

}  // namespace convene::jobs
