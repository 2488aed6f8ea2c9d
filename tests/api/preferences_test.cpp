// The preferences page (DESIGN §4): GET/POST /preferences/{token}. Tokens are signed, per
// member and rotatable; forms need their CSRF field and a same-site origin; a save is all or
// nothing, writes the API's outbox events, and says what changed.
#include "support/api_fixture.hpp"

#include "daemon/pages/html.hpp"
#include "notifiers/signed_token.hpp"
#include "store/server_secrets.hpp"

#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <regex>
#include <set>

using convene::testing::ApiResponse;
using convene::testing::ApiTest;
namespace n = convene::notifiers;

namespace {

const std::string kForm = "application/x-www-form-urlencoded";
const std::string kOffsets = "array(SELECT extract(epoch FROM o)::bigint FROM unnest(reminder_offsets) o)::text";

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string header(const ApiResponse& r, const std::string& name) {
  const auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

// The value of a hidden field of the page's first form.
std::string field(const std::string& html, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(html, m, std::regex("name=\"" + name + "\" value=\"([^\"]*)\""))) return "";
  return m[1];
}

}  // namespace

class Preferences : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    science = make_community("data-science", "Data Science & <Friends>");
    go = make_community("go", "Go");
    rust = make_community("rust", "Rust");
    ada = make_member("ada@example.org");
    bob = make_member("bob@example.org");
    join(ada, "data-science", "realtime");
    join(ada, "go", "daily");
    join(bob, "data-science", "realtime");
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    key = convene::store::server_secret(tx, "links", "2026-11-28T12:00:00Z");
    tx.exec_params(
        "INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, due_at, "
        "created_at) VALUES (notification_id('test:go'), 'test:go', $1, $2, 'email', 'topic.posted', "
        "'ada@example.org', now(), now())",
        ada, go);
    tx.commit();
  }

  void join(std::int64_t member, const std::string& slug, const std::string& delivery) {
    const auto r = request("PUT", "/v1/communities/" + slug + "/members/" + std::to_string(member), admin_token,
                           R"({"delivery": ")" + delivery + "\"}");
    ASSERT_EQ(r.status, 201) << r.describe();
  }
  std::string path(std::int64_t member, std::int64_t version = 0) {
    return "/preferences/" + n::make_token(key, n::TokenPurpose::preferences, member, 0, version);
  }
  // GETs the page, then POSTs its hidden fields (csrf, issued, action=save) and `fields`.
  ApiResponse save(const std::string& page_path, const std::string& fields, const httplib::Headers& headers = {}) {
    const auto page = request("GET", page_path);
    EXPECT_EQ(page.status, 200) << page.describe();
    return request("POST", page_path, "",
                   "csrf=" + field(page.body, "csrf") + "&issued=" + field(page.body, "issued") + "&action=save&" + fields,
                   kForm, headers);
  }
  ApiResponse act(const std::string& page_path, const std::string& action) {
    const auto page = request("GET", page_path);
    return request("POST", page_path, "",
                   "csrf=" + field(page.body, "csrf") + "&issued=" + field(page.body, "issued") + "&action=" + action, kForm);
  }
  std::string scalar(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    const auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }
  // Everything a save may touch, to check that a refused one touched nothing.
  std::string snapshot() {
    return scalar("SELECT string_agg(concat_ws('|', m.id, m.time_zone, m.digest_hour, m.weekly_day, m.reminder_offsets::text, "
                  "m.preferences_link_version, m.updated_at), ';' ORDER BY m.id) FROM members m") +
           scalar("SELECT string_agg(concat_ws('|', member_id, community_id, delivery, updated_at), ';' "
                  "ORDER BY member_id, community_id) FROM memberships") +
           scalar("SELECT count(*) FROM events") + scalar("SELECT count(*) FROM tokens") +
           scalar("SELECT string_agg(state, ',') FROM notifications");
  }
  std::string delivery(std::int64_t member, std::int64_t community) {
    return scalar("SELECT delivery FROM memberships WHERE member_id = " + std::to_string(member) +
                  " AND community_id = " + std::to_string(community));
  }

  std::string key;
  std::int64_t science = 0, go = 0, rust = 0, ada = 0, bob = 0;
};

