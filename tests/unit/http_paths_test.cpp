#include "daemon/http_server.hpp"

#include <gtest/gtest.h>

using convene::daemon::redact_path;

TEST(RedactPath, HidesTokensInFeedPreferenceAndUnsubscribePaths) {
  EXPECT_EQ(redact_path("/feeds/members/abcDEF123.ics"), "/feeds/members/***.ics");
  EXPECT_EQ(redact_path("/preferences/abcDEF123"), "/preferences/***");
  EXPECT_EQ(redact_path("/u/abcDEF123"), "/u/***");
}

TEST(RedactPath, DropsQueryStrings) {
  EXPECT_EQ(redact_path("/feeds/rooms/3.ics?token=secret"), "/feeds/rooms/3.ics");
  EXPECT_EQ(redact_path("/feeds/communities/data-science.ics"), "/feeds/communities/data-science.ics");
  EXPECT_EQ(redact_path("/readyz"), "/readyz");
}
