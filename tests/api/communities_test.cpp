// The directory and the life of a community over the real HTTP API: search and pagination,
// create, refocus, archive, split, merge, memberships, join-all, roles and topics. Every test
// checks the status, the JSON body and what the database holds afterwards.
#include "support/api_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using convene::testing::ApiResponse;
using convene::testing::ApiTest;
namespace json = boost::json;

namespace {

std::string body(const json::object& o) { return json::serialize(o); }

std::vector<std::string> slugs_of(const json::value& page) {
  std::vector<std::string> out;
  for (const auto& item : page.at("items").as_array()) out.emplace_back(item.at("slug").as_string());
  return out;
}

std::vector<std::string> strings_of(const json::value& array) {
  std::vector<std::string> out;
  for (const auto& v : array.as_array()) out.emplace_back(v.as_string());
  return out;
}

}  // namespace

class CommunitiesTest : public ApiTest {
 protected:
  // One value from the test database, as text ("" for NULL).
  std::string scalar(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    const auto rows = tx.exec(sql);
    if (rows.empty() || rows[0][0].is_null()) return "";
    return rows[0][0].as<std::string>();
  }
  void exec(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }
  json::value payload(const std::string& sql) { return json::parse(scalar(sql)); }

  ApiResponse put(const std::string& path, const std::string& token, const json::object& o) {
    return request("PUT", path, token, body(o));
  }
  ApiResponse patch(const std::string& path, const std::string& token, const json::object& o) {
    return request("PATCH", path, token, body(o));
  }
  ApiResponse del(const std::string& path, const std::string& token) { return request("DELETE", path, token); }

  ApiResponse create(const std::string& slug, const std::string& name, const std::string& description = "") {
    return post("/v1/communities", admin_token,
                body({{"slug", slug}, {"name", name}, {"description", description}}));
  }
  std::string id_of(const std::string& slug) { return scalar("SELECT id FROM communities WHERE slug = '" + slug + "'"); }

  // Joins through the API as the member themselves.
  void join(std::int64_t member, const std::string& token, const std::string& slug, const std::string& delivery) {
    const auto r = put("/v1/communities/" + slug + "/members/" + std::to_string(member), token, {{"delivery", delivery}});
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.describe();
  }
  std::string delivery_of(std::int64_t member, const std::string& slug) {
    return scalar("SELECT delivery FROM memberships WHERE member_id = " + std::to_string(member) +
                  " AND community_id = (SELECT id FROM communities WHERE slug = '" + slug + "')");
  }
  long long memberships_of(const std::string& slug) {
    return count("SELECT count(*) FROM memberships WHERE community_id = (SELECT id FROM communities WHERE slug = '" + slug +
                 "')");
  }
  // A queued notification for (member, community) in `state`; returns its dedupe key.
  std::string queue_notification(std::int64_t member, const std::string& slug, const std::string& state,
                                 const std::string& key) {
    exec("INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, state, due_at, "
         "created_at) SELECT notification_id('" + key + "'), '" + key + "', " + std::to_string(member) +
         ", id, 'email', 'topic.posted', 'x@example.org', '" +
         state + "', '2026-11-29T07:00:00Z', '2026-11-28T11:00:00Z' FROM communities WHERE slug = '" + slug + "'");
    return key;
  }
  std::string state_of(const std::string& key) {
    return scalar("SELECT state FROM notifications WHERE dedupe_key = '" + key + "'");
  }
  long long events(const std::string& kind) { return count("SELECT count(*) FROM events WHERE kind = '" + kind + "'"); }
};

// ---------------------------------------------------------------------------------------------
// Directory: search and pagination

TEST_F(CommunitiesTest, SearchMatchesSlugNameAndDescriptionCaseInsensitively) {
  ASSERT_EQ(create("data-science", "Data Science", "Statistics and Machine Learning").status, 201);
  ASSERT_EQ(create("urban-planning", "Urban Planning", "Cities, housing and transport").status, 201);
  ASSERT_EQ(create("ml-ops", "Operations", "deploying MACHINE learning models").status, 201);
  ASSERT_EQ(create("gardening", "Gardening", "").status, 201);

  // By description, in any case.
  auto r = get("/v1/communities?q=machine", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 2);
  auto found = slugs_of(r.json);
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, (std::vector<std::string>{"data-science", "ml-ops"}));

  // By name, upper-case query.
  r = get("/v1/communities?q=URBAN", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 1);
  EXPECT_EQ(slugs_of(r.json), std::vector<std::string>{"urban-planning"});

  // By slug only ("ml-ops" is in no name or description).
  r = get("/v1/communities?q=ML-OPS", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(slugs_of(r.json), std::vector<std::string>{"ml-ops"});

  // A phrase with a space, by description.
  r = get("/v1/communities?q=Machine%20Learning", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 2);

  // No match: total 0 and no items.
  r = get("/v1/communities?q=astronomy", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 0);
  EXPECT_TRUE(r.json.at("items").as_array().empty());

  // LIKE wildcards in the query are literal characters, not patterns.
  for (const char* wildcard : {"%25", "_"}) {
    r = get(std::string("/v1/communities?q=") + wildcard, admin_token);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.json.at("total").as_int64(), 0) << wildcard << ": " << r.body;
  }

  // No q: everything.
  r = get("/v1/communities", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 4);
  EXPECT_EQ(r.json.at("items").as_array().size(), 4u);
}

TEST_F(CommunitiesTest, EmptyDirectoryReportsTotalZero) {
  auto r = get("/v1/communities?q=anything&page=1&per_page=10", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 0);
  EXPECT_TRUE(r.json.at("items").as_array().empty());
  r = get("/v1/communities", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 0);
}

