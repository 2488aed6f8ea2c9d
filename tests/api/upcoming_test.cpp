// GET /v1/members/{id}/upcoming and GET /v1/members/{id}/digest-preview (issue 7): what a member
// will receive, for a member in America/New_York across the spring-forward of 2027-03-14, and
// nothing written by looking.
#include "support/api_fixture.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace {

using convene::testing::ApiResponse;
using convene::testing::ApiTest;
namespace json = boost::json;
using namespace std::chrono;

convene::calendar::Instant utc(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  return convene::calendar::Instant{sys_days{year{y} / month{mo} / day{d}}.time_since_epoch() + hours(h) + minutes(mi)};
}

class Upcoming : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    clock.set(utc(2027, 3, 1, 12));
    make_community("alpha", "Alpha");
    make_community("beta", "Beta");
    ny = make_member("ny@example.org", "America/New_York");
    ny_token = token_for(ny);
    join("alpha", ny, "daily");
    join("beta", ny, "realtime");
    // Mondays 10:00 in New York from March 8: 15:00Z before the change, 14:00Z after it.
    const auto r = post("/v1/communities/beta/meetings", admin_token,
                        json::serialize(json::object{{"title", "Weekly sync"},
                                                     {"start", "2027-03-08T10:00"},
                                                     {"end", "2027-03-08T11:00"},
                                                     {"time_zone", "America/New_York"},
                                                     {"rrule", "FREQ=WEEKLY"}}));
    ASSERT_EQ(r.status, 201) << r.describe();
    meeting = r.json.at("id").as_int64();
    const auto cancelled = post("/v1/meetings/" + std::to_string(meeting) + "/occurrences/2027-03-22T10:00/cancel", admin_token);
    ASSERT_EQ(cancelled.status, 200) << cancelled.describe();
  }

  void join(const std::string& slug, std::int64_t who, const std::string& delivery) {
    const auto r = request("PUT", "/v1/communities/" + slug + "/members/" + std::to_string(who), admin_token,
                           json::serialize(json::object{{"delivery", delivery}}));
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r.describe();
  }
  std::string path(std::int64_t who, const std::string& query = "") {
    return "/v1/members/" + std::to_string(who) + "/upcoming" + query;
  }
  // Rows that looking must not add or change.
  std::string written() {
    return std::to_string(count("SELECT count(*) FROM notifications")) + "/" + std::to_string(count("SELECT count(*) FROM jobs")) +
           "/" + std::to_string(count("SELECT count(*) FROM digests")) + "/" + std::to_string(count("SELECT count(*) FROM events")) +
           "/" + std::to_string(count("SELECT count(*) FROM jobs WHERE state = 'pending'")) + "/" +
           std::to_string(count("SELECT coalesce(extract(epoch FROM sum(covered_to - '2027-01-01'))::bigint, 0) FROM digest_schedules"));
  }
  static std::vector<std::string> field(const ApiResponse& r, const std::string& kind, const char* name) {
    std::vector<std::string> out;
    for (const auto& item : r.json.at("items").as_array())
      if (item.at("kind").as_string() == kind) out.emplace_back(item.at(name).as_string());
    return out;
  }

  std::int64_t ny = 0, meeting = 0;
  std::string ny_token;
};

