#include "jobs/queue.hpp"

#include "jobs/schedule.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace convene::jobs {
namespace {

using store::bigint_array;
using store::sql_instant;
using store::text_array;

std::string interval_ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " milliseconds"; }

// LIKE pattern matching `prefix` literally.
std::string like_prefix(const std::string& prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

}  // namespace

bool enqueue(pqxx::work& tx, const NewJob& job, calendar::Instant now, OnConflict on_conflict) {
  const auto payload = boost::json::serialize(job.payload);
  if (on_conflict == OnConflict::keep)
    return tx
               .exec_params(
                   "INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) "
                   "VALUES ($1, $2, $3::jsonb, $4, $5, $5) ON CONFLICT (kind, unique_key) DO NOTHING",
                   job.kind, job.unique_key, payload, sql_instant(job.due_at), sql_instant(now))
               .affected_rows() > 0;
  if (on_conflict == OnConflict::rerun)
    return tx
               .exec_params(
                   "INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) "
                   "VALUES ($1, $2, $3::jsonb, $4, $5, $5) ON CONFLICT (kind, unique_key) DO UPDATE "
                   "SET payload = EXCLUDED.payload, due_at = EXCLUDED.due_at, updated_at = EXCLUDED.updated_at, "
                   "state = 'pending', attempts = 0, last_error = NULL, lease_owner = NULL, finished_at = NULL "
                   "WHERE jobs.state <> 'running' AND (jobs.state <> 'pending' OR "
                   "(jobs.due_at, jobs.payload) IS DISTINCT FROM (EXCLUDED.due_at, EXCLUDED.payload))",
                   job.kind, job.unique_key, payload, sql_instant(job.due_at), sql_instant(now))
               .affected_rows() > 0;
  // Re-planning touches a pending job only, and only when something changed, so re-planning
  // the same thing twice writes nothing (and wakes nobody).
  return tx
             .exec_params(
                 "INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) "
                 "VALUES ($1, $2, $3::jsonb, $4, $5, $5) ON CONFLICT (kind, unique_key) DO UPDATE "
                 "SET payload = EXCLUDED.payload, due_at = EXCLUDED.due_at, updated_at = EXCLUDED.updated_at, "
                 "attempts = 0, last_error = NULL "
                 "WHERE jobs.state = 'pending' AND (jobs.due_at, jobs.payload) IS DISTINCT FROM (EXCLUDED.due_at, EXCLUDED.payload)",
                 job.kind, job.unique_key, payload, sql_instant(job.due_at), sql_instant(now))
             .affected_rows() > 0;
}

std::size_t drop_pending(pqxx::work& tx, const std::string& kind, const std::string& key_prefix,
                         const std::vector<std::string>& keep) {
  return tx
      .exec_params(
          "DELETE FROM jobs WHERE kind = $1 AND state = 'pending' AND unique_key LIKE $2 "
          "AND NOT (unique_key = ANY ($3::text[]))",
          kind, like_prefix(key_prefix), text_array(keep))
      .affected_rows();
}

std::vector<ClaimedJob> claim(pqxx::work& tx, const std::string& owner, calendar::Instant now,
                              std::chrono::milliseconds lease, int limit, const std::vector<std::string>& kinds) {
  const std::optional<std::string> kind_filter = kinds.empty() ? std::nullopt : std::optional<std::string>(text_array(kinds));
  // The partial index on due_at holds only pending and running rows, so finished jobs cost
  // nothing here however many accumulate.
  const auto rows = tx.exec_params(
      "WITH due AS ("
      "  SELECT id, state AS was FROM jobs "
      "  WHERE state IN ('pending', 'running') AND due_at <= $1 "
      "    AND (state = 'pending' OR lease_expires_at <= $1) "
      "    AND ($5::text[] IS NULL OR kind = ANY ($5::text[])) "
      "  ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
      "UPDATE jobs j SET state = 'running', lease_owner = $2, lease_expires_at = $1::timestamptz + $3::interval, "
      "  attempts = j.attempts + 1, started_at = $1, updated_at = $1 "
      "FROM due WHERE j.id = due.id "
      "RETURNING j.id, j.kind, j.unique_key, j.payload::text, j.due_at, j.attempts, due.was = 'running'",
      sql_instant(now), owner, interval_ms(lease), limit, kind_filter);
  std::vector<ClaimedJob> jobs;
  jobs.reserve(rows.size());
  for (const auto& r : rows) {
    ClaimedJob job;
    job.id = r[0].as<std::int64_t>();
    job.kind = r[1].as<std::string>();
    job.unique_key = r[2].as<std::string>();
    auto payload = boost::json::parse(r[3].c_str());
    if (payload.is_object()) job.payload = std::move(payload.get_object());
    job.due_at = store::parse_sql_instant(r[4].c_str());
    job.attempts = r[5].as<int>();
    job.lease_expired = r[6].as<bool>();
    jobs.push_back(std::move(job));
  }
  // Oldest first, as claimed (UPDATE ... RETURNING does not keep the CTE's order).
  std::sort(jobs.begin(), jobs.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    return a.due_at != b.due_at ? a.due_at < b.due_at : a.id < b.id;
  });
  return jobs;
}

std::optional<calendar::Instant> next_wake(pqxx::work& tx) {
  const auto rows = tx.exec(
      "SELECT least((SELECT min(due_at) FROM jobs WHERE state = 'pending'), "
      "             (SELECT min(lease_expires_at) FROM jobs WHERE state = 'running'))");
  if (rows.empty() || rows[0][0].is_null()) return std::nullopt;
  return store::parse_sql_instant(rows[0][0].c_str());
}

