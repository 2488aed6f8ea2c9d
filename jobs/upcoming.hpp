#pragma once
// "What will this member receive?" (issue 7): the emails the current schedules, settings and
// preferences would send one member in a period, found without sending or writing anything.
// Shared by GET /v1/members/{id}/upcoming and `convened simulate`. Blocking reads on a
// transaction; "now" is a parameter.
//
// Listed: digests (jobs/digests.hpp), meeting reminders (every occurrence in the member's
// communities not on `none`, at each of their reminder offsets), and what the yearly and daily
// jobs would send them: annual_meeting.tbd and review.due while they are on the committee,
// role.ending for their own roles (and everyone's while on the committee), topic.overdue for
// communities they monitor. Each as if nothing else changed: no topic posted, no date set.
#include "calendar/clock.hpp"
#include "jobs/kinds/kinds.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convene::jobs {

struct UpcomingItem {
  std::string kind;                       // the email's kind: digest.daily, meeting.reminder, ...
  calendar::Instant at;                   // when it would be queued
  std::vector<std::string> communities;   // slugs; empty for a message about no one community
  std::string summary;                    // one line, times in the member's zone
  std::optional<std::int64_t> meeting_id; // reminders
};

struct UpcomingList {
  std::int64_t member_id = 0;
  std::string email;
  std::string time_zone;                  // the member's zone (UTC when theirs is unknown)
  calendar::Instant from, to;             // what was looked at: [max(from, now), to)
  std::vector<UpcomingItem> items;        // in time order
  bool truncated = false;                 // there were more than the limit; the first are listed
};

inline constexpr std::size_t kMaxUpcomingItems = 1000;

// nullopt when there is no such member.
std::optional<UpcomingList> upcoming_notifications(pqxx::transaction_base& tx, std::int64_t member_id,
                                                   calendar::Instant from, calendar::Instant to, calendar::Instant now,
                                                   const KindSettings& settings,
                                                   std::size_t limit = kMaxUpcomingItems);

}  // namespace convene::jobs
