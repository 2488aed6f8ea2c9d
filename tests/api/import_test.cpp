// POST /v1/import/members: CSV bulk import of members and memberships, over real HTTP.
#include "daemon/api/import.hpp"
#include "support/api_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace {

using convene::testing::ApiResponse;
using convene::testing::ApiTest;

class ImportTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    make_community("data-science", "Data Science");
    make_community("rust-users", "Rust Users");
    make_community("ux-research", "UX Research");
    make_community("old-club", "Old Club");
    ASSERT_EQ(post("/v1/communities/old-club/archive", admin_token).status, 200);
  }

  ApiResponse import_csv(const std::string& csv, const std::string& token, const std::string& type = "text/csv") {
    return request("POST", "/v1/import/members", token, csv, type);
  }
  ApiResponse import_csv(const std::string& csv) { return import_csv(csv, admin_token); }

  std::string text(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    const auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
  }

  // Everything an import could touch, to compare before and after.
  std::string snapshot() {
    return text(
        "SELECT (SELECT count(*) FROM members) || '|' || (SELECT count(*) FROM memberships) || '|' || "
        "(SELECT count(*) FROM events) || '|' || "
        "(SELECT coalesce(string_agg(id || ',' || email || ',' || name || ',' || time_zone || ',' || digest_hour || ',' || "
        "  weekly_day || ',' || reminder_offsets::text || ',' || updated_at, ';' ORDER BY id), '') FROM members) || '|' || "
        "(SELECT coalesce(string_agg(member_id || ',' || community_id || ',' || delivery || ',' || updated_at, ';' "
        "  ORDER BY member_id, community_id), '') FROM memberships)");
  }

  std::string delivery(const std::string& email, const std::string& slug) {
    return text("SELECT ms.delivery FROM memberships ms JOIN members m ON m.id = ms.member_id "
                "JOIN communities c ON c.id = ms.community_id WHERE m.email = '" + email + "' AND c.slug = '" + slug + "'");
  }

  // (line, field) of each reported error; field "" for null.
  static std::set<std::pair<std::int64_t, std::string>> error_keys(const ApiResponse& r) {
    std::set<std::pair<std::int64_t, std::string>> out;
    for (const auto& e : r.json.at("errors").as_array()) {
      const auto& o = e.as_object();
      out.insert({o.at("line").as_int64(), o.at("field").is_null() ? "" : std::string(o.at("field").as_string())});
      EXPECT_FALSE(o.at("message").as_string().empty());
    }
    return out;
  }

  static std::string message_for(const ApiResponse& r, std::int64_t line, const std::string& field) {
    for (const auto& e : r.json.at("errors").as_array()) {
      const auto& o = e.as_object();
      const std::string f = o.at("field").is_null() ? "" : std::string(o.at("field").as_string());
      if (o.at("line").as_int64() == line && f == field) return std::string(o.at("message").as_string());
    }
    return "";
  }

  static void expect_summary(const ApiResponse& r, std::int64_t members_created, std::int64_t members_updated,
                             std::int64_t members_unchanged, std::int64_t memberships_created,
                             std::int64_t memberships_updated) {
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.json.at("members_created").as_int64(), members_created) << r.describe();
    EXPECT_EQ(r.json.at("members_updated").as_int64(), members_updated) << r.describe();
    EXPECT_EQ(r.json.at("members_unchanged").as_int64(), members_unchanged) << r.describe();
    EXPECT_EQ(r.json.at("memberships_created").as_int64(), memberships_created) << r.describe();
    EXPECT_EQ(r.json.at("memberships_updated").as_int64(), memberships_updated) << r.describe();
  }
};

// Columns in another order than documented, an existing member in another case, optional cells
// left empty.
const std::string kGoodFile =
    "communities,name,email,time_zone,digest_hour,weekly_day,reminder_offsets\n"
    "data-science:daily;rust-users:realtime,Ada Lovelace,ada@example.org,America/New_York,6,friday,PT1H P1D\n"
    "rust-users:none,Grace Hopper,grace@example.org,,,,\n"
    "rust-users:realtime; ux-research:weekly ,existing,EXISTING@example.org,Asia/Tokyo,,,\n";

