#pragma once
// What a job kind is to the engine: a name, a handler, a retry limit and a misfire policy.
// Handlers run on the engine's worker threads, inside the transaction that also marks the job
// done, so their database effects and the job's completion commit together or not at all.
#include "calendar/clock.hpp"
#include "jobs/queue.hpp"
#include "jobs/schedule.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace convene::jobs {

// What to do with a job found due long after its time (the daemon was down, or busy).
enum class Misfire {
  run_late,         // run it now; a recurring job then runs once per missed period
  coalesce,         // run it once now; a recurring job skips to its first run after now
  skip_when_stale,  // later than `stale_after`: record it as skipped and do not run it
};

// A handler's verdict. Failures are exceptions: the engine retries them with backoff.
struct Outcome {
  enum class Kind { done, skipped } kind = Kind::done;
  std::string note;  // why it was skipped; kept in last_error for admins

  static Outcome done() { return {}; }
  static Outcome skipped(std::string why) { return {Kind::skipped, std::move(why)}; }
};

// One run of a job.
struct JobRun {
  pqxx::work& tx;            // commits with the job's completion
  const ClaimedJob& job;
  calendar::Instant now;     // the engine's clock when the run started
};

struct KindSpec {
  std::string kind;
  std::function<Outcome(JobRun&)> run;
  int max_attempts = 5;  // the last failure makes the job dead
  Misfire misfire = Misfire::run_late;
  std::chrono::seconds stale_after{0};  // for skip_when_stale
  // Runs of a recurring job of this kind follow this schedule (enqueued by the engine at start).
  std::optional<Schedule> schedule;
  // Up to this many due jobs of the kind run in one transaction, their effects and
  // completions committed together: for short handlers, where a commit per job would cost
  // more than the work. If any of them fails, the transaction rolls back and each runs
  // again on its own, so a failure is still one job's. Not for recurring kinds.
  int batch = 1;
};

}  // namespace convene::jobs
