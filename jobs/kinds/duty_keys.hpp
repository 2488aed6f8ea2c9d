#pragma once
// The unique keys of the duty reminders (kinds/roles.cpp, kinds/topics.cpp), shared with "what
// will they receive" (upcoming_duties.cpp), which looks them up to tell a reminder already
// planned or sent from one still to come.
#include "calendar/clock.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace convene::jobs {

// role.ending: one per role and end date ("YYYY-MM-DD").
inline std::string role_ending_key(std::int64_t role_id, std::string_view ends_on) {
  return "role:" + std::to_string(role_id) + ":" + std::string(ends_on);
}

// topic.overdue is named by the end of the latest cadence period missed at `t` since `since`
// (the last topic, or the community's start): a check running twice adds nothing, and each
// further period without a topic earns one more.
inline calendar::Instant overdue_period_end(calendar::Instant since, std::chrono::seconds cadence, calendar::Instant t) {
  return since + ((t - since) / cadence) * cadence;
}
inline std::string topic_overdue_key(std::int64_t community_id, calendar::Instant period_end) {
  return "community:" + std::to_string(community_id) + ":" +
         std::to_string(std::chrono::floor<std::chrono::seconds>(period_end).time_since_epoch().count());
}

}  // namespace convene::jobs
