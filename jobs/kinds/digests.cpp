// Daily and weekly digests (DESIGN §4 "Digests", schema 007).
//
// `digests.sweep` runs every quarter of an hour (every UTC offset and DST transition in use is
// a multiple of 15 minutes, so every digest hour of every zone falls on one): when members are
// due it starts `digests.batch` chains. A batch locks up to `digest_batch` due members
// (FOR UPDATE SKIP LOCKED, so instances and chains share the work), recomputes each one's due
// instant from their current zone, hour and weekday, composes the due digests with set-based
// queries, and in its own transaction queues each non-empty digest as an email notification,
// writes the ledger row (unique per member, cadence and period) and moves the member's
// schedule on. A full batch continues the chain. A crash rolls a batch back as a whole; its
// job's lease runs out and the batch runs again.
#include "jobs/digests.hpp"
#include "jobs/kinds/families.hpp"
#include "jobs/queue.hpp"
#include "notifiers/display_time.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace convene::jobs {
namespace {

using store::bigint_array;
using store::sql_instant;
using store::text_array;

struct DueMember {
  std::int64_t member_id = 0;
  Cadence cadence = Cadence::daily;
  DigestPreferences preferences;
  DigestState state;
};

std::vector<DueMember> lock_due_members(pqxx::work& tx, calendar::Instant now, int limit) {
  std::vector<DueMember> out;
  for (const auto& r : tx.exec_params(
           "SELECT ds.member_id, ds.cadence, ds.covered_to, ds.last_digest_at, m.time_zone, m.digest_hour, m.weekly_day "
           "FROM digest_schedules ds JOIN members m ON m.id = ds.member_id "
           "WHERE ds.next_due_at <= $1 ORDER BY ds.next_due_at LIMIT $2 FOR UPDATE OF ds SKIP LOCKED",
           sql_instant(now), limit)) {
    DueMember d;
    d.member_id = r[0].as<std::int64_t>();
    d.cadence = parse_cadence(r[1].as<std::string>()).value_or(Cadence::daily);
    d.state.covered_to = store::parse_sql_instant(r[2].c_str());
    if (!r[3].is_null()) d.state.last_digest_at = store::parse_sql_instant(r[3].c_str());
    d.preferences = {notifiers::usable_zone(r[4].as<std::string>()), r[5].as<int>(), r[6].as<int>()};
    out.push_back(std::move(d));
  }
  return out;
}

// Members with no membership left on a cadence lose its schedule row (a new one starts when
// they choose it again); they are left out of the batch.
void drop_unused(pqxx::work& tx, std::vector<DueMember>& members) {
  std::vector<std::int64_t> ids;
  std::vector<std::string> cadences;
  for (const auto& m : members) {
    ids.push_back(m.member_id);
    cadences.emplace_back(cadence_name(m.cadence));
  }
  std::set<std::pair<std::int64_t, std::string>> dropped;
  for (const auto& r : tx.exec_params(
           "DELETE FROM digest_schedules ds USING unnest($1::bigint[], $2::text[]) AS b(member_id, cadence) "
           "WHERE ds.member_id = b.member_id AND ds.cadence = b.cadence AND NOT EXISTS ("
           "  SELECT 1 FROM memberships ms WHERE ms.member_id = ds.member_id AND ms.delivery = ds.cadence) "
           "RETURNING ds.member_id, ds.cadence",
           bigint_array(ids), text_array(cadences)))
    dropped.emplace(r[0].as<std::int64_t>(), r[1].as<std::string>());
  std::erase_if(members, [&](const DueMember& m) {
    return dropped.count({m.member_id, std::string(cadence_name(m.cadence))}) > 0;
  });
}

struct ScheduleUpdate {
  std::int64_t member_id;
  Cadence cadence;
  DigestState state;
  calendar::Instant next_due;
};

// Queues the non-empty digests and writes their ledger rows, in one statement: a digest whose
// notification exists already (the same period queued before) adds nothing.
void queue_digests(pqxx::work& tx, Cadence cadence, const std::vector<DigestRequest>& requests,
                   const std::vector<DigestContent>& contents, calendar::Instant now) {
  std::vector<std::int64_t> members;
  std::vector<std::string> keys, ends, labels, periods, froms, counts;
  // The payloads as one JSON array (element i for member i): no array-literal quoting of
  // kilobytes of JSON each, one parse.
  std::string payloads = "[";
  std::vector<std::optional<std::string>> communities;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (contents[i].empty()) continue;
    const auto& r = requests[i];
    const auto end_seconds = std::chrono::floor<std::chrono::seconds>(r.period_end).time_since_epoch().count();
    members.push_back(r.member_id);
    keys.push_back("digest:" + std::to_string(r.member_id) + ":" + std::string(cadence_name(cadence)) + ":" +
                   std::to_string(end_seconds));
    ends.push_back(sql_instant(r.period_end));
    labels.push_back(r.period_label);
    periods.push_back(std::to_string(r.periods_covered));
    froms.push_back(sql_instant(r.covered_from));
    counts.push_back(std::to_string(contents[i].item_count));
    if (payloads.size() > 1) payloads += ',';
    payloads += boost::json::serialize(contents[i].payload);
    communities.push_back(contents[i].single_community_id ? std::optional(std::to_string(*contents[i].single_community_id))
                                                          : std::nullopt);
  }
  if (members.empty()) return;
  payloads += ']';
  tx.exec_params(
      "WITH d AS (SELECT d.*, p.payload FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::int[], "
      "  $6::timestamptz[], $7::int[], $9::bigint[]) WITH ORDINALITY "
      "  AS d(member_id, dedupe_key, period_end, period_label, periods_covered, covered_from, item_count, community_id, n) "
      "  JOIN jsonb_array_elements($8::jsonb) WITH ORDINALITY AS p(payload, n) ON p.n = d.n), "
      "n AS (INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, payload, "
      "  state, due_at, created_at) "
      "  SELECT notification_id(d.dedupe_key), d.dedupe_key, d.member_id, d.community_id, 'email', $10, m.email, "
      "    d.payload, 'pending', $11, $11 "
      "  FROM d JOIN members m ON m.id = d.member_id ORDER BY d.member_id "
      "  ON CONFLICT (id) DO NOTHING RETURNING id, dedupe_key) "
      "INSERT INTO digests (member_id, cadence, period_end, period_label, periods_covered, covered_from, covered_to, "
      "  item_count, notification_id, created_at) "
      "SELECT d.member_id, $12, d.period_end, d.period_label, d.periods_covered, d.covered_from, d.period_end, "
      "  d.item_count, n.id, $11 FROM d JOIN n ON n.dedupe_key = d.dedupe_key "
      "ON CONFLICT (member_id, cadence, period_end) DO NOTHING",
      bigint_array(members), text_array(keys), text_array(ends), text_array(labels), text_array(periods),
      text_array(froms), text_array(counts), payloads, text_array(communities), digest_kind(cadence),
      sql_instant(now), std::string(cadence_name(cadence)));
}

