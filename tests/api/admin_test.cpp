// Operators' routes: listing and retrying jobs; the test clock route exists only with
// --test-clock (tests/e2e/jobs_e2e_test.cpp moves it on a running daemon).
#include "support/api_fixture.hpp"

#include <boost/json/parse.hpp>
#include <pqxx/pqxx>

#include <gtest/gtest.h>

using convene::testing::ApiTest;
namespace json = boost::json;

class Admin : public ApiTest {
 protected:
  std::int64_t job(const std::string& kind, const std::string& key, const std::string& state) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    const auto id = tx.exec_params(
                          "INSERT INTO jobs (kind, unique_key, due_at, state, attempts, last_error, created_at, updated_at) "
                          "VALUES ($1, $2, '2026-11-27T10:00Z', $3, 5, CASE WHEN $3 = 'dead' THEN 'relay down' END, "
                          "'2026-11-27T10:00Z', '2026-11-27T10:00Z') RETURNING id",
                          kind, key, state)[0][0]
                        .as<std::int64_t>();
    tx.commit();
    return id;
  }
};

TEST_F(Admin, ListsJobsByStateAndKindWithTheirErrors) {
  const auto dead = job("noop", "a", "dead");
  job("noop", "b", "done");
  job("fanout", "c", "dead");
  const auto r = get("/v1/admin/jobs?state=dead&kind=noop", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("total").as_int64(), 1);
  const auto& item = body.at("items").as_array().at(0).as_object();
  EXPECT_EQ(item.at("id").as_int64(), dead);
  EXPECT_EQ(item.at("state").as_string(), "dead");
  EXPECT_EQ(item.at("last_error").as_string(), "relay down");
  EXPECT_EQ(item.at("attempts").as_int64(), 5);
  EXPECT_EQ(json::parse(get("/v1/admin/jobs", admin_token).body).as_object().at("total").as_int64(),
            count("SELECT count(*) FROM jobs"));
}

TEST_F(Admin, ABadFilterIsRefused) {
  const auto r = get("/v1/admin/jobs?state=exploded", admin_token);
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_NE(r.body.find("\"state\""), std::string::npos);
}

TEST_F(Admin, RetryMakesADeadJobPendingWithFreshAttempts) {
  const auto id = job("noop", "a", "dead");
  const auto r = post("/v1/admin/jobs/" + std::to_string(id) + "/retry", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE state = 'pending' AND attempts = 0 AND due_at = '2026-11-28T12:00Z'"), 1);
}

TEST_F(Admin, RetryRefusesPendingOrRunningJobsAndUnknownIds) {
  const auto pending = job("noop", "p", "pending");
  const auto r = post("/v1/admin/jobs/" + std::to_string(pending) + "/retry", admin_token);
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(post("/v1/admin/jobs/999999/retry", admin_token).status, 404);
  EXPECT_EQ(post("/v1/admin/jobs/abc/retry", admin_token).status, 404);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE state = 'pending' AND attempts = 5"), 1) << "nothing changed";
}

TEST_F(Admin, TheClockRouteDoesNotExistWithoutTestClock) {
  const auto r = post("/v1/admin/clock", admin_token, R"({"now": "2027-06-01T08:00:00Z"})");
  EXPECT_EQ(r.status, 404) << r.describe();
}

// Every attempt of a notification, oldest first, with the server's reply (schema 010).
TEST_F(Admin, ListsNotificationsWithEveryAttempt) {
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  const auto id = tx.exec(
                        "INSERT INTO notifications (id, dedupe_key, channel, kind, recipient, state, attempts, last_error, "
                        "due_at, created_at, attempt_log) VALUES (notification_id('admin-attempts'), 'admin-attempts', "
                        "'email', 'topic.posted', 'member@example.org', "
                        "'dead', 2, '550 no such user', now(), now(), "
                        "'[{\"at\": \"2026-11-28T10:00:00Z\", \"outcome\": \"transient\", \"code\": 451, \"text\": \"try later\"}, "
                        "{\"at\": \"2026-11-28T10:00:30.5Z\", \"outcome\": \"permanent\", \"code\": 550, \"text\": \"no such user\"}]') "
                        "RETURNING id")[0][0]
                      .as<std::string>();
  tx.commit();
  const auto r = get("/v1/admin/notifications?state=dead", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto body = json::parse(r.body);
  const auto& item = body.as_object().at("items").as_array().at(0).as_object();
  EXPECT_EQ(item.at("id").as_string(), id);
  const auto& log = item.at("attempt_log").as_array();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].as_object().at("outcome").as_string(), "transient");
  EXPECT_EQ(log[0].as_object().at("code").as_int64(), 451);
  EXPECT_EQ(log[1].as_object().at("at").as_string(), "2026-11-28T10:00:30.5Z");
  EXPECT_EQ(log[1].as_object().at("text").as_string(), "no such user");
}


