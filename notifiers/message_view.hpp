#pragma once
// The data an email template sees (templates.hpp): the event's payload (docs/api.md, "Events
// written by the API" and the job table; fan-out adds community, community_name, member_name,
// event_id, occurred_at) plus fields derived from it for people to read, times in the
// recipient's zone. templates/README.md lists the derived fields. Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace convene::notifiers {

// What a message knows about its recipient and the service.
struct MessageContext {
  std::string member_name;
  std::optional<std::int64_t> member_id;  // the recipient: "your role" or someone else's
  std::string time_zone;                  // IANA; times are shown in it (UTC when unknown)
  std::string public_url;                 // the service's base URL
  std::string preferences_url;            // the member's preferences page (signed token)
  std::string unsubscribe_url;            // one-click unsubscribe from this community (may be empty)
};

// The payload with URLs that are not http(s) removed, and the derived fields added.
boost::json::object message_view(std::string_view event_kind, const boost::json::object& payload,
                                 const MessageContext& context);

// The derived fields of a meeting (when, when_in_meeting_zone, kind_label, is_deadline,
// repeats, whole_series, occurrence_*) added to `view` from `meeting` (a payload or a
// digest's meeting item), times in `zone` (which must be usable); when_in_meeting_zone only if
// `show_meeting_zone`.
void add_meeting_fields(boost::json::object& view, const boost::json::object& meeting, const std::string& zone,
                        bool show_meeting_zone = true);

// Only an http(s) URL of printable ASCII without spaces, quotes or angle brackets (so it is
// safe in an href and a text body); nullopt otherwise.
std::optional<std::string> safe_url(std::string_view url);

// "every week on Monday", "every 2 months on the second Tuesday, 10 times": an RRULE value for
// people; "on a repeating schedule" for one it cannot say in words.
std::string rrule_text(std::string_view rrule);

}  // namespace convene::notifiers
