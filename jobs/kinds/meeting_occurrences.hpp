#pragma once
// A meeting series as the jobs see it, and where its occurrences actually are: cancelled ones
// left out, moved ones at their new time (DESIGN §2). The SQL is the minimum the jobs need
// (daemon/api/meeting_model.cpp has the API's fuller version; jobs may not depend on daemon).
#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"
#include "calendar/recurrence.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convene::jobs {

struct OccurrenceChange {
  calendar::Instant recurrence_id;  // the original start
  bool cancelled = false;
  std::optional<calendar::Instant> start, end;  // set when moved
};

struct MeetingSeries {
  std::int64_t id = 0;
  std::string uid;
  std::int64_t community_id = 0;
  std::string community_slug, community_name, community_status;
  std::string kind, title, time_zone, status;
  bool all_day = false;
  calendar::LocalDateTime start_local;
  calendar::Instant start, end;  // the first occurrence
  std::optional<std::string> rrule;
  std::optional<std::string> join_url;  // of the meeting's room
  std::optional<calendar::Instant> cancelled_at;
  std::vector<OccurrenceChange> changes;

  // The TBD annual placeholder: no real time yet, so nothing to remind of or count as held.
  bool is_placeholder() const { return kind == "annual" && status == "tentative"; }
  calendar::Series series() const;  // cancelled occurrences as EXDATEs
};

std::optional<MeetingSeries> load_meeting_series(pqxx::transaction_base& tx, std::int64_t id);

struct ActualOccurrence {
  calendar::Instant recurrence_id;  // original start
  calendar::Instant start, end;     // where it is now
};

// The occurrences whose actual start is in [from, to), in order of start. At most
// kMaxOccurrencesPerQuery of them (DAILY with BYHOUR over two months stays far below).
inline constexpr std::size_t kMaxOccurrencesPerQuery = 5000;
std::vector<ActualOccurrence> occurrences_starting_in(const MeetingSeries& meeting, calendar::Instant from,
                                                      calendar::Instant to);

// The occurrence with this RECURRENCE-ID as it is now; nullopt when it was cancelled or the
// series (perhaps changed since) has no such occurrence.
std::optional<ActualOccurrence> occurrence_now(const MeetingSeries& meeting, calendar::Instant recurrence_id);

}  // namespace convene::jobs