void update_schedules(pqxx::work& tx, const std::vector<ScheduleUpdate>& updates, calendar::Instant now) {
  if (updates.empty()) return;
  std::vector<std::int64_t> members;
  std::vector<std::string> cadences, covered, next;
  std::vector<std::optional<std::string>> last;
  for (const auto& u : updates) {
    members.push_back(u.member_id);
    cadences.emplace_back(cadence_name(u.cadence));
    covered.push_back(sql_instant(u.state.covered_to));
    last.push_back(u.state.last_digest_at ? std::optional(sql_instant(*u.state.last_digest_at)) : std::nullopt);
    next.push_back(sql_instant(u.next_due));
  }
  tx.exec_params(
      "UPDATE digest_schedules ds SET covered_to = u.covered_to, last_digest_at = u.last_digest_at, "
      "next_due_at = u.next_due_at, updated_at = $6 "
      "FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[]) "
      "  AS u(member_id, cadence, covered_to, last_digest_at, next_due_at) "
      "WHERE ds.member_id = u.member_id AND ds.cadence = u.cadence",
      bigint_array(members), text_array(cadences), text_array(covered), text_array(last), text_array(next), sql_instant(now));
}

// A schedule that yields nothing (it cannot, for daily and weekly rules) is looked at daily.
calendar::Instant next_or_tomorrow(std::optional<calendar::Instant> next, calendar::Instant now) {
  return next.value_or(now + std::chrono::hours(24));
}

