#include "jobs/delivery.hpp"

#include "base/log.hpp"
#include "jobs/meeting_attachment.hpp"
#include "jobs/offload.hpp"
#include "notifiers/email_message.hpp"
#include "notifiers/signed_token.hpp"
#include "notifiers/webhook_body.hpp"
#include "notifiers/webhook_signature.hpp"
#include "store/server_secrets.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <random>

namespace convene::jobs {
namespace {

namespace asio = boost::asio;
using notifiers::SendResult;

std::optional<std::string> nullable(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<std::string>(f.as<std::string>());
}

double unit_random() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
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
      idle_(loop) {}

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

std::vector<DeliveryWorker::Claimed> DeliveryWorker::claim_and_compose(std::size_t limit) {
  const auto now = clock_.now();
  const auto now_sql = store::sql_instant(now);
  struct Row {
    std::string id, channel, kind, recipient, payload;
    int attempts = 0;
    std::optional<std::int64_t> member_id, community_id, endpoint_id;
    std::string member_name, time_zone;
    std::optional<std::string> community_slug, community_name, url, secret, previous_secret, previous_until, endpoint_status,
        occurred_at;
  };
  std::vector<Row> rows;
  database_.transact([&](pqxx::work& tx) {
    rows.clear();
    if (link_key_.empty()) link_key_ = store::server_secret(tx, "links", now_sql);
    // A claim lost in a crash only leaves the notification pending: no flush wait.
    tx.exec("SET LOCAL synchronous_commit = off");
    const auto claimed = tx.exec_params(
        "WITH due AS ("
        "  SELECT id FROM notifications WHERE state IN ('pending', 'sending') AND due_at <= $1 "
        "    AND (state = 'pending' OR lease_expires_at <= $1) "
        "  ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "UPDATE notifications n SET state = 'sending', lease_owner = $2, "
        "  lease_expires_at = $1::timestamptz + $4::interval, attempts = n.attempts + 1 "
        "FROM due WHERE n.id = due.id RETURNING n.id",
        now_sql, options_.owner, static_cast<long long>(limit), std::to_string(options_.lease.count()) + " milliseconds");
    if (claimed.empty()) return;
    std::vector<std::string> ids;
    for (const auto& r : claimed) ids.push_back(r[0].as<std::string>());
    for (const auto& r : tx.exec_params(
             "SELECT n.id, n.channel, n.kind, n.recipient, n.payload::text, n.attempts, n.member_id, n.community_id, "
             "n.endpoint_id, coalesce(m.name, ''), coalesce(m.time_zone, 'UTC'), c.slug, c.name, e.url, e.secret, "
             "e.previous_secret, e.previous_secret_until, e.status, ev.occurred_at "
             "FROM notifications n LEFT JOIN members m ON m.id = n.member_id "
             "LEFT JOIN communities c ON c.id = n.community_id LEFT JOIN webhook_endpoints e ON e.id = n.endpoint_id "
             "LEFT JOIN events ev ON ev.id = n.event_id WHERE n.id = ANY ($1::uuid[])",
             store::text_array(ids))) {
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
      row.occurred_at = nullable(r[18]);
      rows.push_back(std::move(row));
    }
    const auto next = tx.exec(
        "SELECT least((SELECT min(due_at) FROM notifications WHERE state = 'pending'), "
        "             (SELECT min(lease_expires_at) FROM notifications WHERE state = 'sending'))");
    next_due_claimed_ = next.empty() || next[0][0].is_null() ? std::nullopt
                                                             : std::optional(store::parse_sql_instant(next[0][0].c_str()));
  });

  std::vector<Claimed> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    Claimed item;
    item.id = row.id;
    item.attempts = row.attempts;
    item.endpoint_id = row.endpoint_id;
    try {
      auto parsed = boost::json::parse(row.payload);
      const boost::json::object payload = parsed.is_object() ? parsed.get_object() : boost::json::object{};
      if (row.channel == "webhook") {
        if (!row.url || row.endpoint_status != "active") {
          item.cancel = true;
          item.settled = SendResult{SendResult::Kind::permanent, 0, "the endpoint is disabled", std::nullopt, false};
        } else {
          const auto occurred = row.occurred_at ? store::parse_sql_instant(*row.occurred_at) : now;
          std::optional<calendar::Instant> until;
          if (row.previous_until) until = store::parse_sql_instant(*row.previous_until);
          item.webhook = notifiers::build_webhook(row.id, *row.url, row.kind, occurred, payload,
                                                  notifiers::signing_secrets(*row.secret, row.previous_secret, until, now), now);
        }
      } else {
        notifiers::MessageContext context;
        context.member_name = row.member_name;
        context.member_id = row.member_id;
        context.time_zone = row.time_zone;
        context.public_url = options_.public_url;
        if (row.member_id) {
          context.preferences_url = options_.public_url + "/preferences/" +
                                    notifiers::make_token(link_key_, notifiers::TokenPurpose::preferences, *row.member_id, 0);
          if (row.community_id)
            context.unsubscribe_url =
                options_.public_url + "/u/" +
                notifiers::make_token(link_key_, notifiers::TokenPurpose::unsubscribe, *row.member_id, *row.community_id);
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
        // The mailto form names the same signed token, for mail clients that only mail.
        if (!context.unsubscribe_url.empty())
          parts.unsubscribe_mailto = "mailto:" + options_.mail_from + "?subject=unsubscribe%20" +
                                     context.unsubscribe_url.substr(context.unsubscribe_url.rfind('/') + 1);
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
  return out;
}

asio::awaitable<void> DeliveryWorker::run() {
  loop_active_ = true;
  while (!stopping_) {
    const auto steady_now = std::chrono::steady_clock::now();
    const bool poll = steady_now - last_look_ >= options_.poll_interval;
    const bool due = look_now_ || poll || (next_due_ && *next_due_ <= clock_.now());
    // Claim again once a quarter of the slots are free, so the transports never run dry
    // while the next batch is claimed and composed.
    if (due && in_flight_ <= options_.max_in_flight * 3 / 4 && steady_now >= pause_until_) {
      look_now_ = false;
      last_look_ = steady_now;
      const std::size_t limit = options_.max_in_flight - in_flight_;
      const auto claim = [this, limit] { return claim_and_compose(limit); };
      std::optional<std::vector<Claimed>> batch;
      try {
        batch = co_await offload<std::vector<Claimed>>(claims_, claim);
      } catch (const std::exception& e) {
        log::warn("claiming notifications failed; retrying", {{"error", std::string(e.what())}});
        pause_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        look_now_ = true;
      }
      if (batch) {
        next_due_ = next_due_claimed_;
        if (batch->size() == limit) look_now_ = true;
        {
          std::lock_guard lock(counters_mutex_);
          counters_.claimed += batch->size();
        }
        for (auto& item : *batch) send(std::move(item));
        continue;
      }
    }
    using namespace std::chrono;
    steady_clock::duration wait = options_.poll_interval - (steady_clock::now() - last_look_);
    if (pause_until_ > steady_clock::now()) wait = std::min(wait, pause_until_ - steady_clock::now());
    if (next_due_) {
      const auto now = clock_.now();
      wait = std::min<steady_clock::duration>(wait, *next_due_ <= now ? milliseconds(0) : duration_cast<steady_clock::duration>(*next_due_ - now) + milliseconds(1));
    }
    // Without room, only a finished send (which cancels the timer) matters.
    if (in_flight_ > options_.max_in_flight * 3 / 4) wait = options_.poll_interval;
    wake_.expires_after(std::max<steady_clock::duration>(wait, milliseconds(1)));
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  loop_active_ = false;
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
  if (!stopping_) wake_.cancel();  // room for more
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
      if (stopping_ && in_flight_ == 0 && !recording_) idle_.cancel();
    });
  });
}

void DeliveryWorker::record(std::vector<Outcome> outcomes) {
  std::vector<std::string> ids, outcome_kinds, states;
  std::vector<std::optional<std::string>> codes, texts, retry_at, errors, attempted;
  std::vector<std::int64_t> gone, failing, working;
  DeliveryCounters delta;
  for (const auto& o : outcomes) {
    const auto& r = o.result;
    ids.push_back(o.id);
    attempted.push_back(store::sql_instant(o.at));
    outcome_kinds.push_back(r.kind == SendResult::Kind::sent ? "sent" : r.kind == SendResult::Kind::transient ? "transient" : "permanent");
    codes.push_back(r.code ? std::optional<std::string>(std::to_string(r.code)) : std::nullopt);
    texts.push_back(r.detail.empty() ? std::nullopt : std::optional<std::string>(r.detail));
    std::optional<std::string> next;
    std::string state;
    if (o.cancel) {
      state = "cancelled", ++delta.cancelled;
    } else if (r.ok()) {
      state = "sent", ++delta.sent;
    } else if (r.kind == SendResult::Kind::transient && o.attempts < options_.max_attempts) {
      // Exponential backoff with equal jitter, or later when the receiver asked for it.
      const auto step = options_.retry_backoff.delay(o.attempts, 1.0);
      auto delay = std::chrono::duration_cast<std::chrono::microseconds>(step / 2 + step / 2 * unit_random());
      if (r.retry_after && *r.retry_after > delay) delay = *r.retry_after;
      next = store::sql_instant(o.at + delay);
      state = "pending", ++delta.retried;
    } else {
      state = "dead", ++delta.dead;
    }
    states.push_back(state);
    retry_at.push_back(next);
    errors.push_back(r.ok() ? std::nullopt : std::optional<std::string>(r.detail.empty() ? outcome_kinds.back() : r.detail));
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
      tx.exec_params(
          "INSERT INTO notification_attempts (notification_id, attempted_at, outcome, response_code, response_text) "
          "SELECT id, at, outcome, code, text FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int[], $5::text[]) "
          "AS a(id, at, outcome, code, text) WHERE EXISTS (SELECT 1 FROM notifications n WHERE n.id = a.id)",
          store::text_array(ids), store::text_array(attempted), store::text_array(outcome_kinds), store::text_array(codes),
          store::text_array(texts));
      tx.exec_params(
          "UPDATE notifications n SET state = v.state, due_at = coalesce(v.retry_at, n.due_at), lease_expires_at = NULL, "
          "last_error = v.error, sent_at = CASE WHEN v.state = 'sent' THEN $5::timestamptz END "
          "FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) AS v(id, state, retry_at, error) "
          "WHERE n.id = v.id AND n.lease_owner = $6 AND n.state = 'sending'",
          store::text_array(ids), store::text_array(states), store::text_array(retry_at), store::text_array(errors), now_sql,
          options_.owner);
      std::vector<std::int64_t> disabled;
      if (!gone.empty())
        for (const auto& r : tx.exec_params(
                 "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'the receiver answered 410 Gone', "
                 "updated_at = $2 WHERE id = ANY ($1::bigint[]) AND status = 'active' RETURNING id",
                 store::bigint_array(gone), now_sql))
          disabled.push_back(r[0].as<std::int64_t>());
      if (!working.empty())
        tx.exec_params("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ANY ($1::bigint[]) AND failing_since IS NOT NULL",
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
            "INSERT INTO notifications (dedupe_key, member_id, community_id, channel, kind, recipient, payload, due_at, "
            "created_at) "
            "SELECT 'webhook-disabled:' || w.id || ':' || extract(epoch FROM $2::timestamptz)::bigint, m.id, w.community_id, "
            "'email', 'webhook.disabled', m.email, "
            "jsonb_build_object('endpoint_id', w.id, 'url', w.url, 'reason', w.disabled_reason, "
            "  'community', c.slug, 'community_name', c.name), $2::timestamptz, $2::timestamptz "
            "FROM webhook_endpoints w JOIN members m ON m.id = coalesce(w.member_id, w.created_by) "
            "LEFT JOIN communities c ON c.id = w.community_id WHERE w.id = ANY ($1::bigint[]) "
            "ON CONFLICT (dedupe_key) DO NOTHING",
            store::bigint_array(disabled), now_sql);
    });
  } catch (const std::exception& e) {
    // Unrecorded outcomes: the leases run out and the notifications are sent again (at least
    // once; receivers drop duplicates by id).
    log::error("delivery outcomes not recorded", {{"notifications", static_cast<unsigned long>(ids.size())},
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
  if (in_flight_ > 0 || recording_) {
    idle_.expires_after(deadline);
    co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (in_flight_ > 0)
    log::warn("notifications still in flight at the shutdown deadline; their leases will run out and they will be sent again",
              {{"notifications", static_cast<unsigned long>(in_flight_)}});
}

}  // namespace convene::jobs