TEST_F(CommunitiesTest, PaginationReportsTheExactTotalOnEveryPage) {
  for (int i = 1; i <= 7; ++i) make_community("cop-0" + std::to_string(i), "Community 0" + std::to_string(i));
  make_community("other", "Zeta");

  std::vector<std::string> seen;
  const std::vector<std::size_t> sizes{3, 3, 1, 0};
  for (int page = 1; page <= 4; ++page) {
    const auto r = get("/v1/communities?q=cop&per_page=3&page=" + std::to_string(page), admin_token);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.json.at("total").as_int64(), 7) << "page " << page;
    EXPECT_EQ(r.json.at("page").as_int64(), page);
    EXPECT_EQ(r.json.at("per_page").as_int64(), 3);
    EXPECT_EQ(r.json.at("items").as_array().size(), sizes[page - 1]) << "page " << page;
    for (const auto& s : slugs_of(r.json)) seen.push_back(s);
  }
  // Every community exactly once across the pages, in a stable order.
  EXPECT_EQ(seen, (std::vector<std::string>{"cop-01", "cop-02", "cop-03", "cop-04", "cop-05", "cop-06", "cop-07"}));

  // Without a filter the total counts all eight.
  auto r = get("/v1/communities?per_page=5&page=2", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 8);
  EXPECT_EQ(r.json.at("items").as_array().size(), 3u);

  // Archived communities leave the default directory and its total.
  ASSERT_EQ(post("/v1/communities/cop-03/archive", admin_token).status, 200);
  r = get("/v1/communities?q=cop&per_page=3&page=3", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("total").as_int64(), 6);
  EXPECT_TRUE(r.json.at("items").as_array().empty());
  r = get("/v1/communities?q=cop&status=all", admin_token);
  EXPECT_EQ(r.json.at("total").as_int64(), 7);
  r = get("/v1/communities?status=archived", admin_token);
  EXPECT_EQ(slugs_of(r.json), std::vector<std::string>{"cop-03"});

  // A bad page number is refused.
  EXPECT_EQ(get("/v1/communities?page=0", admin_token).status, 422);
  EXPECT_EQ(get("/v1/communities?per_page=201", admin_token).status, 422);
}

// ---------------------------------------------------------------------------------------------
// Create

TEST_F(CommunitiesTest, CreateAnswers201AndMakesTheCurrentYearsAnnualPlaceholder) {
  const auto r = post("/v1/communities", admin_token,
                      body({{"slug", "data-science"},
                            {"name", "Data Science"},
                            {"description", "Numbers"},
                            {"visibility", "members"}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("slug").as_string(), "data-science");
  EXPECT_EQ(r.json.at("name").as_string(), "Data Science");
  EXPECT_EQ(r.json.at("description").as_string(), "Numbers");
  EXPECT_EQ(r.json.at("status").as_string(), "active");
  EXPECT_EQ(r.json.at("visibility").as_string(), "members");
  EXPECT_EQ(r.json.at("time_zone").as_string(), "Europe/London");  // the organisation's by default
  EXPECT_EQ(r.json.at("member_count").as_int64(), 0);
  const auto id = std::to_string(r.json.at("id").as_int64());

  EXPECT_EQ(count("SELECT count(*) FROM communities WHERE slug = 'data-science' AND status = 'active'"), 1);
  // The clock says 2026-11-28, after this year's window: next year's annual meeting exists
  // as a TBD placeholder (and no placeholder in the past).
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE community_id = " + id +
                  " AND kind = 'annual' AND annual_year = 2027 AND status = 'tentative' AND all_day "
                  "AND title LIKE '%(date and time TBD)'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE community_id = " + id), 1);
}

TEST_F(CommunitiesTest, CreateInANewYearMakesThatYearsPlaceholder) {
  using namespace std::chrono;
  clock.set(convene::calendar::Instant{sys_days{2027y / March / 1}.time_since_epoch() + 9h});
  const auto id = std::to_string(make_community("gardening", "Gardening"));
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE community_id = " + id + " AND kind = 'annual' AND annual_year = 2027"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE community_id = " + id + " AND annual_year = 2026"), 0);
}

TEST_F(CommunitiesTest, DuplicateSlugIsAConflictAndChangesNothing) {
  make_community("data-science", "Data Science");
  const auto meetings_before = count("SELECT count(*) FROM meetings");
  auto r = create("data-science", "Another Data Science");
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(count("SELECT count(*) FROM communities"), 1);
  EXPECT_EQ(scalar("SELECT name FROM communities WHERE slug = 'data-science'"), "Data Science");
  EXPECT_EQ(count("SELECT count(*) FROM meetings"), meetings_before);

  // An archived community keeps its slug.
  ASSERT_EQ(post("/v1/communities/data-science/archive", admin_token).status, 200);
  r = create("data-science", "Revived");
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM communities"), 1);
}

// ---------------------------------------------------------------------------------------------
// Refocus

