#include "jobs/engine.hpp"

#include "base/log.hpp"
#include "base/offload.hpp"
#include "store/sql_time.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <algorithm>
#include <random>

namespace convene::jobs {
namespace {

namespace asio = boost::asio;

// The job's row is no longer ours (our lease ran out and another instance took the job):
// thrown inside the transaction so the handler's effects roll back.
struct LeaseLost : std::runtime_error {
  LeaseLost() : std::runtime_error("the job's lease was taken over by another instance") {}
};

const std::vector<double> kLagBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600};

std::chrono::steady_clock::duration until(calendar::Instant due, calendar::Instant now) {
  // Rounded up, so the timer never fires just before the job is due.
  return due <= now ? std::chrono::steady_clock::duration::zero()
                    : std::chrono::duration_cast<std::chrono::steady_clock::duration>(due - now) +
                          std::chrono::milliseconds(1);
}

}  // namespace

std::string default_owner() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  std::mt19937_64 generator{std::random_device{}()};
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(generator() & 0xffffffffu));
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + suffix;
}

Engine::Engine(asio::any_io_executor loop, store::Database& database, const calendar::Clock& clock,
               EngineOptions options, std::vector<KindSpec> kinds)
    : loop_(loop),
      database_(database),
      clock_(clock),
      options_(std::move(options)),
      workers_(static_cast<std::size_t>(std::max(1, options_.concurrency))),
      wake_(loop),
      idle_(loop) {
  for (auto& kind : kinds) {
    if (kind.batch > 1 && !kind.schedule) {
      batched_kinds_.push_back(kind.kind);
      max_batch_ = std::max(max_batch_, kind.batch);
    }
    kinds_.emplace(kind.kind, std::move(kind));
  }
  stats_.lag_bucket_bounds = kLagBounds;
  stats_.lag_buckets.assign(kLagBounds.size(), 0);
}

Engine::~Engine() {
  stop_requested_ = true;
  control_.join();
  workers_.join();
}

void Engine::nudge() {
  asio::post(loop_, [this] {
    look_now_ = true;
    pause_until_ = {};
    wake_.cancel();
  });
}

void Engine::write_schedules() {
  const auto now = clock_.now();
  database_.transact([&](pqxx::work& tx) {
    for (const auto& [name, spec] : kinds_)
      if (spec.schedule) ensure_schedule(tx, name, *spec.schedule, now);
  });
}

bool Engine::batched(const std::string& kind) const {
  return std::find(batched_kinds_.begin(), batched_kinds_.end(), kind) != batched_kinds_.end();
}

// Claims, lease renewals and releases commit without waiting for the WAL flush: a claim lost
// in a crash only leaves its job pending (nothing ran under it durably: a job's completion
// commits synchronously, flushing every earlier WAL record, the claim's included). This keeps
// the disk's flush latency out of the enqueue-to-start time.
namespace {
void commit_without_flush_wait(pqxx::work& tx) { tx.exec("SET LOCAL synchronous_commit = off"); }
}  // namespace