Outcome run_batch(JobRun& run, int batch_size, DigestEventCache& cache) {
  auto members = lock_due_members(run.tx, run.now, batch_size);
  const bool full = static_cast<int>(members.size()) == batch_size;
  if (!members.empty()) drop_unused(run.tx, members);
  std::vector<ScheduleUpdate> updates;
  std::map<Cadence, std::vector<DigestRequest>> due;
  for (const auto& m : members) {
    const auto owed = due_digest(m.cadence, m.preferences, m.state, run.now);
    if (!owed) {
      // Not due after all (the hint was early, or the member moved their hour or zone).
      updates.push_back({m.member_id, m.cadence, m.state,
                         next_or_tomorrow(next_digest_due(m.cadence, m.preferences, m.state), run.now)});
      continue;
    }
    due[m.cadence].push_back({m.member_id, owed->covered_from, owed->period_end, owed->periods_covered,
                              period_label(m.cadence, m.preferences.zone, owed->period_end)});
    // Sent or empty, the period is over: the next digest covers from its end.
    const auto after = after_digest(owed->period_end);
    updates.push_back({m.member_id, m.cadence, after, next_or_tomorrow(next_digest_due(m.cadence, m.preferences, after), run.now)});
  }
  for (const auto& [cadence, requests] : due)
    queue_digests(run.tx, cadence, requests, compose_digests(run.tx, cadence, requests, run.now, &cache), run.now);
  update_schedules(run.tx, updates, run.now);
  // More may be due: the chain goes on in a fresh transaction.
  if (full)
    enqueue(run.tx, NewJob{"digests.batch", "after:" + std::to_string(run.job.id), {}, run.now}, run.now, OnConflict::keep);
  return Outcome::done();
}

Outcome sweep(JobRun& run, int chains) {
  const auto due = run.tx.exec_params("SELECT count(*) FROM digest_schedules WHERE next_due_at <= $1", sql_instant(run.now))[0][0]
                       .as<std::int64_t>();
  if (due == 0) return Outcome::done();
  const auto at = std::chrono::floor<std::chrono::seconds>(run.now).time_since_epoch().count();
  for (int chain = 0; chain < chains; ++chain)
    enqueue(run.tx, NewJob{"digests.batch", "sweep:" + std::to_string(at) + ":" + std::to_string(chain), {}, run.now}, run.now,
            OnConflict::keep);
  return Outcome::done();
}

Schedule every_quarter_hour() {
  std::string hours;
  for (int h = 0; h < 24; ++h) hours.append(h ? "," : "").append(std::to_string(h));
  Schedule s = daily_at(std::chrono::minutes(0), "UTC");
  s.rrule = "FREQ=DAILY;BYHOUR=" + hours + ";BYMINUTE=0,15,30,45";
  return s;
}

}  // namespace

std::vector<KindSpec> digest_kinds(const KindSettings& settings) {
  KindSpec sweep_spec{.kind = "digests.sweep",
                      .run = [chains = std::max(1, settings.digest_chains)](JobRun& run) { return sweep(run, chains); },
                      .misfire = Misfire::coalesce,
                      .schedule = every_quarter_hour()};
  KindSpec batch_spec{.kind = "digests.batch",
                      .run = [size = std::max(1, settings.digest_batch), cache = std::make_shared<DigestEventCache>()](
                                 JobRun& run) { return run_batch(run, size, *cache); }};
  return {std::move(sweep_spec), std::move(batch_spec)};
}

}  // namespace convene::jobs