TEST_F(ImportTest, GoodFileCreatesMembersAndMembershipsWithEvents) {
  const auto existing = make_member("existing@example.org");
  ASSERT_EQ(request("PUT", "/v1/communities/rust-users/members/" + std::to_string(existing), admin_token,
                    R"({"delivery":"weekly"})").status, 201);
  ASSERT_EQ(request("PUT", "/v1/communities/data-science/members/" + std::to_string(existing), admin_token,
                    R"({"delivery":"daily"})").status, 201);
  const auto existing_updated_at = text("SELECT updated_at FROM members WHERE email = 'existing@example.org'");
  const auto events_before = count("SELECT count(*) FROM events");
  clock.advance(std::chrono::hours(1));

  const auto r = import_csv(kGoodFile);
  expect_summary(r, 2, 1, 0, 4, 1);

  // New members: given values, and the defaults where cells are empty.
  EXPECT_EQ(text("SELECT name || '|' || time_zone || '|' || digest_hour || '|' || weekly_day || '|' || "
                 "array_to_string(array(SELECT extract(epoch FROM o)::bigint FROM unnest(reminder_offsets) o), ',') "
                 "FROM members WHERE email = 'ada@example.org'"),
            "Ada Lovelace|America/New_York|6|5|86400,3600");
  EXPECT_EQ(text("SELECT name || '|' || time_zone || '|' || digest_hour || '|' || weekly_day || '|' || "
                 "array_to_string(array(SELECT extract(epoch FROM o)::bigint FROM unnest(reminder_offsets) o), ',') "
                 "FROM members WHERE email = 'grace@example.org'"),
            "Grace Hopper|Europe/London|7|1|86400,3600");
  // The existing member: matched without regard to case, only the changed column written.
  EXPECT_EQ(text("SELECT email || '|' || name || '|' || time_zone FROM members WHERE id = " + std::to_string(existing)),
            "existing@example.org|existing|Asia/Tokyo");
  EXPECT_NE(text("SELECT updated_at FROM members WHERE id = " + std::to_string(existing)), existing_updated_at);
  EXPECT_EQ(count("SELECT count(*) FROM members"), 4);  // admin, existing, ada, grace

  EXPECT_EQ(delivery("ada@example.org", "data-science"), "daily");
  EXPECT_EQ(delivery("ada@example.org", "rust-users"), "realtime");
  EXPECT_EQ(delivery("grace@example.org", "rust-users"), "none");
  EXPECT_EQ(delivery("existing@example.org", "rust-users"), "realtime");     // changed
  EXPECT_EQ(delivery("existing@example.org", "ux-research"), "weekly");      // joined
  EXPECT_EQ(delivery("existing@example.org", "data-science"), "daily");      // not listed: left alone

  // One member.joined per new membership, like PUT /v1/communities/{slug}/members/{id}; none for
  // the changed delivery mode.
  EXPECT_EQ(count("SELECT count(*) FROM events") - events_before, 4);
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE kind = 'member.joined' AND occurred_at = '2026-11-28T13:00:00Z'"), 4);
  const auto payload = boost::json::parse(text(
      "SELECT e.payload::text FROM events e JOIN communities c ON c.id = e.community_id WHERE e.kind = 'member.joined' "
      "AND c.slug = 'data-science' AND (e.payload->>'member_id')::bigint = (SELECT id FROM members WHERE email = "
      "'ada@example.org')"));
  EXPECT_EQ(payload.at("community").as_string(), "data-science");
  EXPECT_EQ(payload.at("community_name").as_string(), "Data Science");
  EXPECT_EQ(payload.at("delivery").as_string(), "daily");
  EXPECT_EQ(payload.at("actor_id").as_int64(), std::stoll(text("SELECT id FROM members WHERE email = 'admin@example.org'")));
}

TEST_F(ImportTest, ReimportingTheSameFileChangesNothing) {
  expect_summary(import_csv(kGoodFile), 3, 0, 0, 5, 0);
  const auto before = snapshot();
  clock.advance(std::chrono::hours(2));

  const auto again = import_csv(kGoodFile);
  expect_summary(again, 0, 0, 3, 0, 0);
  EXPECT_EQ(snapshot(), before) << "row counts, values, updated_at and events must all stay as they were";

  // The same people in a file with fewer columns: still nothing to change.
  const auto fewer = import_csv("email,name\nada@example.org,Ada Lovelace\nGRACE@example.org,Grace Hopper\n");
  expect_summary(fewer, 0, 0, 2, 0, 0);
  EXPECT_EQ(snapshot(), before);

  // A real change bumps only that member.
  const auto ada_before = text("SELECT updated_at FROM members WHERE email = 'ada@example.org'");
  const auto grace_before = text("SELECT updated_at FROM members WHERE email = 'grace@example.org'");
  expect_summary(import_csv("email,name,digest_hour\nada@example.org,Ada Lovelace,9\ngrace@example.org,Grace Hopper,\n"),
                 0, 1, 1, 0, 0);
  EXPECT_NE(text("SELECT updated_at FROM members WHERE email = 'ada@example.org'"), ada_before);
  EXPECT_EQ(text("SELECT updated_at FROM members WHERE email = 'grace@example.org'"), grace_before);
  EXPECT_EQ(text("SELECT digest_hour FROM members WHERE email = 'ada@example.org'"), "9");
}