TEST_F(Upcoming, RemindersAndDigestsFallAtLocalTimesAcrossTheSpringForward) {
  const auto before = written();
  const auto r = get(path(ny, "?from=2027-03-06&to=2027-03-22"), ny_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  // Dates are the member's days: from the start of the 6th (EST) to the end of the 22nd (EDT).
  EXPECT_EQ(r.json.at("from").as_string(), "2027-03-06T05:00:00Z");
  EXPECT_EQ(r.json.at("to").as_string(), "2027-03-23T04:00:00Z");
  EXPECT_EQ(r.json.at("time_zone").as_string(), "America/New_York");
  EXPECT_FALSE(r.json.at("truncated").as_bool());

  // One day and one hour before each Monday; the cancelled March 22 has none.
  EXPECT_EQ(field(r, "meeting.reminder", "at"),
            (std::vector<std::string>{"2027-03-07T15:00:00Z", "2027-03-08T14:00:00Z", "2027-03-14T14:00:00Z",
                                      "2027-03-15T13:00:00Z"}));
  EXPECT_EQ(field(r, "meeting.reminder", "local_at"),
            (std::vector<std::string>{"2027-03-07T10:00:00-05:00", "2027-03-08T09:00:00-05:00",
                                      "2027-03-14T10:00:00-04:00", "2027-03-15T09:00:00-04:00"}));
  // A daily digest at 07:00 local every day: 12:00Z in EST, 11:00Z in EDT.
  const auto digests = field(r, "digest.daily", "at");
  ASSERT_EQ(digests.size(), 17u) << r.body;
  EXPECT_EQ(digests.front(), "2027-03-06T12:00:00Z");
  EXPECT_EQ(digests[7], "2027-03-13T12:00:00Z");
  EXPECT_EQ(digests[8], "2027-03-14T11:00:00Z");
  EXPECT_EQ(field(r, "digest.daily", "local_at")[8], "2027-03-14T07:00:00-04:00");
  EXPECT_EQ(r.json.at("count").as_int64(), 21);

  std::string previous;
  for (const auto& item : r.json.at("items").as_array()) {
    const auto& o = item.as_object();
    EXPECT_EQ(o.at("channel").as_string(), "email");
    EXPECT_GE(std::string(o.at("at").as_string()), previous) << "sorted by time";
    previous = o.at("at").as_string();
    const auto& communities = o.at("communities").as_array();
    ASSERT_EQ(communities.size(), 1u);
    EXPECT_EQ(communities[0].as_string(), o.at("kind").as_string() == "digest.daily" ? "alpha" : "beta");
    EXPECT_FALSE(o.at("summary").as_string().empty());
  }
  const auto& first_reminder = r.json.at("items").as_array()[2].as_object();  // after two digests
  ASSERT_EQ(first_reminder.at("kind").as_string(), "meeting.reminder");
  EXPECT_EQ(first_reminder.at("meeting_id").as_int64(), meeting);
  EXPECT_NE(std::string(first_reminder.at("summary").as_string()).find("Weekly sync"), std::string::npos);
  EXPECT_EQ(written(), before) << "looking must not write";
}

TEST_F(Upcoming, NoneMembershipsGetNeitherRemindersNorDigests) {
  join("alpha", ny, "none");
  join("beta", ny, "none");
  const auto r = get(path(ny, "?from=2027-03-06&to=2027-03-22"), ny_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("count").as_int64(), 0) << r.body;
  // Weekly members get reminders (they are not `none`) and a weekly digest on Mondays.
  join("beta", ny, "weekly");
  const auto weekly = get(path(ny, "?from=2027-03-06&to=2027-03-22"), ny_token);
  EXPECT_EQ(field(weekly, "meeting.reminder", "at").size(), 4u) << weekly.body;
  EXPECT_EQ(field(weekly, "digest.weekly", "local_at"),
            (std::vector<std::string>{"2027-03-08T07:00:00-05:00", "2027-03-15T07:00:00-04:00",
                                      "2027-03-22T07:00:00-04:00"}));
}

TEST_F(Upcoming, DefaultsToTheNextThirtyDaysAndNeverListsThePast) {
  const auto r = get(path(ny), ny_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("from").as_string(), "2027-03-01T12:00:00Z");
  EXPECT_EQ(r.json.at("to").as_string(), "2027-03-31T12:00:00Z");
  const auto past = get(path(ny, "?from=2027-01-01&to=2027-03-02T00:00:00Z"), ny_token);
  ASSERT_EQ(past.status, 200) << past.describe();
  EXPECT_EQ(past.json.at("from").as_string(), "2027-03-01T12:00:00Z");
  EXPECT_EQ(past.json.at("count").as_int64(), 0) << past.body;
  // RFC 3339 with an offset.
  const auto offset = get(path(ny, "?from=2027-03-14T00:00:00-05:00&to=2027-03-14T23:59:59-04:00"), ny_token);
  ASSERT_EQ(offset.status, 200) << offset.describe();
  EXPECT_EQ(offset.json.at("from").as_string(), "2027-03-14T05:00:00Z");
  EXPECT_EQ(field(offset, "digest.daily", "at"), std::vector<std::string>{"2027-03-14T11:00:00Z"});
}

TEST_F(Upcoming, MembersSeeTheirOwnAndAdminsAnyone) {
  const auto other = make_member("other@example.org");
  const auto other_token = token_for(other);
  const auto refused = get(path(ny), other_token);
  EXPECT_EQ(refused.status, 403) << refused.describe();
  EXPECT_EQ(refused.content_type, "application/problem+json");
  EXPECT_EQ(get("/v1/members/" + std::to_string(ny) + "/digest-preview", other_token).status, 403);
  EXPECT_EQ(get(path(ny), admin_token).status, 200);
  EXPECT_EQ(get(path(ny), "").status, 401);
  EXPECT_EQ(get(path(999999), admin_token).status, 404);
  EXPECT_EQ(get("/v1/members/999999/digest-preview", admin_token).status, 404);
}

TEST_F(Upcoming, BadRangesAre422ProblemsNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"?from=yesterday", "from"},
      {"?to=2027-13-01", "to"},
      {"?from=2027-03-10&to=2027-03-01", "to"},
      {"?from=2027-01-01&to=2028-06-01", "to"},
      {"?from=2027-03-01T10:00:00%2B25:00", "from"},
      {"?from=0000-01-01", "from"},
      {"?to=2027-03-01%27%3B--", "to"},
  };
  for (const auto& [query, name] : cases) {
    const auto r = get(path(ny, query), ny_token);
    EXPECT_EQ(r.status, 422) << query << " " << r.describe();
    EXPECT_EQ(r.content_type, "application/problem+json") << query;
    ASSERT_TRUE(r.json.is_object()) << query;
    EXPECT_EQ(r.json.at("errors").as_array()[0].at("field").as_string(), name) << query;
  }
  const auto cadence = get("/v1/members/" + std::to_string(ny) + "/digest-preview?cadence=hourly", ny_token);
  EXPECT_EQ(cadence.status, 422) << cadence.describe();
}