Engine::Batch Engine::claim_batch(int limit, int batched_limit) {
  const auto now = clock_.now();
  return database_.transact([&](pqxx::work& tx) {
    commit_without_flush_wait(tx);
    Batch batch;
    if (limit > 0) batch.jobs = claim(tx, options_.owner, now, options_.lease, limit);
    batch.more = limit > 0 && static_cast<int>(batch.jobs.size()) == limit;
    // When the first claim took fewer than it could, nothing else is due.
    if (batched_limit > 0 && (limit == 0 || batch.more)) {
      auto more = claim(tx, options_.owner, now, options_.lease, batched_limit, batched_kinds_);
      batch.more = static_cast<int>(more.size()) == batched_limit;
      batch.jobs.insert(batch.jobs.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    batch.next_due = next_wake(tx);
    return batch;
  });
}

asio::awaitable<void> Engine::run() {
  loop_active_ = true;
  bool schedules_written = false;
  const int capacity = std::max(1, options_.concurrency);
  while (!stopping_) {
    const auto steady_now = std::chrono::steady_clock::now();
    if (!schedules_written && steady_now >= pause_until_) {
      try {
        const auto write = [this] {
          write_schedules();
          return true;
        };
        co_await offload<bool>(control_, write);
        schedules_written = true;
      } catch (const std::exception& e) {
        log::warn("job schedules not written yet; retrying", {{"error", std::string(e.what())}});
        pause_until_ = steady_now + std::chrono::seconds(1);
      }
    }
    // Heartbeat: renew the leases of everything claimed, well before they run out.
    if (!running_.empty() && steady_now >= next_heartbeat_) {
      next_heartbeat_ = steady_now + options_.lease / 3;
      std::vector<std::int64_t> ids(running_.begin(), running_.end());
      const auto until_instant = clock_.now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.lease);
      const auto renew = [this, ids = std::move(ids), until_instant] {
        database_.transact([&](pqxx::work& tx) {
          commit_without_flush_wait(tx);
          extend_leases(tx, options_.owner, ids, until_instant);
        });
        return true;
      };
      try {
        co_await offload<bool>(control_, renew);
      } catch (const std::exception& e) {
        log::warn("job leases not renewed", {{"error", std::string(e.what())}});
      }
    }
    // Claim while the local backlog is at most one batch: batches of `capacity` or more keep
    // the claim query's cost per job low, and at most 2 x capacity leases are held at once.
    // Kinds that run in batches get their own, larger allowance, so that a worker runs a
    // whole batch per transaction.
    const int held_batched = running_batched_;
    const int held = static_cast<int>(running_.size()) - held_batched;
    const int batched_room = capacity * max_batch_;
    const int batched_limit = !batched_kinds_.empty() && held_batched <= batched_room ? 2 * batched_room - held_batched : 0;
    // The fallback poll: a NOTIFY may have been lost (a reconnect) or another instance moved
    // a due time, so look at the table itself now and then.
    const bool poll = std::chrono::steady_clock::now() - last_look_ >= options_.poll_interval;
    const bool due = look_now_ || poll || (next_due_ && *next_due_ <= clock_.now());
    if (!stopping_ && schedules_written && (held <= capacity || batched_limit > 0) && due &&
        std::chrono::steady_clock::now() >= pause_until_) {
      look_now_ = false;
      last_look_ = std::chrono::steady_clock::now();
      const int limit = held <= capacity ? 2 * capacity - held : 0;
      std::optional<Batch> batch;
      const auto claim_some = [this, limit, batched_limit] { return claim_batch(limit, batched_limit); };
      try {
        batch = co_await offload<Batch>(control_, claim_some);
      } catch (const std::exception& e) {
        log::warn("claiming jobs failed; retrying", {{"error", std::string(e.what())}});
        pause_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        look_now_ = true;
      }
      if (batch) {
        next_due_ = batch->next_due;
        const bool full = batch->more;
        // Nothing claimable although something is due: other instances hold those rows right
        // now. Look again shortly rather than spinning.
        if (batch->jobs.empty() && next_due_ && *next_due_ <= clock_.now())
          pause_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
        dispatch(std::move(batch->jobs));
        if (full) look_now_ = true;  // probably more due: look again as soon as there is room
        continue;
      }
    }
    // stop() may have come while this pass waited on the database (writing schedules, renewing
    // leases): its cancel found no wait to cancel, so do not start one now.
    if (stopping_) break;
    wake_.expires_after(wait_time());
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  loop_active_ = false;
  if (drained()) idle_.cancel();
}

std::chrono::steady_clock::duration Engine::wait_time() const {
  using namespace std::chrono;
  const auto steady_now = steady_clock::now();
  steady_clock::duration wait = options_.poll_interval;
  if (!running_.empty()) wait = std::min(wait, std::max<steady_clock::duration>(next_heartbeat_ - steady_now, milliseconds(1)));
  const int capacity = std::max(1, options_.concurrency);
  const bool room = static_cast<int>(running_.size()) - running_batched_ <= capacity ||
                    (!batched_kinds_.empty() && running_batched_ <= capacity * max_batch_);
  if (pause_until_ > steady_now) return std::min(wait, pause_until_ - steady_now);
  // Without a free slot only a finished job (which cancels the timer) or a heartbeat matters.
  if (!room) return wait;
  wait = std::min(wait, std::max<steady_clock::duration>(last_look_ + options_.poll_interval - steady_now, milliseconds(1)));
  if (next_due_) wait = std::min(wait, until(*next_due_, clock_.now()));
  return wait;
}

void Engine::dispatch(std::vector<ClaimedJob> jobs) {
  const int capacity = std::max(1, options_.concurrency);
  std::map<std::string, std::vector<ClaimedJob>> by_kind;
  for (auto& job : jobs) {
    running_.insert(job.id);
    count(job.kind, &KindCounters::claimed);
    if (job.lease_expired) {
      count(job.kind, &KindCounters::lease_expiries);
      log::warn("job taken over after its lease ran out", {{"job", static_cast<long long>(job.id)}, {"kind", job.kind},
                                                          {"attempt", static_cast<long long>(job.attempts)}});
    }
    if (batched(job.kind)) {
      ++running_batched_;
      by_kind[job.kind].push_back(std::move(job));
    } else {
      start_chunk({std::move(job)});
    }
  }
  // Batches as large as the kind allows, but spread over every worker when there are few.
  for (auto& [kind, group] : by_kind) {
    const auto limit = static_cast<std::size_t>(kinds_.at(kind).batch);
    const std::size_t per_worker = (group.size() + capacity - 1) / capacity;
    const std::size_t size = std::max<std::size_t>(1, std::min(limit, per_worker));
    for (std::size_t i = 0; i < group.size(); i += size) {
      const auto end = std::min(group.size(), i + size);
      start_chunk(std::vector<ClaimedJob>(std::make_move_iterator(group.begin() + static_cast<std::ptrdiff_t>(i)),
                                          std::make_move_iterator(group.begin() + static_cast<std::ptrdiff_t>(end))));
    }
  }
}

void Engine::start_chunk(std::vector<ClaimedJob> chunk) {
  asio::post(workers_, [this, chunk = std::move(chunk)] {
    std::vector<Result> results = stop_requested_ ? std::vector<Result>(chunk.size(), Result::released) : execute_chunk(chunk);
    std::vector<std::pair<std::int64_t, std::string>> jobs;
    for (const auto& job : chunk) jobs.emplace_back(job.id, job.kind);
    asio::post(loop_, [this, jobs = std::move(jobs), results = std::move(results)] {
      for (std::size_t i = 0; i < jobs.size(); ++i) job_finished(jobs[i].first, jobs[i].second, results[i]);
    });
  });
}

std::vector<Engine::Result> Engine::execute_chunk(const std::vector<ClaimedJob>& chunk) {
  std::vector<Result> results;
  const auto one_by_one = [&] {
    results.clear();
    for (const auto& job : chunk) results.push_back(execute(job));
    return results;
  };
  if (chunk.size() == 1) return one_by_one();
  const KindSpec& spec = kinds_.at(chunk.front().kind);
  const auto now = clock_.now();
  // Anything out of the ordinary (a last attempt after a crash, a stale job) runs alone.
  for (const auto& job : chunk)
    if (job.attempts > spec.max_attempts || job.payload.contains("schedule") ||
        (spec.misfire == Misfire::skip_when_stale && spec.stale_after.count() > 0 && now - job.due_at > spec.stale_after))
      return one_by_one();
  try {
    const auto finished = database_.transact([&](pqxx::work& tx) {
      std::vector<Finished> done;
      for (const auto& job : chunk) {
        JobRun run{tx, job, now};
        const Outcome outcome = spec.run(run);
        done.push_back({job.id, outcome.kind == Outcome::Kind::skipped, outcome.note});
      }
      if (!finish_all(tx, done, options_.owner, now)) throw LeaseLost();
      return done;
    });
    for (const auto& job : chunk) record_lag(job, now);
    for (const auto& f : finished) results.push_back(f.skipped ? Result::skipped : Result::done);
    return results;
  } catch (const std::exception& e) {
    // Rolled back as a whole: each job runs again on its own, so that a failure, a retry or
    // a lost lease is one job's and not its neighbours'.
    log::debug("batch rolled back; running its jobs one by one",
               {{"kind", chunk.front().kind}, {"jobs", static_cast<unsigned long>(chunk.size())}, {"error", std::string(e.what())}});
    return one_by_one();
  }
}

void Engine::record_lag(const ClaimedJob& job, calendar::Instant now) {
  const double lag = std::chrono::duration<double>(now - job.due_at).count();
  std::lock_guard lock(stats_mutex_);
  const auto bucket = std::lower_bound(kLagBounds.begin(), kLagBounds.end(), lag);
  for (auto i = static_cast<std::size_t>(bucket - kLagBounds.begin()); i < kLagBounds.size(); ++i) ++stats_.lag_buckets[i];
  ++stats_.lag_count;
  stats_.lag_sum += std::max(0.0, lag);
}

void Engine::job_finished(std::int64_t id, const std::string& kind, Result result) {
  running_.erase(id);
  if (batched(kind)) --running_batched_;
  switch (result) {
    case Result::done: count(kind, &KindCounters::succeeded); break;
    case Result::skipped: count(kind, &KindCounters::skipped); break;
    case Result::lease_lost: count(kind, &KindCounters::lease_lost); break;
    case Result::failed: count(kind, &KindCounters::failed); break;
    case Result::dead:
      count(kind, &KindCounters::failed);
      count(kind, &KindCounters::dead);
      break;
    case Result::released: not_started_.push_back(id); break;
  }
  if (stopping_) {
    if (drained()) idle_.cancel();
  } else {
    // A slot is free: the loop decides whether to claim (a full claim left look_now_ set). A
    // retry or a recurring job's next run moved a due time, which NOTIFYs every instance;
    // without LISTEN the fallback poll finds it.
    wake_.cancel();
  }
}

Engine::Result Engine::execute(const ClaimedJob& job) {
  const auto now = clock_.now();
  record_lag(job, now);
  const auto found = kinds_.find(job.kind);
  if (found == kinds_.end()) return give_up_or_retry(job, nullptr, now, "no handler for job kind '" + job.kind + "'");
  const KindSpec& spec = found->second;
  if (job.attempts > spec.max_attempts)
    return give_up_or_retry(job, &spec, now,
                            "an instance stopped renewing its lease on the last attempt (crashed or frozen)");
  std::optional<Schedule> schedule;
  if (const auto* s = job.payload.if_contains("schedule")) schedule = schedule_from_json(*s);
  try {
    const bool skipped = database_.transact([&](pqxx::work& tx) {
      Outcome outcome;
      if (spec.misfire == Misfire::skip_when_stale && spec.stale_after.count() > 0 && now - job.due_at > spec.stale_after) {
        outcome = Outcome::skipped("stale: due at " + calendar::format_rfc3339_utc(job.due_at));
      } else {
        JobRun run{tx, job, now};
        outcome = spec.run(run);
      }
      std::optional<calendar::Instant> next;
      if (schedule) next = next_run_after(*schedule, spec.misfire == Misfire::run_late ? job.due_at : std::max(now, job.due_at));
      if (!finish(tx, job.id, options_.owner, now, outcome.kind == Outcome::Kind::skipped, outcome.note, next))
        throw LeaseLost();
      return outcome.kind == Outcome::Kind::skipped;
    });
    log::debug(skipped ? "job skipped" : "job done", {{"job", static_cast<long long>(job.id)}, {"kind", job.kind}});
    return skipped ? Result::skipped : Result::done;
  } catch (const LeaseLost&) {
    log::warn("job finished after its lease was taken over; its effects were rolled back",
              {{"job", static_cast<long long>(job.id)}, {"kind", job.kind}});
    return Result::lease_lost;
  } catch (const std::exception& e) {
    return give_up_or_retry(job, &spec, now, e.what());
  }
}

Engine::Result Engine::give_up_or_retry(const ClaimedJob& job, const KindSpec* spec, calendar::Instant now,
                                        const std::string& error) {
  const int max_attempts = spec ? spec->max_attempts : 1;
  std::optional<calendar::Instant> retry_at;
  bool recurring_next = false;
  if (job.attempts < max_attempts) {
    const auto delay = options_.retry_backoff.equal_jitter(job.attempts, store::unit_random());
    retry_at = now + std::chrono::duration_cast<std::chrono::microseconds>(delay);
  } else if (const auto* s = job.payload.if_contains("schedule")) {
    // A recurring job is never dead for good: this run is given up, the next one is planned.
    if (const auto schedule = schedule_from_json(*s)) {
      retry_at = next_run_after(*schedule, std::max(now, job.due_at));
      recurring_next = retry_at.has_value();
    }
  }
  const bool gives_up = !retry_at || recurring_next;
  (gives_up ? log::error : log::warn)(gives_up ? "job failed for the last time" : "job failed; will retry",
                                      {{"job", static_cast<long long>(job.id)},
                                       {"kind", job.kind},
                                       {"attempt", static_cast<long long>(job.attempts)},
                                       {"max_attempts", static_cast<long long>(max_attempts)},
                                       {"error", error}});
  try {
    const std::string recorded = recurring_next ? "gave up on the run due at " + calendar::format_rfc3339_utc(job.due_at) +
                                                      " after " + std::to_string(job.attempts) + " attempts: " + error
                                                : error;
    const bool owned = database_.transact([&](pqxx::work& tx) {
      return recurring_next ? finish(tx, job.id, options_.owner, now, false, recorded, retry_at)
                            : fail(tx, job.id, options_.owner, now, recorded, retry_at);
    });
    if (!owned) return Result::lease_lost;
  } catch (const std::exception& e) {
    // The database is unreachable: the lease runs out and another attempt follows.
    log::warn("job failure not recorded", {{"job", static_cast<long long>(job.id)}, {"error", std::string(e.what())}});
    return Result::failed;
  }
  return gives_up ? Result::dead : Result::failed;
}

asio::awaitable<void> Engine::stop(std::chrono::milliseconds deadline) {
  stopping_ = true;
  wake_.cancel();
  stop_requested_ = true;  // jobs not started yet are handed back, not run
  if (!drained()) {
    idle_.expires_after(deadline);
    co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  std::vector<std::int64_t> ids = not_started_;
  ids.insert(ids.end(), running_.begin(), running_.end());
  if (!running_.empty())
    log::warn("jobs still running at the shutdown deadline; their leases are given back",
              {{"jobs", static_cast<unsigned long>(running_.size())}});
  if (ids.empty()) co_return;
  std::size_t released = 0;
  const auto give_back = [this, ids] {
    return database_.transact([&](pqxx::work& tx) {
      commit_without_flush_wait(tx);
      return release(tx, options_.owner, ids, clock_.now());
    });
  };
  try {
    released = co_await offload<std::size_t>(control_, give_back);
  } catch (const std::exception& e) {
    log::warn("job leases not given back; they run out by themselves", {{"error", std::string(e.what())}});
  }
  log::info("job leases given back", {{"jobs", static_cast<unsigned long>(released)}});
}

void Engine::count(const std::string& kind, std::uint64_t KindCounters::*field) {
  std::lock_guard lock(stats_mutex_);
  ++(stats_.kinds[kind].*field);
}

EngineStats Engine::stats() const {
  std::lock_guard lock(stats_mutex_);
  EngineStats copy = stats_;
  copy.running = 0;
  return copy;
}

}  // namespace convene::jobs