TEST_F(ImportTest, EveryBadRowIsReportedAndNothingIsWritten) {
  const auto before = snapshot();
  const std::string csv =
      "email,name,time_zone,communities\n"                        // 1
      "ok@example.org,Ok,Europe/London,data-science:daily\n"      // 2
      "zone@example.org,Zone,Mars/Olympus,\n"                     // 3
      "dup@example.org,Dup,,\n"                                   // 4
      "unknown@example.org,Unknown,,no-such-community:daily\n"    // 5
      "mode@example.org,Mode,,data-science:hourly\n"              // 6
      "DUP@example.org,Dup again,,\n"                             // 7
      "archived@example.org,Archived,,old-club:daily\n"           // 8
      ",No email,,\n"                                             // 9
      "noname@example.org,,,rust-users:weekly\n";                 // 10
  const auto r = import_csv(csv);
  ASSERT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(r.content_type, "application/problem+json");
  const std::set<std::pair<std::int64_t, std::string>> expected = {
      {3, "time_zone"}, {5, "communities"}, {6, "communities"}, {7, "email"},
      {8, "communities"}, {9, "email"}, {10, "name"}};
  EXPECT_EQ(error_keys(r), expected) << r.describe();
  EXPECT_EQ(r.json.at("error_count").as_int64(), 7);
  EXPECT_NE(message_for(r, 5, "communities").find("no-such-community"), std::string::npos) << r.describe();
  EXPECT_NE(message_for(r, 6, "communities").find("hourly"), std::string::npos) << r.describe();
  EXPECT_NE(message_for(r, 7, "email").find("line 4"), std::string::npos) << r.describe();
  EXPECT_NE(message_for(r, 8, "communities").find("archived"), std::string::npos) << r.describe();
  // Errors come in line order.
  std::int64_t last = 0;
  for (const auto& e : r.json.at("errors").as_array()) {
    EXPECT_GE(e.at("line").as_int64(), last);
    last = e.at("line").as_int64();
  }
  EXPECT_EQ(snapshot(), before) << "a file with errors must write nothing";
}

TEST_F(ImportTest, ValueRulesFollowTheMemberRoutes) {
  const auto before = snapshot();
  const auto r = import_csv(
      "email,name,digest_hour,weekly_day,reminder_offsets,communities\n"
      "a@example.org,A,24,monday,,\n"                         // 2 digest_hour
      "b@example.org,B,7,someday,,\n"                         // 3 weekly_day
      "c@example.org,C,7,monday,P1M,\n"                       // 4 reminder_offsets (months refused)
      "d@example.org,D,7,monday,P61D,\n"                      // 5 reminder_offsets (over 60 days)
      "not-an-email,E,7,monday,,\n"                           // 6 email
      "f@example.org,F,7,monday,,data-science\n"              // 7 communities (no delivery)
      "g@example.org,G,7,monday,,data-science:daily;data-science:weekly\n"  // 8 listed twice
      "h@example.org,H,x7,monday,,\n"                         // 9 digest_hour
      "j@example.org,J,7,monday,P1D PT30S,\n");              // 10 reminder_offsets (under a minute)
  ASSERT_EQ(r.status, 422) << r.describe();
  const std::set<std::pair<std::int64_t, std::string>> expected = {
      {2, "digest_hour"}, {3, "weekly_day"},  {4, "reminder_offsets"}, {5, "reminder_offsets"},
      {6, "email"},       {7, "communities"}, {8, "communities"},      {9, "digest_hour"}, {10, "reminder_offsets"}};
  EXPECT_EQ(error_keys(r), expected) << r.describe();
  EXPECT_EQ(snapshot(), before);

  // Upper-case day names and delivery modes, "none" for no reminders.
  expect_summary(import_csv("email,name,weekly_day,reminder_offsets,communities\n"
                            "i@example.org,I,Sunday,none,rust-users:Daily\n"),
                 1, 0, 0, 1, 0);
  EXPECT_EQ(text("SELECT weekly_day || '|' || cardinality(reminder_offsets) FROM members WHERE email = 'i@example.org'"),
            "7|0");
  EXPECT_EQ(delivery("i@example.org", "rust-users"), "daily");
}

