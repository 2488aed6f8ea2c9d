#include "calendar/zones.hpp"

#include <gtest/gtest.h>

using convene::calendar::is_known_zone;

TEST(Zones, KnowsIanaZonesOfTheSystemDatabase) {
  for (const char* zone : {"UTC", "Europe/London", "America/New_York", "America/Chicago", "Australia/Lord_Howe",
                           "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Argentina/Buenos_Aires"})
    EXPECT_TRUE(is_known_zone(zone)) << zone;
}

TEST(Zones, RejectsUnknownAndMalformedNames) {
  for (const char* zone : {"", "Mars/Olympus", "Europe/Londonx", "europe london", "../etc/passwd",
                           "/usr/share/zoneinfo/UTC", "Europe/", "America/New_York\n", "+01:00"})
    EXPECT_FALSE(is_known_zone(zone)) << zone;
  EXPECT_FALSE(is_known_zone(std::string(200, 'A')));
}
