// `noop` (payload {"sleep_ms": n}, optional, 0..600000): sleeps, then is done. For benchmarks
// and tests of the engine itself (leases, heartbeats, concurrency).
#include "jobs/kinds/families.hpp"

#include <stdexcept>
#include <thread>

namespace convene::jobs {
namespace {

constexpr std::int64_t kMaxSleepMs = 600000;

std::chrono::milliseconds sleep_time(const boost::json::object& payload) {
  const auto* value = payload.if_contains("sleep_ms");
  if (value == nullptr) return std::chrono::milliseconds(0);
  const bool in_range = (value->is_int64() && value->get_int64() >= 0 && value->get_int64() <= kMaxSleepMs) ||
                        (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(kMaxSleepMs));
  if (!in_range) throw std::invalid_argument("sleep_ms must be a whole number of milliseconds from 0 to 600000");
  return std::chrono::milliseconds(value->to_number<std::int64_t>());
}

}  // namespace

KindSpec noop_kind() {
  return KindSpec{.kind = "noop",
                  .run = [](JobRun& run) {
                    std::this_thread::sleep_for(sleep_time(run.job.payload));
                    return Outcome::done();
                  },
                  .max_attempts = 5,
                  .misfire = Misfire::run_late,
                  .batch = 32};
}

}  // namespace convene::jobs