TEST_F(ImportTest, QuotedFieldsCommasEscapesAndCrlfParse) {
  const std::string csv =
      "\xEF\xBB\xBF"  // a byte-order mark, as spreadsheets write it
      "email,name,communities\r\n"
      "\"lovelace@example.org\",\"Lovelace, Ada \"\"Countess\"\"\",\"data-science:daily;rust-users:weekly\"\r\n"
      "\r\n"
      "babbage@example.org, \"Babbage, Charles\" ,ux-research:none\r\n"
      "\"hopper@example.org\",\"Grace Brewster Murray Hopper\",";  // no line end at the end of the file
  const auto r = import_csv(csv);
  expect_summary(r, 3, 0, 0, 3, 0);
  EXPECT_EQ(text("SELECT name FROM members WHERE email = 'lovelace@example.org'"), "Lovelace, Ada \"Countess\"");
  EXPECT_EQ(text("SELECT name FROM members WHERE email = 'babbage@example.org'"), "Babbage, Charles");
  EXPECT_EQ(text("SELECT name FROM members WHERE email = 'hopper@example.org'"), "Grace Brewster Murray Hopper");
  EXPECT_EQ(delivery("lovelace@example.org", "data-science"), "daily");
  EXPECT_EQ(delivery("lovelace@example.org", "rust-users"), "weekly");
  EXPECT_EQ(delivery("babbage@example.org", "ux-research"), "none");
}

TEST_F(ImportTest, LineNumbersArePhysicalLinesWhereRecordsStart) {
  const auto before = snapshot();
  const std::string csv =
      "email,name,time_zone\r\n"            // 1
      "\r\n"                                // 2 (blank)
      "m1@example.org,\"Two\r\nlines\",\r\n"  // 3-4: a line break inside a quoted name
      "m2@example.org,M2,Nowhere/Zone\r\n"  // 5
      "m3@example.org,M3\r\n"               // 6: a field short
      "m4@example.org,\"M\"4,\r\n";         // 7: text after a closing quote
  const auto r = import_csv(csv);
  ASSERT_EQ(r.status, 400) << r.describe();  // lines 6 and 7 cannot be read as CSV
  const std::set<std::pair<std::int64_t, std::string>> expected = {{3, "name"}, {5, "time_zone"}, {6, ""}, {7, ""}};
  EXPECT_EQ(error_keys(r), expected) << r.describe();
  EXPECT_NE(message_for(r, 3, "name").find("single line"), std::string::npos) << r.describe();
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ImportTest, InvalidUtf8AndNulAreRefused) {
  const auto before = snapshot();
  {
    const auto r = import_csv("email,name\nok@example.org,Ok\ncafe@example.org,Caf\xE9\n");  // Latin-1 é
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_EQ(r.content_type, "application/problem+json");
    const std::set<std::pair<std::int64_t, std::string>> expected = {{3, "name"}};
    EXPECT_EQ(error_keys(r), expected) << r.describe();
    EXPECT_NE(message_for(r, 3, "name").find("UTF-8"), std::string::npos) << r.describe();
  }
  {
    static const char with_nul[] = "email,name\nnul@example.org,N\0L\n";
    const auto r = import_csv(std::string(with_nul, sizeof with_nul - 1));
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_NE(message_for(r, 2, "name").find("NUL"), std::string::npos) << r.describe();
  }
  {
    // An overlong encoding of '/' and a UTF-16 surrogate are not UTF-8 either.
    EXPECT_EQ(import_csv("email,name\nx@example.org,\xC0\xAF\n").status, 400);
    EXPECT_EQ(import_csv("email,name\nx@example.org,\xED\xA0\x80\n").status, 400);
  }
  {
    const auto r = import_csv(std::string("\xFF\xFE" "e\0m\0", 6));
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_NE(r.body.find("UTF-16"), std::string::npos) << r.describe();
  }
  EXPECT_EQ(snapshot(), before);
  // Real UTF-8 is fine.
  expect_summary(import_csv("email,name\njose@example.org,Jos\xC3\xA9 \xE5\xB1\xB1\xE7\x94\xB0 \xF0\x9F\x8E\x89\n"), 1,
                 0, 0, 0, 0);
  EXPECT_EQ(text("SELECT name FROM members WHERE email = 'jose@example.org'"), "Jos\xC3\xA9 \xE5\xB1\xB1\xE7\x94\xB0 \xF0\x9F\x8E\x89");
}

