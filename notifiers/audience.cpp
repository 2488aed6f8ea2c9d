#include "notifiers/audience.hpp"

#include <array>
#include <utility>

namespace convene::notifiers {
namespace {

constexpr std::array<std::pair<std::string_view, Audience>, 16> kAudiences{{
    {"community.updated", Audience::community_members},
    {"community.split", Audience::community_members},  // the source community's members
    {"community.merged", Audience::community_members},  // the target community's members
    {"member.joined", Audience::none},
    {"member.left", Audience::none},
    {"role.assigned", Audience::subject_member},
    {"role.ending", Audience::subject_and_committee},
    {"meeting.scheduled", Audience::community_members},
    {"meeting.updated", Audience::community_members},
    {"meeting.cancelled", Audience::community_members},
    {"meeting.reminder", Audience::reminder_members},
    {"annual_meeting.scheduled", Audience::community_members},
    {"annual_meeting.tbd", Audience::committee},
    {"topic.posted", Audience::community_members},
    {"topic.overdue", Audience::monitors},
    {"review.due", Audience::committee},
}};

}  // namespace

std::optional<Audience> audience_of(std::string_view event_kind) {
  for (const auto& [kind, audience] : kAudiences)
    if (kind == event_kind) return audience;
  return std::nullopt;
}

bool replans_reminders(std::string_view event_kind) {
  return event_kind == "meeting.scheduled" || event_kind == "meeting.updated" || event_kind == "meeting.cancelled" ||
         event_kind == "annual_meeting.scheduled";
}

}  // namespace convene::notifiers
