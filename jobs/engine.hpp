#pragma once
// The durable job engine (DESIGN §3, §7). Jobs live in PostgreSQL; any number of instances
// claim due jobs in batches with FOR UPDATE SKIP LOCKED, each claim a lease renewed by a
// heartbeat while the job runs; a lease that runs out (a crashed or frozen instance) makes the
// job claimable again. The event loop only decides *when* to look: a steady_timer set to the
// earliest due job, woken early by nudge() (LISTEN convene_jobs, a local insert), with a slow
// fallback poll. Claims, heartbeats and job handlers run on the engine's own threads.
#include "calendar/clock.hpp"
#include "jobs/kind.hpp"
#include "store/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace convene::jobs {

struct EngineOptions {
  std::string owner;                               // unique per instance: host:pid:random
  int concurrency = 4;                             // jobs running at once on this instance
  std::chrono::milliseconds lease{60000};          // renewed every lease/3 while a job runs
  std::chrono::milliseconds poll_interval{30000};  // fallback when a NOTIFY was missed
  store::Backoff retry_backoff{std::chrono::seconds(10), std::chrono::hours(1)};
};

// Counters by kind, for /metrics.
struct KindCounters {
  std::uint64_t claimed = 0, succeeded = 0, skipped = 0, failed = 0, dead = 0, lease_expiries = 0, lease_lost = 0;
};
struct EngineStats {
  std::map<std::string, KindCounters> kinds;
  std::vector<double> lag_bucket_bounds;    // seconds; from due time to start
  std::vector<std::uint64_t> lag_buckets;   // cumulative counts per bound
  std::uint64_t lag_count = 0;
  double lag_sum = 0;
  int running = 0;
};

// A unique owner name for this process: "host:pid:random".
std::string default_owner();

class Engine {
 public:
  Engine(boost::asio::any_io_executor loop, store::Database& database, const calendar::Clock& clock,
         EngineOptions options, std::vector<KindSpec> kinds);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Writes the rows of the recurring kinds (their next run), then claims and runs due jobs
  // until stop(). Runs on the loop.
  boost::asio::awaitable<void> run();

  // Look for due jobs now (a NOTIFY arrived, a job was inserted, the test clock moved).
  // Thread-safe.
  void nudge();

  // Stops claiming, lets running jobs finish within `deadline`, then gives the leases of the
  // rest back so another instance takes them at once. Runs on the loop.
  boost::asio::awaitable<void> stop(std::chrono::milliseconds deadline);

  EngineStats stats() const;
  // After stop(): a job is still running past the deadline (its lease was given back).
  bool busy() const { return !running_.empty(); }
  const EngineOptions& options() const { return options_; }

 private:
  struct Batch {
    std::vector<ClaimedJob> jobs;
    std::optional<calendar::Instant> next_due;
    bool more = false;  // a claim took all it asked for: more may be due
  };
  enum class Result { done, skipped, lease_lost, failed, dead, released };

  void write_schedules();
  Batch claim_batch(int limit, int batched_limit);
  void dispatch(std::vector<ClaimedJob> jobs);
  void start_chunk(std::vector<ClaimedJob> chunk);
  std::vector<Result> execute_chunk(const std::vector<ClaimedJob>& chunk);
  Result execute(const ClaimedJob& job);
  void record_lag(const ClaimedJob& job, calendar::Instant now);
  bool batched(const std::string& kind) const;
  Result give_up_or_retry(const ClaimedJob& job, const KindSpec* spec, calendar::Instant now, const std::string& error);
  void job_finished(std::int64_t id, const std::string& kind, Result result);
  std::chrono::steady_clock::duration wait_time() const;
  bool drained() const { return !loop_active_ && running_.empty(); }
  void count(const std::string& kind, std::uint64_t KindCounters::*field);

  boost::asio::any_io_executor loop_;
  store::Database& database_;
  const calendar::Clock& clock_;
  const EngineOptions options_;
  std::map<std::string, KindSpec> kinds_;
  std::vector<std::string> batched_kinds_;  // kinds with batch > 1
  int max_batch_ = 1;
  boost::asio::thread_pool control_{1};  // claims, heartbeats, releases: never behind a slow job
  boost::asio::thread_pool workers_;     // job handlers, `concurrency` threads
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer idle_;       // stop() waits on it until drained
  std::atomic<bool> stop_requested_{false};
  // Loop-thread state.
  bool stopping_ = false;
  bool loop_active_ = false;
  bool look_now_ = true;  // set by nudge(); the first pass always looks
  std::chrono::steady_clock::time_point pause_until_{};  // after a failed or empty claim
  std::chrono::steady_clock::time_point next_heartbeat_{};
  std::chrono::steady_clock::time_point last_look_{};
  std::optional<calendar::Instant> next_due_;
  std::set<std::int64_t> running_;          // claimed ids whose leases this instance holds
  int running_batched_ = 0;                 // how many of them are of batched kinds
  std::vector<std::int64_t> not_started_;   // handed back at stop()
  // Written by workers, read by /metrics.
  mutable std::mutex stats_mutex_;
  EngineStats stats_;
};

}  // namespace convene::jobs
