#pragma once
// The calendar attachment of a meeting email (DESIGN §4): the event of a meeting.* or
// annual_meeting.scheduled payload as a VCALENDAR with METHOD:PUBLISH and an ORGANIZER, so
// mail clients offer "add to calendar". Pure.
#include "calendar/clock.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace convene::jobs {

// nullopt for other kinds, or when the payload lacks the meeting's uid, times or zone.
std::optional<std::string> meeting_attachment(std::string_view event_kind, const boost::json::object& payload,
                                              const std::string& organizer_email, calendar::Instant now);

}  // namespace convene::jobs
