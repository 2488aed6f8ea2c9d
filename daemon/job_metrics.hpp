#pragma once
// The job engine's Prometheus metrics: jobs due, claimed, succeeded, failed, dead by kind,
// lag from due time to start, lease expiries.
#include "daemon/metrics.hpp"
#include "jobs/engine.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace convene::daemon {

// `due_by_kind`: pending jobs whose due time has passed, from the database (all instances).
void render_job_metrics(PrometheusText& out, const jobs::EngineStats& stats,
                        const std::map<std::string, std::int64_t>& due_by_kind);

}  // namespace convene::daemon
