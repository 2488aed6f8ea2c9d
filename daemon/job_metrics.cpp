#include "daemon/job_metrics.hpp"

namespace convene::daemon {
namespace {

std::string kind_label(const std::string& kind) { return "kind=\"" + label_value(kind) + "\""; }

void by_kind(PrometheusText& out, const jobs::EngineStats& stats, const std::string& name, const std::string& help,
             std::uint64_t jobs::KindCounters::*field) {
  for (const auto& [kind, counters] : stats.kinds)
    out.counter(name, help, static_cast<double>(counters.*field), kind_label(kind));
}

}  // namespace

void render_job_metrics(PrometheusText& out, const jobs::EngineStats& stats,
                        const std::map<std::string, std::int64_t>& due_by_kind) {
  for (const auto& [kind, due] : due_by_kind)
    out.gauge("convene_jobs_due", "Pending jobs whose due time has passed (every instance).", static_cast<double>(due),
              kind_label(kind));
  by_kind(out, stats, "convene_jobs_claimed_total", "Jobs claimed by this instance.", &jobs::KindCounters::claimed);
  by_kind(out, stats, "convene_jobs_succeeded_total", "Jobs that ran to completion.", &jobs::KindCounters::succeeded);
  by_kind(out, stats, "convene_jobs_skipped_total", "Jobs skipped by their misfire policy or handler.",
          &jobs::KindCounters::skipped);
  by_kind(out, stats, "convene_jobs_failed_total", "Failed job attempts (retried or dead).", &jobs::KindCounters::failed);
  by_kind(out, stats, "convene_jobs_dead_total", "Jobs that failed their last attempt.", &jobs::KindCounters::dead);
  by_kind(out, stats, "convene_jobs_lease_expiries_total",
          "Jobs taken over after another instance's lease ran out.", &jobs::KindCounters::lease_expiries);
  by_kind(out, stats, "convene_jobs_lease_lost_total",
          "Runs rolled back because another instance had taken the job over.", &jobs::KindCounters::lease_lost);
  out.histogram("convene_job_lag_seconds", "Delay from a job's due time to its start.", stats.lag_bucket_bounds,
                stats.lag_buckets, stats.lag_count, stats.lag_sum);
}

}  // namespace convene::daemon