bool finish(pqxx::work& tx, std::int64_t id, const std::string& owner, calendar::Instant now, bool skipped,
            const std::string& note, std::optional<calendar::Instant> next_due) {
  const std::optional<std::string> note_or_null = note.empty() ? std::nullopt : std::optional<std::string>(note);
  if (next_due)
    return tx
               .exec_params(
                   "UPDATE jobs SET state = 'pending', due_at = $4, attempts = 0, lease_owner = NULL, "
                   "lease_expires_at = NULL, last_error = $5, finished_at = $3, updated_at = $3 "
                   "WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                   id, owner, sql_instant(now), sql_instant(*next_due), note_or_null)
               .affected_rows() == 1;
  return tx
             .exec_params(
                 "UPDATE jobs SET state = $4, lease_expires_at = NULL, last_error = $5, finished_at = $3, updated_at = $3 "
                 "WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                 id, owner, sql_instant(now), skipped ? "skipped" : "done", note_or_null)
             .affected_rows() == 1;
}

bool finish_all(pqxx::work& tx, const std::vector<Finished>& jobs, const std::string& owner, calendar::Instant now) {
  std::vector<std::int64_t> ids, skipped;
  std::vector<std::string> notes;
  for (const auto& j : jobs) {
    ids.push_back(j.id);
    if (j.skipped) skipped.push_back(j.id);
    notes.push_back(j.note);
  }
  const auto updated = tx.exec_params(
                             "UPDATE jobs j SET state = CASE WHEN j.id = ANY ($3::bigint[]) THEN 'skipped' ELSE 'done' END, "
                             "lease_expires_at = NULL, last_error = nullif(n.note, ''), finished_at = $5, updated_at = $5 "
                             "FROM unnest($1::bigint[], $2::text[]) AS n(id, note) "
                             "WHERE j.id = n.id AND j.lease_owner = $4 AND j.state = 'running'",
                             bigint_array(ids), text_array(notes), bigint_array(skipped), owner, sql_instant(now))
                           .affected_rows();
  return updated == jobs.size();
}

bool fail(pqxx::work& tx, std::int64_t id, const std::string& owner, calendar::Instant now, const std::string& error,
          std::optional<calendar::Instant> retry_at) {
  const std::string message = error.size() > 2000 ? error.substr(0, 2000) : error;
  if (retry_at)
    return tx
               .exec_params(
                   "UPDATE jobs SET state = 'pending', due_at = $4, lease_owner = NULL, lease_expires_at = NULL, "
                   "last_error = $5, updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                   id, owner, sql_instant(now), sql_instant(*retry_at), message)
               .affected_rows() == 1;
  return tx
             .exec_params(
                 "UPDATE jobs SET state = 'dead', lease_expires_at = NULL, last_error = $4, finished_at = $3, "
                 "updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                 id, owner, sql_instant(now), message)
             .affected_rows() == 1;
}

void extend_leases(pqxx::work& tx, const std::string& owner, const std::vector<std::int64_t>& ids,
                   calendar::Instant until) {
  tx.exec_params(
      "UPDATE jobs SET lease_expires_at = $3 WHERE id = ANY ($1::bigint[]) AND lease_owner = $2 AND state = 'running'",
      bigint_array(ids), owner, sql_instant(until));
}

std::size_t release(pqxx::work& tx, const std::string& owner, const std::vector<std::int64_t>& ids,
                    calendar::Instant now) {
  return tx
      .exec_params(
          "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
          "attempts = greatest(attempts - 1, 0), updated_at = $3 "
          "WHERE id = ANY ($1::bigint[]) AND lease_owner = $2 AND state = 'running'",
          bigint_array(ids), owner, sql_instant(now))
      .affected_rows();
}

bool retry(pqxx::work& tx, std::int64_t id, calendar::Instant now) {
  return tx
             .exec_params(
                 "UPDATE jobs SET state = 'pending', due_at = $2, attempts = 0, lease_owner = NULL, "
                 "lease_expires_at = NULL, started_at = NULL, finished_at = NULL, updated_at = $2 "
                 "WHERE id = $1 AND state IN ('dead', 'done', 'skipped')",
                 id, sql_instant(now))
             .affected_rows() == 1;
}

void ensure_schedule(pqxx::work& tx, const std::string& kind, const Schedule& schedule, calendar::Instant now) {
  const auto first = next_run_after(schedule, now);
  if (!first) return;
  const auto payload = boost::json::serialize(boost::json::object{{"schedule", to_json(schedule)}});
  // A pending row keeps its due time (a run missed while the daemon was down is still due:
  // the misfire policy decides) unless the schedule itself changed.
  tx.exec_params(
      "INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) "
      "VALUES ($1, 'schedule', $2::jsonb, $3, $4, $4) ON CONFLICT (kind, unique_key) DO UPDATE "
      "SET payload = EXCLUDED.payload, due_at = EXCLUDED.due_at, updated_at = EXCLUDED.updated_at "
      "WHERE jobs.payload->'schedule' IS DISTINCT FROM EXCLUDED.payload->'schedule' AND jobs.state <> 'running'",
      kind, payload, sql_instant(*first), sql_instant(now));
}

}  // namespace convene::jobs
