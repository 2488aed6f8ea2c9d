// One-click unsubscribe (RFC 8058): POST /u/{token} with no cookie and no login ends email
// from that community for that member; GET shows a confirmation page with a button.
#include "support/api_fixture.hpp"

#include "notifiers/signed_token.hpp"
#include "store/server_secrets.hpp"

#include <pqxx/pqxx>

#include <gtest/gtest.h>

using convene::testing::ApiTest;
namespace n = convene::notifiers;

class Unsubscribe : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    community = make_community("data-science", "Data Science & <Friends>");
    ada = make_member("ada@example.org");
    bob = make_member("bob@example.org");
    for (const auto who : {ada, bob}) {
      const auto r = request("PUT", "/v1/communities/data-science/members/" + std::to_string(who), admin_token,
                             R"({"delivery": "realtime"})");
      EXPECT_EQ(r.status, 201) << r.describe();
    }
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    key = convene::store::server_secret(tx, "links", "2026-11-28T12:00:00Z");
    for (const auto who : {ada, bob})
      tx.exec_params(
          "INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, due_at, "
          "created_at) VALUES (notification_id($1), $1, $2, $3, 'email', 'topic.posted', 'x@example.org', now(), now())",
          "test:" + std::to_string(who), who, community);
    tx.commit();
  }
  std::string token(std::int64_t member, n::TokenPurpose purpose = n::TokenPurpose::unsubscribe) {
    return n::make_token(key, purpose, member, community);
  }
  std::string delivery(std::int64_t member) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    return tx.exec_params("SELECT delivery FROM memberships WHERE member_id = $1", member)[0][0].as<std::string>();
  }
  long long pending_email(std::int64_t member) {
    return count("SELECT count(*) FROM notifications WHERE state = 'pending' AND member_id = " + std::to_string(member));
  }

  std::string key;
  std::int64_t community = 0, ada = 0, bob = 0;
};

TEST_F(Unsubscribe, TheLinkShowsAConfirmationAndChangesNothing) {
  const auto r = request("GET", "/u/" + token(ada));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_NE(r.body.find("<form method=\"post\">"), std::string::npos);
  EXPECT_NE(r.body.find("Data Science &amp; &lt;Friends&gt;"), std::string::npos) << "names are escaped";
  EXPECT_EQ(delivery(ada), "realtime");
  EXPECT_EQ(pending_email(ada), 1);
}

TEST_F(Unsubscribe, OneClickEndsEmailForThatMemberOnlyAndCancelsWhatIsQueued) {
  const auto r = request("POST", "/u/" + token(ada), "", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(delivery(ada), "none");
  EXPECT_EQ(pending_email(ada), 0);
  EXPECT_EQ(delivery(bob), "realtime");
  EXPECT_EQ(pending_email(bob), 1);
  // Again: still fine, nothing more to do.
  EXPECT_EQ(request("POST", "/u/" + token(ada), "", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded").status, 200);
}

TEST_F(Unsubscribe, ForgedOrMisusedTokensChangeNothing) {
  auto forged = token(ada);
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  const std::string other_purpose = token(ada, n::TokenPurpose::preferences);
  const std::string other_key = n::make_token(std::string(32, 'k'), n::TokenPurpose::unsubscribe, bob, community);
  for (const auto& t : {forged, other_purpose, other_key, std::string("u1.not.atoken")}) {
    EXPECT_EQ(request("POST", "/u/" + t, "", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded").status, 404) << t;
    EXPECT_EQ(request("GET", "/u/" + t).status, 404) << t;
  }
  EXPECT_EQ(delivery(ada), "realtime");
  EXPECT_EQ(delivery(bob), "realtime");
  EXPECT_EQ(pending_email(ada) + pending_email(bob), 2);
}

// A digest over several communities has no community of its own: its link is a digest token,
// and one click sets every membership on that digest's cadence to `none`.
TEST_F(Unsubscribe, ADigestLinkStopsThatDigestAndNothingElse) {
  make_community("rust", "Rust");
  make_community("go", "Go");
  make_community("books", "Books");
  for (const auto& [slug, delivery] : {std::pair{"rust", "daily"}, std::pair{"go", "daily"}, std::pair{"books", "weekly"}}) {
    const auto r = request("PUT", "/v1/communities/" + std::string(slug) + "/members/" + std::to_string(ada), admin_token,
                           std::string(R"({"delivery": ")") + delivery + "\"}");
    ASSERT_EQ(r.status, 201) << r.describe();
  }
  {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    for (const char* kind : {"digest.daily", "digest.weekly"})
      tx.exec_params(
          "INSERT INTO notifications (id, dedupe_key, member_id, channel, kind, recipient, due_at, created_at) "
          "VALUES (notification_id($1), $1, $2, 'email', $3, 'ada@example.org', now(), now())",
          std::string("test:") + kind, ada, std::string(kind));
    tx.commit();
  }
  const auto daily = n::unsubscribe_token(key, "digest.daily", ada, std::nullopt);
  ASSERT_TRUE(daily);
  auto memberships = [&] {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    return tx.exec_params("SELECT string_agg(c.slug || '=' || ms.delivery, ',' ORDER BY c.slug) FROM memberships ms "
                          "JOIN communities c ON c.id = ms.community_id WHERE ms.member_id = $1",
                          ada)[0][0]
        .as<std::string>();
  };
  auto pending = [&](const std::string& kind) {
    return count("SELECT count(*) FROM notifications WHERE state = 'pending' AND kind = '" + kind + "'");
  };
  const std::string before = "books=weekly,data-science=realtime,go=daily,rust=daily";
  ASSERT_EQ(memberships(), before);

  // The link shows what it would stop and changes nothing.
  const auto page = request("GET", "/u/" + *daily);
  ASSERT_EQ(page.status, 200) << page.describe();
  EXPECT_NE(page.body.find("daily digest of <strong>Go, Rust</strong>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("<form method=\"post\">"), std::string::npos);
  EXPECT_EQ(memberships(), before);

  const auto r = request("POST", "/u/" + *daily, "", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_NE(r.body.find("no longer receive a daily digest"), std::string::npos) << r.body;
  EXPECT_EQ(memberships(), "books=weekly,data-science=realtime,go=none,rust=none");
  EXPECT_EQ(pending("digest.daily"), 0);
  EXPECT_EQ(pending("digest.weekly"), 1);
  EXPECT_EQ(pending_email(bob), 1);
  // Again, and the page: nothing left to stop.
  EXPECT_EQ(request("POST", "/u/" + *daily, "", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded").status, 200);
  EXPECT_NE(request("GET", "/u/" + *daily).body.find("You no longer receive a daily digest"), std::string::npos);

  // Another key, or a digest token of someone who does not exist: not valid.
  const auto other_key = n::unsubscribe_token(std::string(32, 'k'), "digest.weekly", ada, std::nullopt);
  const auto nobody = n::unsubscribe_token(key, "digest.weekly", 987654, std::nullopt);
  for (const auto& t : {*other_key, *nobody})
    EXPECT_EQ(request("POST", "/u/" + t, "", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded").status, 404);
  EXPECT_EQ(memberships(), "books=weekly,data-science=realtime,go=none,rust=none");
}
