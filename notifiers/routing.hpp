#pragma once
// Pure preference routing (DESIGN §4): what a member's delivery mode means for an event.
#include <optional>
#include <string_view>

namespace convene::notifiers {

enum class DeliveryMode { realtime, daily, weekly, none };

std::optional<DeliveryMode> parse_delivery_mode(std::string_view text);
std::string_view to_string(DeliveryMode mode);

// Merging communities keeps each member's strongest preference: realtime > daily > weekly > none.
DeliveryMode strongest(DeliveryMode a, DeliveryMode b);

enum class EmailRoute {
  send_now,      // a real-time email is queued at once
  next_digest,   // the member's next daily/weekly digest carries it
  none,          // no email at all
};

// Reminders are not digest material: they go to every member whose membership is not `none`.
EmailRoute route_event_email(DeliveryMode mode);
EmailRoute route_reminder_email(DeliveryMode mode);

}  // namespace convene::notifiers
