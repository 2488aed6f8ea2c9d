#pragma once
// The job kinds of a community's year (DESIGN §3, §4) and their settings, all from the
// configuration file.
#include "jobs/kind.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace convene::jobs {

struct KindSettings {
  std::string organisation_time_zone = "UTC";
  std::string uid_domain = "localhost";  // right-hand side of the UIDs of annual placeholders
  // The annual-meeting window rule (calendar/annual.hpp).
  unsigned annual_window_month = 7, annual_window_first_day = 8, annual_window_days = 7;
  // Yearly jobs, in the organisation's zone: month, day, time of day.
  unsigned placeholders_month = 1, placeholders_day = 1;
  std::chrono::minutes placeholders_time{0};
  unsigned tbd_reminder_month = 6, tbd_reminder_day = 1;
  std::chrono::minutes tbd_reminder_time{9 * 60};
  unsigned review_month = 8, review_day = 1;
  std::chrono::minutes review_time{9 * 60};
  // Daily checks (overdue topics, ending roles, reminder planning), organisation time.
  std::chrono::minutes daily_checks_time{8 * 60};
  int role_ending_notice_days = 14;
  int booking_horizon_months = 18;  // rooms are booked this far ahead as time passes
  // Digests (jobs/kinds/digests.cpp): members composed per transaction, and how many batch
  // chains a sweep starts (about the number of cores, across all instances).
  int digest_batch = 250;
  int digest_chains = 2;
};

// Every kind the daemon runs, including `noop` (payload {"sleep_ms": n}, at most 600000), used
// by benchmarks and tests of the engine itself.
std::vector<KindSpec> standard_kinds(const KindSettings& settings);

}  // namespace convene::jobs
