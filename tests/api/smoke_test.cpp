// The basic flows a new user goes through, over real HTTP.
#include "support/api_fixture.hpp"

using convene::testing::ApiTest;

class Smoke : public ApiTest {};

TEST_F(Smoke, AnonymousRequestsAreUnauthorized) {
  const auto r = get("/v1/me", "");
  EXPECT_EQ(r.status, 401) << r.describe();
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(get("/v1/me", "cvn_not-a-real-token-at-all").status, 401);
}

TEST_F(Smoke, AdminSeesThemselves) {
  const auto r = get("/v1/me", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("email").as_string(), "admin@example.org");
  EXPECT_EQ(r.json.at("global_roles").as_array().size(), 1u);
}

TEST_F(Smoke, AnEmptyDirectoryHasTotalZero) {
  const auto r = get("/v1/communities", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 0);
  EXPECT_TRUE(r.json.at("items").as_array().empty());
}
