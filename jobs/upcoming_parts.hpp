#pragma once
// The pieces of upcoming_notifications (jobs/upcoming.hpp), one source each.
#include "jobs/upcoming.hpp"

namespace convene::jobs {

struct UpcomingQuery {
  pqxx::transaction_base& tx;
  std::int64_t member_id;
  std::string zone;              // the member's, for summaries
  calendar::Instant from, to;    // from is not before now
  calendar::Instant now;
  const KindSettings& settings;
};

// What the yearly and daily jobs would send the member for their roles: annual_meeting.tbd,
// review.due, role.ending, topic.overdue. upcoming_duties.cpp.
void add_duty_messages(const UpcomingQuery& q, std::vector<UpcomingItem>& out);

}  // namespace convene::jobs
