#pragma once
// The job families standard_kinds() assembles, one file each.
#include "jobs/kind.hpp"
#include "jobs/kinds/kinds.hpp"

#include <vector>

namespace convene::jobs {

KindSpec fanout_kind(const KindSettings& settings);                  // fanout.cpp
std::vector<KindSpec> reminder_kinds(const KindSettings& settings);  // reminders.cpp
std::vector<KindSpec> annual_kinds(const KindSettings& settings);    // annual.cpp
KindSpec review_kind(const KindSettings& settings);                  // review.cpp
std::vector<KindSpec> topic_kinds(const KindSettings& settings);     // topics.cpp
std::vector<KindSpec> role_kinds(const KindSettings& settings);      // roles.cpp
KindSpec noop_kind();                                                // noop.cpp
KindSpec booking_kind(const KindSettings& settings);                 // bookings.cpp
std::vector<KindSpec> digest_kinds(const KindSettings& settings);   // digests.cpp

// Makes sure `reminders.plan` runs for the meeting soon (its times, status or audience
// changed), whether its job is new, pending or already finished. reminders.cpp.
void plan_reminders_soon(pqxx::work& tx, std::int64_t meeting_id, calendar::Instant now);

}  // namespace convene::jobs
