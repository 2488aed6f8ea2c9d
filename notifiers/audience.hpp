#pragma once
// Pure audience rules (DESIGN §4): who is told about each outbox event kind by email.
// Fan-out (jobs/kinds/fanout.cpp) turns the audience into recipients from the database.
#include <optional>
#include <string_view>

namespace convene::notifiers {

enum class Audience {
  community_members,      // members of the event's community, routed by their delivery mode
  reminder_members,       // members not on `none` whose reminder offsets include the event's offset
  subject_member,         // the member the event is about (payload member_id)
  subject_and_committee,  // that member and everyone holding the global committee role today
  committee,              // everyone holding the global committee role today
  monitors,               // the community's discussion monitors today
  none,                   // no email (member.joined/left are webhook-only event types)
};

// nullopt for a kind that is not an event kind of DESIGN §4.
std::optional<Audience> audience_of(std::string_view event_kind);

// Events after which a meeting's reminders must be planned again (its times or status changed).
bool replans_reminders(std::string_view event_kind);

}  // namespace convene::notifiers