TEST_F(ImportTest, HeaderProblems) {
  const auto before = snapshot();
  {
    const auto r = import_csv("email,time_zone\na@example.org,UTC\n");
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_EQ(error_keys(r), (std::set<std::pair<std::int64_t, std::string>>{{1, "name"}})) << r.describe();
  }
  {
    const auto r = import_csv("email,name,emial,name\na@example.org,A,x,A\n");
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_EQ(error_keys(r), (std::set<std::pair<std::int64_t, std::string>>{{1, "emial"}, {1, "name"}})) << r.describe();
  }
  {
    const auto r = import_csv("");
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_NE(r.body.find("header"), std::string::npos) << r.describe();
  }
  {
    const auto r = import_csv("email,name\n\"a@example.org,A\n");
    ASSERT_EQ(r.status, 400) << r.describe();
    EXPECT_NE(r.body.find("closing double quote"), std::string::npos) << r.describe();
  }
  EXPECT_EQ(snapshot(), before);
  // A header alone is an empty import.
  expect_summary(import_csv("Email , NAME\r\n"), 0, 0, 0, 0, 0);
}

TEST_F(ImportTest, SlugsAreMatchedExactly) {
  const auto r = import_csv("email,name,communities\na@example.org,A,RUST-USERS:daily\n");
  ASSERT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(error_keys(r), (std::set<std::pair<std::int64_t, std::string>>{{2, "communities"}})) << r.describe();
}

TEST_F(ImportTest, OnlyAdminsImport) {
  const auto member = make_member("member@example.org");
  const auto committee = make_member("committee@example.org");
  grant_global(committee, "committee");
  const auto before = snapshot();
  const std::string csv = "email,name\nnew@example.org,New\n";
  EXPECT_EQ(import_csv(csv, token_for(member)).status, 403);
  EXPECT_EQ(import_csv(csv, token_for(committee)).status, 403);
  EXPECT_EQ(import_csv(csv, "").status, 401);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ImportTest, ContentTypeMustBeCsv) {
  const auto before = snapshot();
  const std::string csv = "email,name\nnew@example.org,New\n";
  for (const std::string type : {"application/json", "text/plain", "text/csv; charset=iso-8859-1"}) {
    const auto r = import_csv(csv, admin_token, type);
    EXPECT_EQ(r.status, 415) << type << ": " << r.describe();
    EXPECT_EQ(r.content_type, "application/problem+json") << type;
  }
  EXPECT_EQ(snapshot(), before);
  expect_summary(import_csv(csv, admin_token, "text/csv; charset=UTF-8"), 1, 0, 0, 0, 0);
}

TEST_F(ImportTest, AtMostOneHundredThousandRows) {
  std::string csv = "email,name\n";
  for (int i = 0; i <= 100000; ++i) csv.append("m").append(std::to_string(i)).append("@example.org,M\n");
  const auto before = snapshot();
  const auto r = import_csv(csv);
  EXPECT_EQ(r.status, 413) << r.describe();
  EXPECT_NE(r.body.find("100000 rows"), std::string::npos) << r.describe();
  EXPECT_EQ(snapshot(), before);
  // The core function, as the CLI calls it.
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  const auto result = convene::api::import_members(tx, csv, {"2026-11-28T12:00:00Z", "Europe/London", std::nullopt});
  EXPECT_EQ(result.outcome, convene::api::ImportOutcome::too_large);
  EXPECT_NE(result.detail.find("100000"), std::string::npos) << result.detail;
  EXPECT_NE(result.detail.find("line 100002"), std::string::npos) << result.detail;
}

TEST_F(ImportTest, TheCoreFunctionReportsLinesAndFieldsForTheCli) {
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  const auto result = convene::api::import_members(
      tx, "email,name,communities\nok@example.org,Ok,\nbad,Bad,nope:daily\n", {"2026-11-28T12:00:00Z", "UTC", std::nullopt});
  ASSERT_EQ(result.outcome, convene::api::ImportOutcome::invalid) << result.detail;
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.error_count, 2u);
  EXPECT_EQ(result.errors[0].line, 3u);
  EXPECT_EQ(result.errors[0].field, "email");
  EXPECT_EQ(result.errors[1].line, 3u);
  EXPECT_EQ(result.errors[1].field, "communities");
  EXPECT_EQ(tx.exec("SELECT count(*) FROM members WHERE email = 'ok@example.org'")[0][0].as<int>(), 0);
}

}  // namespace