TEST_F(Preferences, ThePageShowsTheMembersSettingsAccessiblyWithoutScript) {
  const auto r = request("GET", path(ada));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");
  EXPECT_EQ(header(r, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(header(r, "X-Frame-Options"), "DENY");
  const auto csp = header(r, "Content-Security-Policy");
  EXPECT_TRUE(has(csp, "default-src 'none'") && has(csp, "frame-ancestors 'none'") && !has(csp, "script")) << csp;
  const auto& html = r.body;
  EXPECT_TRUE(has(html, "<html lang=\"en\">"));
  EXPECT_TRUE(has(html, "<title>Email preferences"));
  EXPECT_FALSE(has(html, "<script")) << "works without JavaScript";
  EXPECT_FALSE(has(html, "<table")) << "no layout tables";
  EXPECT_TRUE(has(html, "<h2 id=\"community-" + std::to_string(science) + "\">Data Science &amp; &lt;Friends&gt;</h2>"));
  EXPECT_TRUE(has(html, "<h2 id=\"community-" + std::to_string(go) + "\">Go</h2>"));
  EXPECT_TRUE(has(html, "<legend>Email from Go</legend>"));
  EXPECT_TRUE(has(html, "name=\"delivery_" + std::to_string(go) + "\" value=\"daily\" checked"));
  EXPECT_TRUE(has(html, "name=\"join\" value=\"" + std::to_string(rust) + "\"")) << "Rust can be joined";
  EXPECT_FALSE(has(html, "name=\"join\" value=\"" + std::to_string(go) + "\""));
  EXPECT_TRUE(has(html, "<option value=\"Europe/London\" selected>"));
  EXPECT_TRUE(has(html, "<option value=\"Pacific/Kiritimati\">"));
  EXPECT_TRUE(has(html, "<option value=\"7\" selected>07:00</option>"));
  EXPECT_TRUE(has(html, "value=\"P1D\" checked")) << "the default reminders: 1 day and 1 hour";
  EXPECT_TRUE(has(html, "value=\"PT1H\" checked"));
  EXPECT_FALSE(has(html, "value=\"PT15M\" checked"));
  // Every visible control has a <label for>.
  const std::regex control("<(input|select)([^>]*)>");
  int labelled = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), control); it != std::sregex_iterator(); ++it) {
    const std::string attributes = (*it)[2];
    if (has(attributes, "type=\"hidden\"")) continue;
    std::smatch id;
    ASSERT_TRUE(std::regex_search(attributes, id, std::regex("id=\"([^\"]+)\""))) << attributes;
    EXPECT_TRUE(has(html, "<label for=\"" + id[1].str() + "\">")) << id[1];
    ++labelled;
  }
  EXPECT_GT(labelled, 15);
  // The member's own page only.
  EXPECT_TRUE(has(html, "ada@example.org"));
  EXPECT_FALSE(has(html, "bob@example.org"));
}

TEST_F(Preferences, ForgedMisusedAndOtherKeysTokensAreNotFound) {
  auto forged = path(ada);
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  const std::vector<std::string> bad{
      forged,
      "/preferences/" + n::make_token(key, n::TokenPurpose::unsubscribe, ada, 0),
      "/preferences/" + n::make_token(key, n::TokenPurpose::preferences, ada, science),
      "/preferences/" + n::make_token(std::string(32, 'k'), n::TokenPurpose::preferences, ada, 0),
      path(ada, 1),    // a version the member does not have
      path(999999),    // no such member
      "/preferences/u1.not.atoken"};
  const auto before = snapshot();
  for (const auto& p : bad) {
    const auto get = request("GET", p);
    EXPECT_EQ(get.status, 404) << p;
    EXPECT_TRUE(has(get.body, "Link not valid")) << get.body;
    EXPECT_EQ(header(get, "Cache-Control"), "no-store");
    EXPECT_EQ(request("POST", p, "", "action=save&digest_hour=9", kForm).status, 404) << p;
  }
  EXPECT_EQ(snapshot(), before);
}

