#include "notifiers/routing.hpp"

namespace convene::notifiers {

std::optional<DeliveryMode> parse_delivery_mode(std::string_view text) {
  if (text == "realtime") return DeliveryMode::realtime;
  if (text == "daily") return DeliveryMode::daily;
  if (text == "weekly") return DeliveryMode::weekly;
  if (text == "none") return DeliveryMode::none;
  return std::nullopt;
}

std::string_view to_string(DeliveryMode mode) {
  switch (mode) {
    case DeliveryMode::realtime: return "realtime";
    case DeliveryMode::daily: return "daily";
    case DeliveryMode::weekly: return "weekly";
    case DeliveryMode::none: return "none";
  }
  return "none";
}

namespace {
int strength(DeliveryMode mode) {
  switch (mode) {
    case DeliveryMode::realtime: return 3;
    case DeliveryMode::daily: return 2;
    case DeliveryMode::weekly: return 1;
    case DeliveryMode::none: return 0;
  }
  return 0;
}
}  // namespace

DeliveryMode strongest(DeliveryMode a, DeliveryMode b) { return strength(a) >= strength(b) ? a : b; }

EmailRoute route_event_email(DeliveryMode mode) {
  switch (mode) {
    case DeliveryMode::realtime: return EmailRoute::send_now;
    case DeliveryMode::daily:
    case DeliveryMode::weekly: return EmailRoute::next_digest;
    case DeliveryMode::none: return EmailRoute::none;
  }
  return EmailRoute::none;
}

EmailRoute route_reminder_email(DeliveryMode mode) {
  return mode == DeliveryMode::none ? EmailRoute::none : EmailRoute::send_now;
}

}  // namespace convene::notifiers
