// Webhook endpoints: members' own and communities' (their coordinators'); secrets shown once.
#include "support/api_fixture.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

using convene::testing::ApiTest;
namespace json = boost::json;

class Webhooks : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    make_community("data-science", "Data Science");
    make_community("gardening", "Gardening");
    member = make_member("ada@example.org");
    member_token = token_for(member);
    other = make_member("bob@example.org");
    coordinator = make_member("coord@example.org");
    grant(coordinator, "data-science", "meeting_coordinator");
    coordinator_token = token_for(coordinator);
  }
  std::string path(std::int64_t member_id) { return "/v1/members/" + std::to_string(member_id) + "/webhooks"; }

  std::int64_t member = 0, other = 0, coordinator = 0;
  std::string member_token, coordinator_token;
};

TEST_F(Webhooks, AMemberMakesAnEndpointAndSeesItsSecretOnce) {
  const auto r = post(path(member), member_token,
                      json::serialize(json::object{{"url", "https://hooks.example.org/convene"},
                                                   {"event_types", json::array{"meeting.scheduled", "topic.posted"}},
                                                   {"communities", json::array{"data-science"}}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  const auto secret = std::string(r.json.at("secret").as_string());
  EXPECT_EQ(secret.rfind("whsec_", 0), 0u);
  EXPECT_GE(secret.size(), 6u + 40u);
  EXPECT_EQ(r.json.at("communities").as_array().at(0).as_string(), "data-science");
  EXPECT_EQ(r.json.at("status").as_string(), "active");

  const auto list = get(path(member), member_token);
  ASSERT_EQ(list.status, 200) << list.describe();
  EXPECT_EQ(list.json.at("items").as_array().size(), 1u);
  EXPECT_EQ(list.body.find(secret), std::string::npos) << "the secret is never shown again";
}

TEST_F(Webhooks, BadValuesAreRefusedAndNothingIsMade) {
  for (const auto& body : {json::object{{"url", "ftp://hooks.example.org/"}},
                           json::object{{"url", "https://h.example.org/"}, {"event_types", json::array{"member.exploded"}}},
                           json::object{{"url", "https://h.example.org/"}, {"communities", json::array{"no-such"}}},
                           json::object{{"url", "https://h.example.org/\r\nX-Evil: 1"}}}) {
    const auto r = post(path(member), member_token, json::serialize(body));
    EXPECT_EQ(r.status, 422) << json::serialize(body) << " " << r.describe();
  }
  EXPECT_EQ(count("SELECT count(*) FROM webhook_endpoints"), 0);
}

TEST_F(Webhooks, OnlyTheMemberOrAnAdminManagesAMembersEndpoints) {
  const auto body = json::serialize(json::object{{"url", "https://hooks.example.org/a"}});
  EXPECT_EQ(post(path(other), member_token, body).status, 403);
  EXPECT_EQ(get(path(other), member_token).status, 403);
  const auto made = post(path(member), member_token, body);
  ASSERT_EQ(made.status, 201);
  const auto id = std::to_string(made.json.at("id").as_int64());
  EXPECT_EQ(request("DELETE", "/v1/webhooks/" + id, token_for(other)).status, 403);
  EXPECT_EQ(request("DELETE", "/v1/webhooks/" + id, admin_token).status, 204);
  EXPECT_EQ(count("SELECT count(*) FROM webhook_endpoints"), 0);
  EXPECT_EQ(request("DELETE", "/v1/webhooks/" + id, admin_token).status, 404);
}

TEST_F(Webhooks, ACommunitysCoordinatorsManageItsEndpoints) {
  const auto body = json::serialize(json::object{{"url", "https://chat.example.org/hook"}, {"event_types", json::array{"meeting.cancelled"}}});
  EXPECT_EQ(post("/v1/communities/data-science/webhooks", member_token, body).status, 403);
  EXPECT_EQ(post("/v1/communities/gardening/webhooks", coordinator_token, body).status, 403) << "not their community";
  const auto r = post("/v1/communities/data-science/webhooks", coordinator_token, body);
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("community").as_string(), "data-science");
  EXPECT_EQ(get("/v1/communities/data-science/webhooks", coordinator_token).json.at("items").as_array().size(), 1u);
  EXPECT_EQ(get("/v1/communities/data-science/webhooks", member_token).status, 403);
}

TEST_F(Webhooks, RotationKeepsThePreviousSecretForADay) {
  const auto made = post(path(member), member_token, json::serialize(json::object{{"url", "https://hooks.example.org/a"}}));
  ASSERT_EQ(made.status, 201);
  const auto id = std::to_string(made.json.at("id").as_int64());
  const auto first = std::string(made.json.at("secret").as_string());
  const auto r = post("/v1/webhooks/" + id + "/rotate-secret", member_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_NE(r.json.at("secret").as_string(), first);
  EXPECT_EQ(r.json.at("previous_secret_expires_at").as_string(), "2026-11-29T12:00:00Z");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_endpoints WHERE previous_secret = '" + first + "'"), 1);
  EXPECT_EQ(post("/v1/webhooks/" + id + "/rotate-secret", token_for(other)).status, 403);
}