TEST_F(CommunitiesTest, RefocusWritesExactlyOneUpdatedEventWithOldAndNewValues) {
  ASSERT_EQ(create("data-science", "Data Science", "Numbers").status, 201);
  const auto id = id_of("data-science");

  auto r = patch("/v1/communities/data-science", admin_token,
                 {{"name", "Data & AI"}, {"description", "Numbers and models"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("name").as_string(), "Data & AI");
  EXPECT_EQ(r.json.at("description").as_string(), "Numbers and models");
  EXPECT_EQ(scalar("SELECT name FROM communities WHERE id = " + id), "Data & AI");
  EXPECT_EQ(scalar("SELECT description FROM communities WHERE id = " + id), "Numbers and models");

  ASSERT_EQ(events("community.updated"), 1);
  EXPECT_EQ(scalar("SELECT community_id FROM events WHERE kind = 'community.updated'"), id);
  const auto p = payload("SELECT payload FROM events WHERE kind = 'community.updated'");
  EXPECT_EQ(p.at("name").as_string(), "Data & AI");
  EXPECT_EQ(p.at("description").as_string(), "Numbers and models");
  EXPECT_EQ(p.at("previous_name").as_string(), "Data Science");
  EXPECT_EQ(p.at("previous_description").as_string(), "Numbers");
  EXPECT_EQ(p.at("community").as_string(), "data-science");

  // The same values again, or an empty patch, change nothing: no event.
  r = patch("/v1/communities/data-science", admin_token, {{"name", "Data & AI"}, {"description", "Numbers and models"}});
  EXPECT_EQ(r.status, 200) << r.describe();
  r = patch("/v1/communities/data-science", admin_token, json::object{});
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(events("community.updated"), 1);

  // Only the description: one more event, whose previous name equals the name.
  r = patch("/v1/communities/data-science", admin_token, {{"description", "Models"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(events("community.updated"), 2);
  const auto q = payload("SELECT payload FROM events WHERE kind = 'community.updated' ORDER BY id DESC LIMIT 1");
  EXPECT_EQ(q.at("name").as_string(), "Data & AI");
  EXPECT_EQ(q.at("previous_name").as_string(), "Data & AI");
  EXPECT_EQ(q.at("description").as_string(), "Models");
  EXPECT_EQ(q.at("previous_description").as_string(), "Numbers and models");
}

TEST_F(CommunitiesTest, RefocusByAnOrdinaryMemberIsForbiddenAndChangesNothing) {
  make_community("data-science", "Data Science");
  const auto member = make_member("ada@example.org");
  const auto r = patch("/v1/communities/data-science", token_for(member), {{"name", "Hijacked"}});
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(scalar("SELECT name FROM communities WHERE slug = 'data-science'"), "Data Science");
  EXPECT_EQ(events("community.updated"), 0);
}

// ---------------------------------------------------------------------------------------------
// Archive

TEST_F(CommunitiesTest, ArchiveCancelsOnlyItsPendingNotificationsAndReleasesItsFutureBookings) {
  make_community("old", "Old");
  make_community("other", "Other");
  const auto room = std::to_string(make_room("Room-A"));
  const auto coordinator = make_member("coord@example.org");
  grant(coordinator, "old", "meeting_coordinator");
  grant(coordinator, "other", "meeting_coordinator");
  const auto coord = token_for(coordinator);
  // A weekly series of "old" and a one-off of "other" in the same room.
  auto r = post("/v1/communities/old/meetings", coord,
                body({{"title", "Weekly"}, {"start", "2026-12-01T10:00"}, {"end", "2026-12-01T11:00"},
                      {"rrule", "FREQ=WEEKLY;COUNT=10"}, {"room_id", std::stoll(room)}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  r = post("/v1/communities/other/meetings", coord,
           body({{"title", "One-off"}, {"start", "2026-12-01T12:00"}, {"end", "2026-12-01T13:00"},
                 {"room_id", std::stoll(room)}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  ASSERT_EQ(count("SELECT count(*) FROM room_bookings"), 11);

  const auto x = make_member("x@example.org"), y = make_member("y@example.org");
  join(x, token_for(x), "old", "realtime");
  join(y, token_for(y), "other", "realtime");
  const auto old1 = queue_notification(x, "old", "pending", "old-1");
  const auto old2 = queue_notification(y, "old", "pending", "old-2");
  const auto old_sent = queue_notification(x, "old", "sent", "old-sent");
  const auto other1 = queue_notification(y, "other", "pending", "other-1");
  const auto other2 = queue_notification(x, "other", "pending", "other-2");

  r = post("/v1/communities/old/archive", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("status").as_string(), "archived");
  EXPECT_TRUE(r.json.at("archived_at").is_string());
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'old'"), "archived");
  EXPECT_EQ(count("SELECT count(*) FROM communities WHERE slug = 'old' AND archived_at = '2026-11-28T12:00:00Z'"), 1);

  EXPECT_EQ(state_of(old1), "cancelled");
  EXPECT_EQ(state_of(old2), "cancelled");
  EXPECT_EQ(state_of(old_sent), "sent");
  EXPECT_EQ(state_of(other1), "pending");
  EXPECT_EQ(state_of(other2), "pending");

  // Its future bookings are gone; the other community's booking stays.
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings b JOIN meetings m ON m.id = b.meeting_id "
                  "JOIN communities c ON c.id = m.community_id WHERE c.slug = 'old'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings b JOIN meetings m ON m.id = b.meeting_id "
                  "JOIN communities c ON c.id = m.community_id WHERE c.slug = 'other'"),
            1);
  r = get("/v1/rooms/" + room + "/bookings?from=2026-11-28&to=2027-03-01", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(r.json.at("bookings").as_array().size(), 1u) << r.body;
  EXPECT_EQ(r.json.at("bookings").as_array()[0].at("community").as_string(), "other");

  // The freed slot can be booked again by someone else.
  r = post("/v1/communities/other/meetings", coord,
           body({{"title", "Takes the slot"}, {"start", "2026-12-08T10:00"}, {"end", "2026-12-08T11:00"},
                 {"room_id", std::stoll(room)}}));
  EXPECT_EQ(r.status, 201) << r.describe();

  // Nobody joins an archived community; nothing is written.
  const auto z = make_member("z@example.org");
  const auto joined_before = events("member.joined");
  r = put("/v1/communities/old/members/" + std::to_string(z), token_for(z), {{"delivery", "daily"}});
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(memberships_of("old"), 1);
  EXPECT_EQ(events("member.joined"), joined_before);
  // Changing an existing membership of an archived community is refused too.
  r = put("/v1/communities/old/members/" + std::to_string(x), token_for(x), {{"delivery", "daily"}});
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(delivery_of(x, "old"), "realtime");

  // Refocusing an archived community is refused; archiving again is harmless.
  r = patch("/v1/communities/old", admin_token, {{"name", "New name"}});
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(scalar("SELECT name FROM communities WHERE slug = 'old'"), "Old");
  r = post("/v1/communities/old/archive", admin_token);
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM communities WHERE slug = 'old' AND archived_at = '2026-11-28T12:00:00Z'"), 1);
}

TEST_F(CommunitiesTest, AnArchivedCommunitysMeetingsCannotTakeRoomsAgain) {
  make_community("old", "Old");
  const auto room = make_room("Room-A");
  const auto coordinator = make_member("coord@example.org");
  grant(coordinator, "old", "meeting_coordinator");
  const auto coord = token_for(coordinator);
  auto r = post("/v1/communities/old/meetings", coord,
                body({{"title", "Weekly"}, {"start", "2026-12-01T10:00"}, {"end", "2026-12-01T11:00"},
                      {"rrule", "FREQ=WEEKLY;COUNT=10"}, {"room_id", room}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  const auto weekly = std::to_string(r.json.at("id").as_int64());
  ASSERT_EQ(post("/v1/communities/old/archive", admin_token).status, 200);
  ASSERT_EQ(count("SELECT count(*) FROM room_bookings"), 0);

  // Editing the series, or moving one occurrence, would book the room again: refused like
  // creating a meeting in an archived community.
  r = request("PATCH", "/v1/meetings/" + weekly, coord, body({{"title", "Weekly again"}}));
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(scalar("SELECT title FROM meetings WHERE id = " + weekly), "Weekly");
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings"), 0);
  r = request("PATCH", "/v1/meetings/" + weekly + "/occurrences/2026-12-15T10:00", coord,
              body({{"start", "2026-12-16T10:00"}, {"end", "2026-12-16T11:00"}}));
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM meeting_exceptions"), 0);
  r = post("/v1/communities/old/meetings", coord,
           body({{"title", "New"}, {"start", "2027-01-01T10:00"}, {"end", "2027-01-01T11:00"}, {"room_id", room}}));
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings"), 0);
}

TEST_F(CommunitiesTest, ArchiveIsForTheCommitteeOnly) {
  make_community("old", "Old");
  const auto member = make_member("m@example.org");
  auto r = post("/v1/communities/old/archive", token_for(member));
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'old'"), "active");
  const auto committee = make_member("c@example.org");
  grant_global(committee, "committee");
  r = post("/v1/communities/old/archive", token_for(committee));
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'old'"), "archived");
  EXPECT_EQ(post("/v1/communities/nope/archive", admin_token).status, 404);
}

// ---------------------------------------------------------------------------------------------
// Split

TEST_F(CommunitiesTest, SplitWithCopyKeepsTheSourceAndCopiesEveryMembershipWithItsDelivery) {
  make_community("science", "Science");
  const auto x = make_member("x@example.org"), y = make_member("y@example.org"), z = make_member("z@example.org");
  join(x, token_for(x), "science", "realtime");
  join(y, token_for(y), "science", "daily");
  join(z, token_for(z), "science", "none");

  const auto r = post("/v1/communities/science/split", admin_token,
                      body({{"into", json::array{json::object{{"slug", "biology"}, {"name", "Biology"}},
                                                 json::object{{"slug", "chemistry"}, {"name", "Chemistry"},
                                                              {"description", "Molecules"}}}},
                            {"members", "copy"}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("source").at("status").as_string(), "active");
  EXPECT_EQ(strings_of(r.json.at("source").at("successors")), (std::vector<std::string>{"biology", "chemistry"}));
  ASSERT_EQ(r.json.at("into").as_array().size(), 2u);
  for (const auto& c : r.json.at("into").as_array()) {
    EXPECT_EQ(strings_of(c.at("predecessors")), std::vector<std::string>{"science"});
    EXPECT_EQ(c.at("member_count").as_int64(), 3);
  }

  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'science'"), "active");
  EXPECT_EQ(memberships_of("science"), 3);
  for (const char* slug : {"biology", "chemistry"}) {
    EXPECT_EQ(scalar(std::string("SELECT status FROM communities WHERE slug = '") + slug + "'"), "active");
    EXPECT_EQ(memberships_of(slug), 3) << slug;
    EXPECT_EQ(delivery_of(x, slug), "realtime") << slug;
    EXPECT_EQ(delivery_of(y, slug), "daily") << slug;
    EXPECT_EQ(delivery_of(z, slug), "none") << slug;
    EXPECT_EQ(count(std::string("SELECT count(*) FROM community_successors s JOIN communities p ON p.id = s.predecessor_id "
                                "JOIN communities n ON n.id = s.successor_id WHERE p.slug = 'science' AND n.slug = '") +
                    slug + "' AND s.relation = 'split'"),
              1)
        << slug;
    // The new communities have their annual placeholder like any other.
    EXPECT_EQ(count(std::string("SELECT count(*) FROM meetings m JOIN communities c ON c.id = m.community_id "
                                "WHERE c.slug = '") +
                    slug + "' AND m.kind = 'annual' AND m.annual_year = 2027"),
              1);
  }
  EXPECT_EQ(count("SELECT count(*) FROM community_successors"), 2);
  EXPECT_EQ(scalar("SELECT description FROM communities WHERE slug = 'chemistry'"), "Molecules");
  ASSERT_EQ(events("community.split"), 1);
  EXPECT_EQ(scalar("SELECT community_id FROM events WHERE kind = 'community.split'"), id_of("science"));

  const auto g = get("/v1/communities/science", admin_token);
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(strings_of(g.json.at("successors")), (std::vector<std::string>{"biology", "chemistry"}));
}

TEST_F(CommunitiesTest, SplitWithMoveArchivesTheSource) {
  make_community("science", "Science");
  const auto x = make_member("x@example.org"), y = make_member("y@example.org");
  join(x, token_for(x), "science", "weekly");
  join(y, token_for(y), "science", "realtime");
  const auto queued = queue_notification(x, "science", "pending", "science-1");

  const auto r = post("/v1/communities/science/split", admin_token,
                      body({{"into", json::array{json::object{{"slug", "biology"}, {"name", "Biology"}},
                                                 json::object{{"slug", "physics"}, {"name", "Physics"}}}},
                            {"members", "move"}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("source").at("status").as_string(), "archived");
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'science'"), "archived");
  EXPECT_EQ(state_of(queued), "cancelled");
  for (const char* slug : {"biology", "physics"}) {
    EXPECT_EQ(scalar(std::string("SELECT status FROM communities WHERE slug = '") + slug + "'"), "active");
    EXPECT_EQ(memberships_of(slug), 2);
    EXPECT_EQ(delivery_of(x, slug), "weekly");
    EXPECT_EQ(delivery_of(y, slug), "realtime");
  }
  EXPECT_EQ(count("SELECT count(*) FROM community_successors WHERE relation = 'split' AND predecessor_id = " +
                  id_of("science")),
            2);
  EXPECT_EQ(events("community.split"), 1);
}

TEST_F(CommunitiesTest, SplitIntoATakenSlugChangesNothing) {
  make_community("science", "Science");
  make_community("physics", "Physics");
  const auto x = make_member("x@example.org");
  join(x, token_for(x), "science", "weekly");
  const auto communities_before = count("SELECT count(*) FROM communities");
  const auto r = post("/v1/communities/science/split", admin_token,
                      body({{"into", json::array{json::object{{"slug", "biology"}, {"name", "Biology"}},
                                                 json::object{{"slug", "physics"}, {"name", "Physics 2"}}}},
                            {"members", "move"}}));
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM communities"), communities_before);
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'science'"), "active");
  EXPECT_EQ(count("SELECT count(*) FROM community_successors"), 0);
  EXPECT_EQ(events("community.split"), 0);
}

// ---------------------------------------------------------------------------------------------
// Merge

TEST_F(CommunitiesTest, MergeIntoANewCommunityKeepsEachMembersStrongestDeliveryOnce) {
  make_community("alpha", "Alpha");
  make_community("beta", "Beta");
  const auto x = make_member("x@example.org"), y = make_member("y@example.org"), z = make_member("z@example.org");
  const auto tx = token_for(x), ty = token_for(y), tz = token_for(z);
  join(x, tx, "alpha", "realtime");
  join(y, ty, "alpha", "weekly");
  join(x, tx, "beta", "weekly");
  join(z, tz, "beta", "daily");
  join(y, ty, "beta", "none");
  const auto queued = queue_notification(y, "alpha", "pending", "alpha-1");

  const auto r = post("/v1/communities/merge", admin_token,
                      body({{"from", json::array{"alpha", "beta"}},
                            {"into", json::object{{"slug", "gamma"}, {"name", "Gamma"}, {"description", "A and B"}}}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("slug").as_string(), "gamma");
  EXPECT_EQ(r.json.at("status").as_string(), "active");
  EXPECT_EQ(r.json.at("member_count").as_int64(), 3);
  EXPECT_EQ(strings_of(r.json.at("predecessors")), (std::vector<std::string>{"alpha", "beta"}));

  EXPECT_EQ(memberships_of("gamma"), 3);
  EXPECT_EQ(delivery_of(x, "gamma"), "realtime");
  EXPECT_EQ(delivery_of(y, "gamma"), "weekly");
  EXPECT_EQ(delivery_of(z, "gamma"), "daily");
  for (const char* slug : {"alpha", "beta"}) {
    EXPECT_EQ(scalar(std::string("SELECT status FROM communities WHERE slug = '") + slug + "'"), "archived") << slug;
    const auto g = get(std::string("/v1/communities/") + slug, admin_token);
    ASSERT_EQ(g.status, 200) << g.describe();
    EXPECT_EQ(strings_of(g.json.at("successors")), std::vector<std::string>{"gamma"}) << slug;
  }
  EXPECT_EQ(count("SELECT count(*) FROM community_successors WHERE relation = 'merge' AND successor_id = " + id_of("gamma")),
            2);
  EXPECT_EQ(state_of(queued), "cancelled");
  ASSERT_EQ(events("community.merged"), 1);
  EXPECT_EQ(scalar("SELECT community_id FROM events WHERE kind = 'community.merged'"), id_of("gamma"));
  // The new community has its annual placeholder.
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND community_id = " + id_of("gamma")), 1);
}

TEST_F(CommunitiesTest, MergeIntoOneOfTheSources) {
  ASSERT_EQ(create("alpha", "Alpha", "Where it all started").status, 201);
  make_community("beta", "Beta");
  const auto x = make_member("x@example.org"), y = make_member("y@example.org"), z = make_member("z@example.org");
  const auto tx = token_for(x), ty = token_for(y), tz = token_for(z);
  join(x, tx, "alpha", "weekly");
  join(y, ty, "alpha", "none");
  join(x, tx, "beta", "realtime");
  join(y, ty, "beta", "daily");
  join(z, tz, "beta", "none");
  const auto alpha_id = id_of("alpha");

  const auto r = post("/v1/communities/merge", admin_token,
                      body({{"from", json::array{"alpha", "beta"}},
                            {"into", json::object{{"slug", "alpha"}, {"name", "Alpha and Beta"}}}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("id").as_int64(), std::stoll(alpha_id));
  EXPECT_EQ(r.json.at("name").as_string(), "Alpha and Beta");
  EXPECT_EQ(r.json.at("status").as_string(), "active");

  EXPECT_EQ(count("SELECT count(*) FROM communities"), 2);  // nothing new
  // `into` named no description: the surviving community keeps its own.
  EXPECT_EQ(scalar("SELECT description FROM communities WHERE slug = 'alpha'"), "Where it all started");
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'alpha'"), "active");
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'beta'"), "archived");
  EXPECT_EQ(memberships_of("alpha"), 3);
  EXPECT_EQ(delivery_of(x, "alpha"), "realtime");
  EXPECT_EQ(delivery_of(y, "alpha"), "daily");
  EXPECT_EQ(delivery_of(z, "alpha"), "none");
  EXPECT_EQ(count("SELECT count(*) FROM community_successors"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM community_successors WHERE predecessor_id = " + id_of("beta") +
                  " AND successor_id = " + alpha_id + " AND relation = 'merge'"),
            1);
  EXPECT_EQ(events("community.merged"), 1);
}

TEST_F(CommunitiesTest, MergeWithAnArchivedOrUnknownSourceChangesNothing) {
  make_community("alpha", "Alpha");
  make_community("beta", "Beta");
  make_community("gone", "Gone");
  ASSERT_EQ(post("/v1/communities/gone/archive", admin_token).status, 200);
  auto r = post("/v1/communities/merge", admin_token,
                body({{"from", json::array{"alpha", "gone"}}, {"into", json::object{{"slug", "gamma"}, {"name", "G"}}}}));
  EXPECT_EQ(r.status, 409) << r.describe();
  r = post("/v1/communities/merge", admin_token,
           body({{"from", json::array{"alpha", "nope"}}, {"into", json::object{{"slug", "gamma"}, {"name", "G"}}}}));
  EXPECT_EQ(r.status, 404) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM communities"), 3);
  EXPECT_EQ(scalar("SELECT status FROM communities WHERE slug = 'alpha'"), "active");
  EXPECT_EQ(events("community.merged"), 0);
}

// ---------------------------------------------------------------------------------------------
// Memberships

TEST_F(CommunitiesTest, JoiningTwiceIsOneMembershipAndOneJoinedEvent) {
  make_community("data-science", "Data Science");
  const auto x = make_member("x@example.org");
  const auto tx = token_for(x);
  const auto path = "/v1/communities/data-science/members/" + std::to_string(x);

  auto r = put(path, tx, {{"delivery", "daily"}});
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("delivery").as_string(), "daily");
  EXPECT_EQ(r.json.at("community").as_string(), "data-science");
  r = put(path, tx, {{"delivery", "daily"}});
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(memberships_of("data-science"), 1);
  ASSERT_EQ(events("member.joined"), 1);
  const auto p = payload("SELECT payload FROM events WHERE kind = 'member.joined'");
  EXPECT_EQ(p.at("member_id").as_int64(), x);
  EXPECT_EQ(p.at("delivery").as_string(), "daily");

  // Changing the delivery mode is the same PUT: 200, no new joined event.
  r = put(path, tx, {{"delivery", "realtime"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("delivery").as_string(), "realtime");
  EXPECT_EQ(delivery_of(x, "data-science"), "realtime");
  EXPECT_EQ(memberships_of("data-science"), 1);
  EXPECT_EQ(events("member.joined"), 1);

  // A bad mode is refused and changes nothing.
  r = put(path, tx, {{"delivery", "hourly"}});
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(delivery_of(x, "data-science"), "realtime");

  // Another member cannot join or change x.
  const auto other = make_member("o@example.org");
  r = put(path, token_for(other), {{"delivery", "none"}});
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(delivery_of(x, "data-science"), "realtime");
}

TEST_F(CommunitiesTest, LeavingCancelsThatMembershipsPendingNotificationsOnlyAndIsIdempotent) {
  make_community("data-science", "Data Science");
  make_community("gardening", "Gardening");
  const auto x = make_member("x@example.org"), y = make_member("y@example.org");
  const auto tx = token_for(x);
  join(x, tx, "data-science", "realtime");
  join(x, tx, "gardening", "realtime");
  join(y, token_for(y), "data-science", "realtime");
  const auto mine1 = queue_notification(x, "data-science", "pending", "x-ds-1");
  const auto mine2 = queue_notification(x, "data-science", "pending", "x-ds-2");
  const auto mine_sent = queue_notification(x, "data-science", "sent", "x-ds-sent");
  const auto mine_elsewhere = queue_notification(x, "gardening", "pending", "x-g-1");
  const auto theirs = queue_notification(y, "data-science", "pending", "y-ds-1");

  const auto path = "/v1/communities/data-science/members/" + std::to_string(x);
  auto r = del(path, tx);
  EXPECT_EQ(r.status, 204) << r.describe();
  EXPECT_EQ(delivery_of(x, "data-science"), "");
  EXPECT_EQ(memberships_of("data-science"), 1);
  EXPECT_EQ(delivery_of(x, "gardening"), "realtime");
  EXPECT_EQ(state_of(mine1), "cancelled");
  EXPECT_EQ(state_of(mine2), "cancelled");
  EXPECT_EQ(state_of(mine_sent), "sent");
  EXPECT_EQ(state_of(mine_elsewhere), "pending");
  EXPECT_EQ(state_of(theirs), "pending");
  ASSERT_EQ(events("member.left"), 1);
  const auto p = payload("SELECT payload FROM events WHERE kind = 'member.left'");
  EXPECT_EQ(p.at("member_id").as_int64(), x);
  EXPECT_EQ(scalar("SELECT community_id FROM events WHERE kind = 'member.left'"), id_of("data-science"));

  // Leaving again: still 204, nothing more happens.
  r = del(path, tx);
  EXPECT_EQ(r.status, 204) << r.describe();
  EXPECT_EQ(events("member.left"), 1);
  EXPECT_EQ(memberships_of("data-science"), 1);

  // Rejoining is a fresh join.
  r = put(path, tx, {{"delivery", "weekly"}});
  EXPECT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(events("member.joined"), 4);
}

TEST_F(CommunitiesTest, JoinAllJoinsEveryActiveCommunityOnceAndKeepsExistingModes) {
  make_community("alpha", "Alpha");
  make_community("beta", "Beta");
  make_community("gamma", "Gamma");
  make_community("gone", "Gone");
  ASSERT_EQ(post("/v1/communities/gone/archive", admin_token).status, 200);
  const auto x = make_member("x@example.org");
  const auto tx = token_for(x);
  join(x, tx, "alpha", "weekly");
  ASSERT_EQ(events("member.joined"), 1);

  const auto path = "/v1/members/" + std::to_string(x) + "/join-all";
  auto r = post(path, tx, body({{"delivery", "realtime"}}));
  ASSERT_EQ(r.status, 200) << r.describe();
  auto joined = strings_of(r.json.at("joined"));
  std::sort(joined.begin(), joined.end());
  EXPECT_EQ(joined, (std::vector<std::string>{"beta", "gamma"}));
  EXPECT_EQ(count("SELECT count(*) FROM memberships WHERE member_id = " + std::to_string(x)), 3);
  EXPECT_EQ(delivery_of(x, "alpha"), "weekly");
  EXPECT_EQ(delivery_of(x, "beta"), "realtime");
  EXPECT_EQ(delivery_of(x, "gamma"), "realtime");
  EXPECT_EQ(delivery_of(x, "gone"), "");
  EXPECT_EQ(events("member.joined"), 3);

  // Again: nothing new.
  r = post(path, tx, body({{"delivery", "daily"}}));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(r.json.at("joined").as_array().empty()) << r.body;
  EXPECT_EQ(count("SELECT count(*) FROM memberships WHERE member_id = " + std::to_string(x)), 3);
  EXPECT_EQ(delivery_of(x, "beta"), "realtime");
  EXPECT_EQ(events("member.joined"), 3);

  // Someone else cannot join-all for x.
  const auto other = make_member("o@example.org");
  r = post("/v1/members/" + std::to_string(other) + "/join-all", tx, body({{"delivery", "daily"}}));
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM memberships WHERE member_id = " + std::to_string(other)), 0);
}

// ---------------------------------------------------------------------------------------------
// Roles and topics

TEST_F(CommunitiesTest, AssignReassignAndEndARole) {
  make_community("data-science", "Data Science");
  const auto monitor = make_member("mon@example.org");
  const auto tm = token_for(monitor);
  const auto path = "/v1/communities/data-science/roles/" + std::to_string(monitor);
  const auto topic = body({{"title", "What are you reading?"}});

  // Not a monitor yet.
  EXPECT_EQ(post("/v1/communities/data-science/topics", tm, topic).status, 403);

  auto r = put(path, admin_token, {{"role", "discussion_monitor"}, {"starts_on", "2026-11-01"}});
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("role").as_string(), "discussion_monitor");
  EXPECT_EQ(r.json.at("starts_on").as_string(), "2026-11-01");
  EXPECT_TRUE(r.json.at("ends_on").is_null());
  r = put(path, admin_token, {{"role", "discussion_monitor"}, {"starts_on", "2026-11-01"}, {"ends_on", "2027-12-31"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("ends_on").as_string(), "2027-12-31");
  EXPECT_EQ(count("SELECT count(*) FROM roles WHERE member_id = " + std::to_string(monitor)), 1);
  EXPECT_EQ(scalar("SELECT ends_on FROM roles WHERE member_id = " + std::to_string(monitor)), "2027-12-31");
  EXPECT_EQ(events("role.assigned"), 2);

  r = post("/v1/communities/data-science/topics", tm, topic);
  EXPECT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM topics"), 1);

  // Ending it: it grants nothing from today.
  r = del(path + "/discussion_monitor", admin_token);
  EXPECT_EQ(r.status, 204) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM roles WHERE member_id = " + std::to_string(monitor) +
                  " AND starts_on <= '2026-11-28' AND (ends_on IS NULL OR ends_on >= '2026-11-28')"),
            0);
  // History is kept: the assignment now ends yesterday.
  EXPECT_EQ(scalar("SELECT ends_on FROM roles WHERE member_id = " + std::to_string(monitor)), "2026-11-27");
  r = post("/v1/communities/data-science/topics", tm, topic);
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM topics"), 1);
  EXPECT_EQ(events("topic.posted"), 1);

  // Assigning again after the end is a new assignment.
  r = put(path, admin_token, {{"role", "discussion_monitor"}});
  EXPECT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("starts_on").as_string(), "2026-11-28");
  EXPECT_EQ(post("/v1/communities/data-science/topics", tm, topic).status, 201);
}

TEST_F(CommunitiesTest, EndingARoleThatStartsTodayRemovesIt) {
  make_community("data-science", "Data Science");
  const auto monitor = make_member("mon@example.org");
  const auto path = "/v1/communities/data-science/roles/" + std::to_string(monitor);
  auto r = put(path, admin_token, {{"role", "discussion_monitor"}});
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("starts_on").as_string(), "2026-11-28");
  const auto tm = token_for(monitor);
  EXPECT_EQ(post("/v1/communities/data-science/topics", tm, body({{"title", "T"}})).status, 201);
  EXPECT_EQ(del(path + "/discussion_monitor", admin_token).status, 204);
  EXPECT_EQ(count("SELECT count(*) FROM roles WHERE member_id = " + std::to_string(monitor) +
                  " AND (ends_on IS NULL OR ends_on >= '2026-11-28')"),
            0);
  EXPECT_EQ(post("/v1/communities/data-science/topics", tm, body({{"title", "T2"}})).status, 403);
}

TEST_F(CommunitiesTest, RoleEndingBeforeItStartsIsRefused) {
  make_community("data-science", "Data Science");
  const auto m = make_member("m@example.org");
  const auto path = "/v1/communities/data-science/roles/" + std::to_string(m);
  const auto r = put(path, admin_token,
                     {{"role", "meeting_coordinator"}, {"starts_on", "2027-02-01"}, {"ends_on", "2027-01-31"}});
  EXPECT_EQ(r.status, 422) << r.describe();
  ASSERT_TRUE(r.json.is_object());
  const auto& errors = r.json.at("errors").as_array();
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].at("field").as_string(), "ends_on");
  EXPECT_EQ(count("SELECT count(*) FROM roles WHERE member_id = " + std::to_string(m)), 0);
  EXPECT_EQ(events("role.assigned"), 0);
  // Only the committee assigns roles.
  const auto other = make_member("o@example.org");
  EXPECT_EQ(put(path, token_for(other), {{"role", "meeting_coordinator"}}).status, 403);
  EXPECT_EQ(count("SELECT count(*) FROM roles WHERE member_id = " + std::to_string(m)), 0);
}

TEST_F(CommunitiesTest, AMonitorPostsATopicWithAnEventCarryingIt) {
  make_community("data-science", "Data Science");
  const auto monitor = make_member("mon@example.org");
  grant(monitor, "data-science", "discussion_monitor");
  const auto r = post("/v1/communities/data-science/topics", token_for(monitor),
                      body({{"title", "Favourite datasets?"},
                            {"body", "Share one you love.\nAnd why."},
                            {"url", "https://forum.example.org/t/42"}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("title").as_string(), "Favourite datasets?");
  EXPECT_EQ(r.json.at("community").as_string(), "data-science");
  EXPECT_EQ(r.json.at("author_id").as_int64(), monitor);
  EXPECT_EQ(r.json.at("url").as_string(), "https://forum.example.org/t/42");
  const auto topic_id = std::to_string(r.json.at("id").as_int64());

  EXPECT_EQ(count("SELECT count(*) FROM topics WHERE id = " + topic_id + " AND title = 'Favourite datasets?' AND author_id = " +
                  std::to_string(monitor) + " AND url = 'https://forum.example.org/t/42' AND community_id = " +
                  id_of("data-science")),
            1);
  ASSERT_EQ(events("topic.posted"), 1);
  EXPECT_EQ(scalar("SELECT community_id FROM events WHERE kind = 'topic.posted'"), id_of("data-science"));
  const auto p = payload("SELECT payload FROM events WHERE kind = 'topic.posted'");
  EXPECT_EQ(p.at("title").as_string(), "Favourite datasets?");
  EXPECT_EQ(p.at("body").as_string(), "Share one you love.\nAnd why.");
  EXPECT_EQ(p.at("url").as_string(), "https://forum.example.org/t/42");
  EXPECT_EQ(p.at("community").as_string(), "data-science");
  EXPECT_EQ(p.at("topic_id").as_int64(), std::stoll(topic_id));

  // A plain member, or a monitor of another community, may not post.
  make_community("gardening", "Gardening");
  const auto stranger = make_member("s@example.org");
  EXPECT_EQ(post("/v1/communities/data-science/topics", token_for(stranger), body({{"title", "x"}})).status, 403);
  EXPECT_EQ(post("/v1/communities/gardening/topics", token_for(monitor), body({{"title", "x"}})).status, 403);
  EXPECT_EQ(count("SELECT count(*) FROM topics"), 1);
  EXPECT_EQ(events("topic.posted"), 1);
}

TEST_F(CommunitiesTest, TopicCadenceIsSetAndCleared) {
  make_community("data-science", "Data Science");
  const auto monitor = make_member("mon@example.org");
  grant(monitor, "data-science", "discussion_monitor");
  const auto tm = token_for(monitor);
  const std::string path = "/v1/communities/data-science/topic-cadence";

  auto r = put(path, tm, {{"every", "P7D"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("every").as_string(), "P7D");
  EXPECT_EQ(count("SELECT count(*) FROM communities WHERE slug = 'data-science' AND topic_cadence = interval '7 days'"), 1);
  auto g = get("/v1/communities/data-science", tm);
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.json.at("topic_cadence").as_string(), "P7D");

  // Out of range: refused, the cadence stays.
  r = put(path, tm, {{"every", "PT1H"}});
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM communities WHERE slug = 'data-science' AND topic_cadence = interval '7 days'"), 1);

  r = request("PUT", path, tm, R"({"every": null})");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(r.json.at("every").is_null());
  EXPECT_EQ(count("SELECT count(*) FROM communities WHERE slug = 'data-science' AND topic_cadence IS NULL"), 1);
  g = get("/v1/communities/data-science", tm);
  EXPECT_TRUE(g.json.at("topic_cadence").is_null());

  // A plain member may not set it.
  const auto stranger = make_member("s@example.org");
  EXPECT_EQ(put(path, token_for(stranger), {{"every", "P14D"}}).status, 403);
  EXPECT_EQ(count("SELECT count(*) FROM communities WHERE slug = 'data-science' AND topic_cadence IS NULL"), 1);
}
