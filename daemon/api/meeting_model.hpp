#pragma once
// A meeting row as the API shows it, and the calendar series it describes.
#include "calendar/recurrence.hpp"
#include "daemon/api/api.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convene::api {

struct MeetingException {
  calendar::Instant recurrence_id;
  bool cancelled = false;
  std::optional<calendar::LocalDateTime> start_local, end_local;
  std::optional<calendar::Instant> start, end;
};

struct Meeting {
  std::int64_t id = 0;
  std::string uid;
  std::int64_t community_id = 0;
  std::string community;  // slug
  std::string community_name;
  std::string community_status;  // active | archived
  std::string kind;
  std::string title;
  std::string description;
  std::string time_zone;
  bool all_day = false;
  calendar::LocalDateTime start_local, end_local;
  calendar::Instant start, end;  // first occurrence
  std::optional<std::string> rrule;
  std::optional<std::int64_t> room_id;
  std::string status;
  int sequence = 0;
  std::optional<int> annual_year;
  std::vector<MeetingException> exceptions;

  calendar::Series series(bool with_cancellations = true) const;
};

std::optional<Meeting> load_meeting(Call& call, std::int64_t id, bool for_update = false);
boost::json::object meeting_json(const Meeting& m);
// What fan-out and delivery need to tell people about the meeting, without reading it again.
boost::json::object meeting_event_payload(const Meeting& m);

}  // namespace convene::api
