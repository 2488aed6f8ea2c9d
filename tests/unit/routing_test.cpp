#include "notifiers/routing.hpp"

#include <gtest/gtest.h>

using namespace convene::notifiers;

TEST(DeliveryMode, RoundTripsThroughText) {
  for (auto mode : {DeliveryMode::realtime, DeliveryMode::daily, DeliveryMode::weekly, DeliveryMode::none})
    EXPECT_EQ(parse_delivery_mode(to_string(mode)), mode);
  EXPECT_FALSE(parse_delivery_mode("Realtime"));
  EXPECT_FALSE(parse_delivery_mode("hourly"));
  EXPECT_FALSE(parse_delivery_mode(""));
}

TEST(DeliveryMode, MergeKeepsTheStrongestPreference) {
  EXPECT_EQ(strongest(DeliveryMode::weekly, DeliveryMode::realtime), DeliveryMode::realtime);
  EXPECT_EQ(strongest(DeliveryMode::daily, DeliveryMode::weekly), DeliveryMode::daily);
  EXPECT_EQ(strongest(DeliveryMode::none, DeliveryMode::weekly), DeliveryMode::weekly);
  EXPECT_EQ(strongest(DeliveryMode::none, DeliveryMode::none), DeliveryMode::none);
  EXPECT_EQ(strongest(DeliveryMode::realtime, DeliveryMode::daily), DeliveryMode::realtime);
}

TEST(Routing, EventsFollowTheDeliveryMode) {
  EXPECT_EQ(route_event_email(DeliveryMode::realtime), EmailRoute::send_now);
  EXPECT_EQ(route_event_email(DeliveryMode::daily), EmailRoute::next_digest);
  EXPECT_EQ(route_event_email(DeliveryMode::weekly), EmailRoute::next_digest);
  EXPECT_EQ(route_event_email(DeliveryMode::none), EmailRoute::none);
}

TEST(Routing, RemindersReachEveryoneButNone) {
  EXPECT_EQ(route_reminder_email(DeliveryMode::realtime), EmailRoute::send_now);
  EXPECT_EQ(route_reminder_email(DeliveryMode::daily), EmailRoute::send_now);
  EXPECT_EQ(route_reminder_email(DeliveryMode::weekly), EmailRoute::send_now);
  EXPECT_EQ(route_reminder_email(DeliveryMode::none), EmailRoute::none);
}