TEST_F(Preferences, InvalidatingOldLinksMovesThePageToANewLink) {
  const auto old_path = path(ada);
  const auto r = act(old_path, "rotate_link");
  ASSERT_EQ(r.status, 303) << r.describe();
  const auto location = header(r, "Location");
  EXPECT_EQ(location, path(ada, 1) + "?done=link");
  EXPECT_EQ(scalar("SELECT preferences_link_version FROM members WHERE id = " + std::to_string(ada)), "1");
  // ... and emailed to the member.
  EXPECT_EQ(scalar("SELECT concat_ws('|', recipient, state, payload->>'url') FROM notifications WHERE kind = 'preferences.link'"),
            "ada@example.org|pending|https://convene.example.org" + path(ada, 1));
  EXPECT_EQ(request("GET", old_path).status, 404) << "old links stop working";
  EXPECT_EQ(save(path(ada, 1), "digest_hour=9").status, 200);
  const auto moved = request("GET", location);
  ASSERT_EQ(moved.status, 200) << moved.describe();
  EXPECT_TRUE(has(moved.body, "This is your new preferences link"));
  // A form rendered under the old link does not work under the new one either.
  EXPECT_EQ(request("GET", path(bob)).status, 200) << "other members' links are untouched";
  EXPECT_EQ(act(path(ada, 1), "rotate_link").status, 303);
  EXPECT_EQ(request("GET", path(ada, 1)).status, 404);
  EXPECT_EQ(request("GET", path(ada, 2)).status, 200);
}

TEST_F(Preferences, MissingWrongOtherMembersOrExpiredCsrfIsRefusedAndChangesNothing) {
  const auto page = request("GET", path(ada));
  const auto csrf = field(page.body, "csrf"), issued = field(page.body, "issued");
  const auto bob_page = request("GET", path(bob));
  std::string wrong = csrf;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  const auto before = snapshot();
  const std::vector<std::string> bodies{
      "action=save&digest_hour=9",
      "issued=" + issued + "&action=save&digest_hour=9",
      "csrf=" + csrf + "&action=save&digest_hour=9",
      "csrf=" + wrong + "&issued=" + issued + "&action=save&digest_hour=9",
      "csrf=" + csrf + "&issued=" + std::to_string(std::stoll(issued) + 1) + "&action=save&digest_hour=9",
      "csrf=" + field(bob_page.body, "csrf") + "&issued=" + field(bob_page.body, "issued") + "&action=save&digest_hour=9",
      "csrf=" + csrf + "&issued=" + issued + "&csrf=" + csrf + "&action=save&digest_hour=9",
      "csrf=" + csrf + "&issued=" + issued + "&action=rotate_link",  // bob's page may not rotate ada's link
  };
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const auto target = i + 1 == bodies.size() ? path(bob) : path(ada);
    const auto r = request("POST", target, "", bodies[i], kForm);
    EXPECT_EQ(r.status, 403) << i << " " << bodies[i];
    EXPECT_TRUE(has(r.body, "security field is missing or wrong")) << r.body.substr(0, 300);
    EXPECT_TRUE(has(r.body, "role=\"alert\""));
  }
  EXPECT_EQ(snapshot(), before);
  // A form left open for more than a day is refused, with a page that works again.
  clock.advance(std::chrono::hours(25));
  const auto expired = request("POST", path(ada), "", "csrf=" + csrf + "&issued=" + issued + "&action=save&digest_hour=9", kForm);
  EXPECT_EQ(expired.status, 403);
  EXPECT_TRUE(has(expired.body, "open for more than a day"));
  EXPECT_EQ(snapshot(), before);
  const auto again = request("POST", path(ada), "",
                             "csrf=" + field(expired.body, "csrf") + "&issued=" + field(expired.body, "issued") +
                                 "&action=save&digest_hour=9",
                             kForm);
  EXPECT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(scalar("SELECT digest_hour FROM members WHERE id = " + std::to_string(ada)), "9");
}

TEST_F(Preferences, CrossSitePostsAreRefused) {
  const auto before = snapshot();
  for (const httplib::Headers& headers : {httplib::Headers{{"Origin", "https://evil.example"}},
                                          httplib::Headers{{"Sec-Fetch-Site", "cross-site"}},
                                          httplib::Headers{{"Sec-Fetch-Site", "same-site"}}}) {
    const auto r = save(path(ada), "digest_hour=9", headers);
    EXPECT_EQ(r.status, 403) << headers.begin()->second;
    EXPECT_TRUE(has(r.body, "sent from another site"));
  }
  EXPECT_EQ(snapshot(), before);
  // Its own origin, or "null" (what a no-referrer page's form sends), is fine.
  EXPECT_EQ(save(path(ada), "digest_hour=9", {{"Origin", "https://convene.example.org"}}).status, 200);
  EXPECT_EQ(save(path(ada), "digest_hour=10", {{"Origin", "null"}, {"Sec-Fetch-Site", "same-origin"}}).status, 200);
  EXPECT_EQ(scalar("SELECT digest_hour FROM members WHERE id = " + std::to_string(ada)), "10");
}

