#include "jobs/delivery_parts.hpp"

#include "base/log.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/json/serialize.hpp>

// Recording outcomes and renewing leases: on the worker's records thread.
namespace convene::jobs {

using notifiers::SendResult;

// Messages can wait in a transport's queue (a slow relay, a busy endpoint) longer than a lease,
// and outcomes wait for the database when it is away: the leases of exactly those rows, the
// ones this instance holds, are renewed by id, so no other instance sends them again.
void DeliveryWorker::renew_leases() {
  last_renewal_ = std::chrono::steady_clock::now();
  std::vector<std::string> ids(held_.begin(), held_.end());
  boost::asio::post(records_, [this, ids = std::move(ids)] {
    const auto now = clock_.now();
    try {
      database_.transact([&](pqxx::work& tx) {
        tx.exec("SET LOCAL enable_seqscan = off");
        exec_prepared(tx, "delivery_renew",
                      "UPDATE notifications SET lease_expires_at = $2::timestamptz + $3::interval "
                      "WHERE id = ANY ($4::uuid[]) AND state = 'sending' AND lease_owner = $1",
                      options_.owner, store::sql_instant(now), std::to_string(options_.lease.count()) + " milliseconds",
                      store::text_array(ids));
      });
    } catch (const std::exception& e) {
      log::warn("renewing delivery leases failed", {{"error", std::string(e.what())}});
    }
  });
}

bool DeliveryWorker::record(const std::vector<Outcome>& outcomes) {
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
    // Kept by the caller and recorded later; their leases are renewed meanwhile, so no other
    // instance sends them again.
    log::warn("delivery outcomes not recorded yet; retrying", {{"notifications", static_cast<unsigned long>(outcomes.size())},
                                                               {"error", std::string(e.what())}});
    std::lock_guard lock(counters_mutex_);
    ++counters_.record_failures;
    return false;
  }
  std::lock_guard lock(counters_mutex_);
  counters_.sent += delta.sent;
  counters_.retried += delta.retried;
  counters_.dead += delta.dead;
  counters_.cancelled += delta.cancelled;
  return true;
}


}  // namespace convene::jobs
