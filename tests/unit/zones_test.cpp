#include "calendar/zones.hpp"

#include <gtest/gtest.h>

#include <algorithm>

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

TEST(Zones, ListsTheKnownZonesSortedForAPicker) {
  const auto& names = convene::calendar::zone_names();
  EXPECT_GT(names.size(), 300u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* zone : {"UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Pacific/Kiritimati"})
    EXPECT_TRUE(std::binary_search(names.begin(), names.end(), std::string(zone))) << zone;
  for (const auto& name : names) EXPECT_TRUE(is_known_zone(name)) << name;
}