TEST_F(Preferences, EachBadValueGetsAMessageAndNothingIsSaved) {
  const std::string d = "delivery_" + std::to_string(science);
  const std::vector<std::pair<std::string, std::string>> cases{
      {"time_zone=Mars%2FOlympus", "Time zone \u201CMars/Olympus\u201D is not one we know"},
      {"time_zone=..%2Fetc%2Fpasswd", "is not one we know"},
      {"digest_hour=25", "Digest hour \u201C25\u201D is not an hour of the day"},
      {"digest_hour=-1", "is not an hour of the day"},
      {"digest_hour=7.5", "is not an hour of the day"},
      {"digest_hour=9&digest_hour=10", "Digest hour was sent more than once"},
      {"weekly_day=funday", "Weekly digest day \u201Cfunday\u201D is not a day of the week"},
      {d + "=sometimes", "Delivery mode \u201Csometimes\u201D for Data Science & <Friends>"},
      {"reminders_shown=1&reminder=P90D", "Reminder \u201CP90D\u201D is not a time"},
      {"reminders_shown=1&reminder=soon", "Reminder \u201Csoon\u201D is not a time"},
      {"join=999999", "cannot be joined"},
      {"join=" + std::to_string(rust) + "&join_delivery=hourly", "for communities you join is not one we offer"},
  };
  const auto before = snapshot();
  for (const auto& [fields, message] : cases) {
    // With a valid change beside the bad one: nothing is half-saved.
    const std::string valid = has(fields, "digest_hour") ? "weekly_day=friday" : "digest_hour=9";
    const auto r = save(path(ada), valid + "&leave_" + std::to_string(go) + "=1&" + fields);
    EXPECT_EQ(r.status, 422) << fields;
    EXPECT_TRUE(has(r.body, "Nothing was saved")) << fields;
    EXPECT_TRUE(has(r.body, convene::daemon::html_escape(message))) << fields << "\n" << r.body.substr(0, 1500);
    EXPECT_EQ(snapshot(), before) << fields;
  }
  EXPECT_EQ(save(path(ada), "", {}).status, 200);
  EXPECT_EQ(request("POST", path(ada), "", "csrf=%zz", kForm).status, 400);
  EXPECT_EQ(request("POST", path(ada), "", "digest_hour=9", "text/plain").status, 415);
  EXPECT_EQ(request("POST", path(ada), "", "x=" + std::string(70 * 1024, 'a'), kForm).status, 413);
  const auto unknown = act(path(ada), "delete_everything");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(Preferences, ASaveChangesEverythingAskedInOneGoWritesTheEventsAndSaysWhatChanged) {
  const std::string s = std::to_string(science), g = std::to_string(go), r_id = std::to_string(rust);
  const auto r = save(path(ada), "delivery_" + s + "=daily&delivery_" + g + "=weekly&leave_" + g + "=1&join=" + r_id +
                                     "&join_delivery=weekly&time_zone=America%2FNew_York&digest_hour=18&weekly_day=friday"
                                     "&reminders_shown=1&reminder=PT15M&reminder=P1D");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(delivery(ada, science), "daily");
  EXPECT_EQ(delivery(ada, go), "") << "left";
  EXPECT_EQ(delivery(ada, rust), "weekly");
  EXPECT_EQ(delivery(bob, science), "realtime");
  EXPECT_EQ(scalar("SELECT concat_ws('|', time_zone, digest_hour, weekly_day, " + kOffsets + ") FROM members WHERE id = " +
                   std::to_string(ada)),
            "America/New_York|18|5|{86400,900}");
  // The API's events for a leave and a join, with the member as the actor.
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE kind = 'member.left' AND community_id = " + g +
                   " AND payload->>'member_id' = '" + std::to_string(ada) + "' AND payload->>'actor_id' = '" +
                   std::to_string(ada) + "' AND payload->>'community' = 'go'"),
            "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE kind = 'member.joined' AND community_id = " + r_id +
                   " AND payload->>'delivery' = 'weekly' AND payload->>'actor_id' = '" + std::to_string(ada) + "'"),
            "1");
  EXPECT_EQ(scalar("SELECT state FROM notifications WHERE dedupe_key = 'test:go'"), "cancelled");
  // What changed, in words, and the page shows the new state.
  for (const std::string line :
       {"Data Science &amp; &lt;Friends&gt;: a daily digest (was: every email as it happens)", "Left Go",
        "Joined Rust: a weekly digest", "Time zone: America/New_York (was: Europe/London)",
        "Digest hour: 18:00 (was: 07:00)", "Weekly digest day: Friday (was: Monday)",
        "Meeting reminders: 1 day, 15 minutes before (was: 1 day, 1 hour before)"})
    EXPECT_TRUE(has(r.body, "<li>" + line + "</li>")) << line << "\n" << r.body.substr(0, 3000);
  EXPECT_TRUE(has(r.body, "<option value=\"America/New_York\" selected>"));
  EXPECT_TRUE(has(r.body, "name=\"delivery_" + r_id + "\" value=\"weekly\" checked"));
  // The same values again: nothing to save, nothing written.
  const auto before = snapshot();
  const auto again = save(path(ada), "delivery_" + s + "=daily&time_zone=America%2FNew_York&digest_hour=18"
                                     "&reminders_shown=1&reminder=P1D&reminder=PT15M");
  EXPECT_EQ(again.status, 200);
  EXPECT_TRUE(has(again.body, "Nothing to save"));
  EXPECT_EQ(snapshot(), before);
  // No reminders at all is a choice too.
  EXPECT_EQ(save(path(ada), "reminders_shown=1").status, 200);
  EXPECT_EQ(scalar("SELECT reminder_offsets::text FROM members WHERE id = " + std::to_string(ada)), "{}");
}