// Suppressed addresses (schema 014): listed newest first, paged, and removed by an admin.
TEST_F(Admin, ListsSuppressionsAndAnAdminRemovesOne) {
  suppress("ada@example.org", "2026-11-28T10:00:00Z");
  suppress("bob@example.org", "2026-11-28T11:00:00Z");
  const auto r = get("/v1/admin/suppressions?per_page=1", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("total").as_int64(), 2);
  const auto& items = body.at("items").as_array();
  ASSERT_EQ(items.size(), 1u);
  const auto& item = items.at(0).as_object();
  EXPECT_EQ(item.at("address").as_string(), "bob@example.org");
  EXPECT_EQ(item.at("code").as_int64(), 550);
  EXPECT_EQ(item.at("reason").as_string(), "SMTP 550: 5.1.1 no such user");
  EXPECT_EQ(item.at("first_refused_at").as_string(), "2026-11-28T11:00:00Z");
  EXPECT_EQ(item.at("last_refused_at").as_string(), "2026-11-28T11:00:00Z");
  EXPECT_EQ(item.at("notification_id").as_string().size(), 36u);

  const auto member = make_member("someone@example.org");
  EXPECT_EQ(get("/v1/admin/suppressions", token_for(member)).status, 403);
  EXPECT_EQ(request("DELETE", "/v1/admin/suppressions/ada%40example.org", token_for(member)).status, 403);
  EXPECT_EQ(count("SELECT count(*) FROM suppressions"), 2);

  // Percent-encoded or not, in any case.
  const auto removed = request("DELETE", "/v1/admin/suppressions/ADA%40Example.org", admin_token);
  EXPECT_EQ(removed.status, 204) << removed.describe();
  EXPECT_EQ(count("SELECT count(*) FROM suppressions WHERE address = 'ada@example.org'"), 0);
  EXPECT_EQ(request("DELETE", "/v1/admin/suppressions/ada@example.org", admin_token).status, 404);
  EXPECT_EQ(request("DELETE", "/v1/admin/suppressions/bob@example.org", admin_token).status, 204);
  EXPECT_EQ(json::parse(get("/v1/admin/suppressions", admin_token).body).as_object().at("total").as_int64(), 0);
}

// A member who changes their email address is no longer suppressed; another member's
// suppression, and a change that keeps the address, leave theirs alone.
TEST_F(Admin, ChangingTheEmailAddressRemovesItsSuppression) {
  const auto ada = make_member("Ada@example.org");
  suppress("ada@example.org", "2026-11-28T10:00:00Z");
  suppress("bob@example.org", "2026-11-28T10:00:00Z");
  const auto same = request("PATCH", "/v1/members/" + std::to_string(ada), admin_token, R"({"email": "ada@EXAMPLE.org"})");
  ASSERT_EQ(same.status, 200) << same.describe();
  EXPECT_EQ(count("SELECT count(*) FROM suppressions WHERE address = 'ada@example.org'"), 1);
  const auto changed = request("PATCH", "/v1/members/" + std::to_string(ada), admin_token, R"({"email": "ada@new.example.org"})");
  ASSERT_EQ(changed.status, 200) << changed.describe();
  EXPECT_EQ(count("SELECT count(*) FROM suppressions WHERE address = 'ada@example.org'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM suppressions WHERE address = 'bob@example.org'"), 1);
}

TEST_F(Admin, SuppressedNotificationsAreListedByTheirState) {
  sql("INSERT INTO notifications (id, dedupe_key, channel, kind, recipient, state, last_error, due_at, created_at) "
      "VALUES (notification_id('s'), 's', 'email', 'topic.posted', 'ada@example.org', 'suppressed', "
      "'suppressed: SMTP 550: 5.1.1 no such user', now(), now())");
  const auto r = get("/v1/admin/notifications?state=suppressed", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("total").as_int64(), 1);
  EXPECT_EQ(body.at("items").as_array().at(0).as_object().at("last_error").as_string(),
            "suppressed: SMTP 550: 5.1.1 no such user");
}
