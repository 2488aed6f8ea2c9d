#pragma once
// The jobs table (schema 001/004): the SQL of enqueueing, claiming with leases, finishing,
// failing, releasing and retrying. Blocking calls on a transaction; the engine runs them on
// its own threads, never on the event loop. "now" is always a parameter.
#include "calendar/clock.hpp"
#include "store/database.hpp"

#include <boost/json/object.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convene::jobs {

struct NewJob {
  std::string kind;
  std::string unique_key;  // (kind, unique_key) is unique: planning twice makes one job
  boost::json::object payload;
  calendar::Instant due_at;
};

enum class OnConflict {
  keep,    // an existing job with the key stays as it is
  replan,  // an existing *pending* job takes the new due time and payload (a moved meeting)
  rerun,   // like replan, and a finished (done, skipped, dead) job runs again: work that must
           // see the latest state, such as re-planning a meeting's reminders after a change
};

// True when a job was inserted or re-planned.
bool enqueue(pqxx::work& tx, const NewJob& job, calendar::Instant now, OnConflict on_conflict = OnConflict::keep);

// Deletes pending jobs of `kind` whose unique key starts with `key_prefix` and is not in
// `keep` (reminders of a meeting that moved or was cancelled). Returns how many.
std::size_t drop_pending(pqxx::work& tx, const std::string& kind, const std::string& key_prefix,
                         const std::vector<std::string>& keep = {});

struct ClaimedJob {
  std::int64_t id = 0;
  std::string kind;
  std::string unique_key;
  boost::json::object payload;
  calendar::Instant due_at;
  int attempts = 0;             // including this one
  bool lease_expired = false;   // it was running on an instance that stopped renewing its lease
};

// Claims up to `limit` due jobs (pending and due, or running with an expired lease), oldest due
// first, skipping rows other instances hold locked: each becomes 'running' under `owner` until
// now + lease.
// With `kinds`, only jobs of those kinds.
std::vector<ClaimedJob> claim(pqxx::work& tx, const std::string& owner, calendar::Instant now,
                              std::chrono::milliseconds lease, int limit, const std::vector<std::string>& kinds = {});

// When the engine must look next: the earliest pending due time or running lease expiry.
std::optional<calendar::Instant> next_wake(pqxx::work& tx);

// Marks the job done or skipped, or, when `next_due` is set (a recurring job), pending again at
// that time with its attempts reset. False when `owner` no longer holds the job's lease: the
// caller must roll back, since another instance has taken the job over.
bool finish(pqxx::work& tx, std::int64_t id, const std::string& owner, calendar::Instant now, bool skipped,
            const std::string& note, std::optional<calendar::Instant> next_due);

// finish() for many jobs at once (a batch): false when `owner` no longer holds every one of them.
struct Finished {
  std::int64_t id = 0;
  bool skipped = false;
  std::string note;
};
bool finish_all(pqxx::work& tx, const std::vector<Finished>& jobs, const std::string& owner, calendar::Instant now);

// Records a failed attempt: pending again at `retry_at`, or dead when `retry_at` is empty.
// False when `owner` no longer holds the lease.
bool fail(pqxx::work& tx, std::int64_t id, const std::string& owner, calendar::Instant now, const std::string& error,
          std::optional<calendar::Instant> retry_at);

// Extends the leases `owner` still holds among `ids`.
void extend_leases(pqxx::work& tx, const std::string& owner, const std::vector<std::int64_t>& ids,
                   calendar::Instant until);

// Gives the jobs back unstarted (shutdown): pending again, this claim not counted as an attempt.
std::size_t release(pqxx::work& tx, const std::string& owner, const std::vector<std::int64_t>& ids,
                    calendar::Instant now);

// Admin: a dead (or finished) job runs again as soon as possible with fresh attempts. False
// when there is no such job or it is pending or running.
bool retry(pqxx::work& tx, std::int64_t id, calendar::Instant now);

// A recurring job's row: inserted due at the schedule's first run after `now`; when the row
// exists with another schedule (the configuration changed) and is pending, it is re-planned.
void ensure_schedule(pqxx::work& tx, const std::string& kind, const struct Schedule& schedule, calendar::Instant now);

}  // namespace convene::jobs