TEST_F(Preferences, RemindersSetThroughTheApiAreKeptUnlessUnticked) {
  const auto patched = request("PATCH", "/v1/members/" + std::to_string(ada), admin_token,
                               R"({"reminder_offsets": ["PT30M", "P2D"]})");
  ASSERT_EQ(patched.status, 200) << patched.describe();
  const auto page = request("GET", path(ada));
  EXPECT_TRUE(has(page.body, "value=\"PT30M\" checked")) << page.body;
  EXPECT_TRUE(has(page.body, "30 minutes before"));
  EXPECT_TRUE(has(page.body, "value=\"P2D\" checked"));
  ASSERT_EQ(save(path(ada), "reminders_shown=1&reminder=PT30M&reminder=P2D&digest_hour=8").status, 200);
  EXPECT_EQ(scalar("SELECT " + kOffsets + " FROM members WHERE id = " + std::to_string(ada)), "{1800,172800}")
      << "unchanged: the same set";
}

TEST_F(Preferences, TheFeedAddressIsRotatedWithTheApisStoreLogic) {
  const auto made = post("/v1/members/" + std::to_string(ada) + "/feed-token", admin_token);
  ASSERT_EQ(made.status, 201) << made.describe();
  const std::string old_url = made.json.at("feed_url").as_string().c_str();
  const std::string old_path = old_url.substr(old_url.find("/feeds/"));
  EXPECT_EQ(request("GET", old_path).status, 200);
  EXPECT_TRUE(has(request("GET", path(ada)).body, "Make a new feed address"));
  const auto r = act(path(ada), "rotate_feed");
  ASSERT_EQ(r.status, 200) << r.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.body, m, std::regex("https://convene\\.example\\.org(/feeds/members/cvf_[A-Za-z0-9_-]+\\.ics)")))
      << r.body;
  EXPECT_EQ(request("GET", m[1].str()).status, 200) << "the new address works";
  EXPECT_EQ(request("GET", old_path).status, 404) << "the old one does not";
  EXPECT_EQ(scalar("SELECT count(*) FROM tokens WHERE member_id = " + std::to_string(ada) +
                   " AND purpose = 'feed' AND revoked_at IS NULL"),
            "1");
  EXPECT_FALSE(has(request("GET", path(ada)).body, m[1].str())) << "shown once: only its hash is kept";
}
