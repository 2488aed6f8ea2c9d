// Webhook endpoints: members' own and communities' (their coordinators'); secrets shown once.
#include "support/api_fixture.hpp"

#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <chrono>
#include <future>

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
  static std::string endpoint(int n) {
    return json::serialize(json::object{{"url", "https://hooks.example.org/" + std::to_string(n)}});
  }
  long long endpoints_of_member(std::int64_t member_id) {
    return count("SELECT count(*) FROM webhook_endpoints WHERE member_id = " + std::to_string(member_id));
  }
  long long endpoints_of_data_science() {
    return count("SELECT count(*) FROM webhook_endpoints e JOIN communities c ON c.id = e.community_id "
                 "WHERE c.slug = 'data-science'");
  }

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

// Endpoints per member are capped (webhook_max_endpoints_per_member): beyond the cap a creation
// is refused with 422 and makes nothing; disabled endpoints count; deleting one makes room.
TEST_F(Webhooks, AMemberHasAtMostTheCapOfEndpoints) {
  config.webhook_max_endpoints_per_member = 2;  // read by the API on every request
  const auto first = post(path(member), member_token, endpoint(1));
  ASSERT_EQ(first.status, 201) << first.describe();
  ASSERT_EQ(post(path(member), member_token, endpoint(2)).status, 201);

  const auto third = post(path(member), member_token, endpoint(3));
  EXPECT_EQ(third.status, 422) << third.describe();
  EXPECT_EQ(third.content_type, "application/problem+json");
  ASSERT_TRUE(third.json.is_object()) << third.describe();
  EXPECT_EQ(third.json.at("detail").as_string(), "a member may have at most 2 webhook endpoints; delete one to add another");
  EXPECT_EQ(third.json.at("limit").as_int64(), 2);
  EXPECT_EQ(endpoints_of_member(member), 2);
  EXPECT_EQ(post(path(member), admin_token, endpoint(3)).status, 422) << "an admin is held to the member's cap too";
  EXPECT_EQ(post(path(other), token_for(other), endpoint(1)).status, 201) << "another member has a cap of their own";

  const auto first_id = first.json.at("id").as_int64();
  sql("UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'test' WHERE id = $1", first_id);
  EXPECT_EQ(post(path(member), member_token, endpoint(3)).status, 422) << "a disabled endpoint still counts";
  EXPECT_EQ(endpoints_of_member(member), 2);

  ASSERT_EQ(request("DELETE", "/v1/webhooks/" + std::to_string(first_id), member_token).status, 204);
  const auto again = post(path(member), member_token, endpoint(3));
  EXPECT_EQ(again.status, 201) << "deleting one makes room: " << again.describe();
  EXPECT_EQ(endpoints_of_member(member), 2);
}

TEST_F(Webhooks, ACommunityHasAtMostTheCapOfEndpoints) {
  config.webhook_max_endpoints_per_community = 2;
  const std::string community_path = "/v1/communities/data-science/webhooks";
  const auto first = post(community_path, coordinator_token, endpoint(1));
  ASSERT_EQ(first.status, 201) << first.describe();
  ASSERT_EQ(post(community_path, coordinator_token, endpoint(2)).status, 201);
  // A member's endpoint limited to the community is the member's, not the community's.
  ASSERT_EQ(post(path(member), member_token,
                 json::serialize(json::object{{"url", "https://hooks.example.org/m"}, {"communities", json::array{"data-science"}}}))
                .status,
            201);

  const auto third = post(community_path, coordinator_token, endpoint(3));
  EXPECT_EQ(third.status, 422) << third.describe();
  EXPECT_EQ(third.content_type, "application/problem+json");
  ASSERT_TRUE(third.json.is_object()) << third.describe();
  EXPECT_EQ(third.json.at("detail").as_string(),
            "a community may have at most 2 webhook endpoints; delete one to add another");
  EXPECT_EQ(endpoints_of_data_science(), 2);
  EXPECT_EQ(post(community_path, admin_token, endpoint(3)).status, 422) << "an admin is held to the community's cap too";
  EXPECT_EQ(post("/v1/communities/gardening/webhooks", admin_token, endpoint(1)).status, 201)
      << "another community has a cap of its own";

  ASSERT_EQ(request("DELETE", "/v1/webhooks/" + std::to_string(first.json.at("id").as_int64()), coordinator_token).status, 204);
  const auto again = post(community_path, coordinator_token, endpoint(3));
  EXPECT_EQ(again.status, 201) << "deleting one makes room: " << again.describe();
  EXPECT_EQ(endpoints_of_data_science(), 2);
}

// Two creations at once cannot both take the last place: a creation waits for the lock on its
// owner's row and counts once the other has committed. The other creation here is the test's
// own transaction, holding that lock with its insert not yet committed; without the lock the
// API would count one endpoint, make a second, and the owner would end with three.
TEST_F(Webhooks, ACreationInFlightElsewhereIsCountedOnceItCommits) {
  using namespace std::chrono_literals;
  config.webhook_max_endpoints_per_member = 2;
  ASSERT_EQ(post(path(member), member_token, endpoint(1)).status, 201);

  std::future<convene::testing::ApiResponse> creation;  // outlives the transaction, which a failure rolls back
  pqxx::connection connection(db.url());
  pqxx::work elsewhere(connection);
  elsewhere.exec_params("SELECT 1 FROM members WHERE id = $1 FOR NO KEY UPDATE", member);
  elsewhere.exec_params(
      "INSERT INTO webhook_endpoints (member_id, url, secret, created_at, updated_at) "
      "VALUES ($1, 'https://hooks.example.org/elsewhere', 'whsec_elsewhere', now(), now())",
      member);
  creation = std::async(std::launch::async, [&] { return post(path(member), member_token, endpoint(2)); });
  bool waited = false;
  for (int i = 0; i < 200 && !waited && creation.wait_for(25ms) != std::future_status::ready; ++i)
    waited = count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 1;
  EXPECT_TRUE(waited) << "the creation did not wait for the lock on the member's row";
  elsewhere.commit();

  const auto r = creation.get();
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(endpoints_of_member(member), 2);
}