TEST_F(Upcoming, CommitteeMembersSeeTheYearlyMessagesAndRoleEndings) {
  clock.set(utc(2027, 5, 20, 12));
  grant_global(ny, "committee");
  const auto holder = make_member("holder@example.org");
  grant(holder, "alpha", "discussion_monitor", "2027-01-01", "2027-06-30");
  const auto r = get(path(ny, "?from=2027-05-21&to=2027-08-02"), ny_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  // June 1 09:00 London: alpha and beta have no annual-meeting date yet.
  EXPECT_EQ(field(r, "annual_meeting.tbd", "at"), std::vector<std::string>{"2027-06-01T08:00:00Z"}) << r.body;
  // Fourteen days before June 30, at the daily checks (08:00 London).
  EXPECT_EQ(field(r, "role.ending", "at"), std::vector<std::string>{"2027-06-16T07:00:00Z"}) << r.body;
  // August 1 09:00 London: one review per community.
  EXPECT_EQ(field(r, "review.due", "at"), (std::vector<std::string>{"2027-08-01T08:00:00Z", "2027-08-01T08:00:00Z"}));
  // The holder is told too, and is no committee member.
  const auto own = get(path(holder, "?from=2027-05-21&to=2027-08-02"), admin_token);
  EXPECT_EQ(field(own, "role.ending", "at"), std::vector<std::string>{"2027-06-16T07:00:00Z"}) << own.body;
  EXPECT_TRUE(field(own, "review.due", "at").empty());
}

TEST_F(Upcoming, MonitorsSeeOverdueTopicReminders) {
  const auto monitor = make_member("monitor@example.org");
  grant(monitor, "alpha", "discussion_monitor");
  ASSERT_EQ(request("PUT", "/v1/communities/alpha/topic-cadence", admin_token, R"({"every": "P7D"})").status, 200);
  // alpha was made at 2027-03-01T12:00Z: overdue after March 8 12:00Z, told at the next daily check.
  const auto r = get(path(monitor, "?from=2027-03-01&to=2027-03-16"), admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(field(r, "topic.overdue", "at"), (std::vector<std::string>{"2027-03-09T08:00:00Z", "2027-03-16T08:00:00Z"}));
}

TEST_F(Upcoming, DigestPreviewRendersTheNextDigest) {
  // Nothing happened yet in alpha: the digest would not be sent.
  const auto quiet = get("/v1/members/" + std::to_string(ny) + "/digest-preview", ny_token);
  ASSERT_EQ(quiet.status, 200) << quiet.describe();
  EXPECT_TRUE(quiet.json.at("empty").as_bool());
  EXPECT_EQ(quiet.json.at("kind").as_string(), "digest.daily");
  EXPECT_EQ(quiet.json.at("due_at").as_string(), "2027-03-02T12:00:00Z");

  clock.set(utc(2027, 3, 1, 13));
  const auto topic = post("/v1/communities/alpha/topics", admin_token,
                          R"({"title": "Favourite estimators", "body": "Which and why?", "url": "https://example.org/t/1"})");
  ASSERT_EQ(topic.status, 201) << topic.describe();
  const auto before = written();
  const auto r = get("/v1/members/" + std::to_string(ny) + "/digest-preview?cadence=daily", ny_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_FALSE(r.json.at("empty").as_bool());
  EXPECT_EQ(r.json.at("item_count").as_int64(), 1);
  EXPECT_EQ(r.json.at("local_due_at").as_string(), "2027-03-02T07:00:00-05:00");
  EXPECT_EQ(r.json.at("covers").at("from").as_string(), "2027-03-01T12:00:00Z");
  EXPECT_EQ(r.json.at("covers").at("period").as_string(), "2027-03-02");
  EXPECT_EQ(r.json.at("communities").as_array(), json::array{"alpha"});
  EXPECT_FALSE(r.json.at("subject").as_string().empty());
  EXPECT_NE(std::string(r.json.at("text").as_string()).find("Favourite estimators"), std::string::npos) << r.body;
  EXPECT_NE(std::string(r.json.at("html").as_string()).find("Favourite estimators"), std::string::npos);
  // One community: that community's unsubscribe link.
  EXPECT_NE(std::string(r.json.at("unsubscribe_url").as_string()).find("https://convene.example.org/u/"), std::string::npos);
  EXPECT_EQ(written(), before) << "a preview must not write";

  // Someone without a digest community.
  const auto other = make_member("plain@example.org");
  const auto none = get("/v1/members/" + std::to_string(other) + "/digest-preview", admin_token);
  ASSERT_EQ(none.status, 200) << none.describe();
  EXPECT_TRUE(none.json.at("empty").as_bool());
  EXPECT_TRUE(none.json.at("kind").is_null());
}

}  // namespace
