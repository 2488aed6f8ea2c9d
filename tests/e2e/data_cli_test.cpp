// End-to-end tests of convened's data commands (import members, demo-data): the built binary
// run to completion against a private PostgreSQL cluster (support/e2e_fixture.hpp).
#include "support/e2e_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 120s;

class DataCliTest : public ConvenedTest {
 protected:
  void SetUp() override {
    write_file(config_path_, "organisation_time_zone = \"Europe/London\"\n");
    command_timeout_ = kCommandTimeout;
  }

  // A fresh migrated database on the process's cluster (started by the first test that needs one).
  void create_database() {
    ASSERT_NO_FATAL_FAILURE(ConvenedTest::create_database());
    ASSERT_NO_FATAL_FAILURE(migrate());
  }

  // Everything the commands could touch: row counts plus the values and timestamps of members
  // and memberships.
  std::string snapshot() const {
    return query(
        "SELECT (SELECT count(*) FROM communities) || '|' || (SELECT count(*) FROM rooms) || '|' || "
        "(SELECT count(*) FROM members) || '|' || (SELECT count(*) FROM memberships) || '|' || "
        "(SELECT count(*) FROM roles) || '|' || (SELECT count(*) FROM meetings) || '|' || "
        "(SELECT count(*) FROM room_bookings) || '|' || (SELECT count(*) FROM topics) || '|' || "
        "(SELECT count(*) FROM events) || '|' || (SELECT count(*) FROM tokens) || '|' || "
        "(SELECT coalesce(string_agg(id || ',' || email || ',' || name || ',' || time_zone || ',' || digest_hour || ',' || "
        "  weekly_day || ',' || reminder_offsets::text || ',' || updated_at, ';' ORDER BY id), '') FROM members) || '|' || "
        "(SELECT coalesce(string_agg(member_id || ',' || community_id || ',' || delivery || ',' || updated_at, ';' "
        "  ORDER BY member_id, community_id), '') FROM memberships)");
  }

  void add_communities() const {
    query("INSERT INTO communities (slug, name, time_zone, created_at, updated_at) VALUES "
          "('data-science', 'Data Science', 'UTC', now(), now()), ('rust-users', 'Rust Users', 'UTC', now(), now())");
    query("INSERT INTO communities (slug, name, time_zone, status, archived_at, created_at, updated_at) VALUES "
          "('old-club', 'Old Club', 'UTC', 'archived', now(), now(), now())");
  }
};

TEST_F(DataCliTest, HelpListsTheDataCommands) {
  const auto r = run_command_with_timeout({CONVENE_BINARY, "help"}, {}, kCommandTimeout);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.output, "import members FILE.csv")) << describe(r);
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\bdemo-data\b)"))) << describe(r);  // scripts/run looks for it
}

TEST_F(DataCliTest, ImportMembersTwice) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  add_communities();
  const std::string file = work_ + "/members.csv";
  write_file(file,
             "email,name,time_zone,digest_hour,weekly_day,reminder_offsets,communities\r\n"
             "ada@example.org,\"Lovelace, Ada\",America/New_York,6,friday,P1D PT1H,data-science:daily;rust-users:realtime\r\n"
             "grace@example.org,Grace Hopper,,,,,rust-users:weekly\r\n"
             "linus@example.org,\"Linus \"\"T\"\"\",Europe/Helsinki,,,,\r\n");

  const auto first = run_convened({"import", "members", file});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_TRUE(contains(first.output, "members: 3 created, 0 updated, 0 unchanged")) << describe(first);
  EXPECT_TRUE(contains(first.output, "memberships: 3 created, 0 updated")) << describe(first);
  EXPECT_EQ(query("SELECT count(*) FROM members"), "3");
  EXPECT_EQ(query("SELECT name || '|' || time_zone FROM members WHERE email = 'ada@example.org'"),
            "Lovelace, Ada|America/New_York");
  EXPECT_EQ(query("SELECT time_zone FROM members WHERE email = 'grace@example.org'"), "Europe/London")
      << "a member without a zone gets the organisation's";
  EXPECT_EQ(query("SELECT name FROM members WHERE email = 'linus@example.org'"), "Linus \"T\"");
  EXPECT_EQ(query("SELECT string_agg(m.email || ':' || c.slug || ':' || ms.delivery, ',' ORDER BY m.email, c.slug) "
                  "FROM memberships ms JOIN members m ON m.id = ms.member_id JOIN communities c ON c.id = ms.community_id"),
            "ada@example.org:data-science:daily,ada@example.org:rust-users:realtime,grace@example.org:rust-users:weekly");
  EXPECT_EQ(query("SELECT count(*) FROM events WHERE kind = 'member.joined'"), "3");

  const auto before = snapshot();
  const auto second = run_convened({"import", "members", file});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_TRUE(contains(second.output, "members: 0 created, 0 updated, 3 unchanged")) << describe(second);
  EXPECT_TRUE(contains(second.output, "memberships: 0 created, 0 updated")) << describe(second);
  EXPECT_EQ(snapshot(), before) << "importing the same file again must change nothing";
}

TEST_F(DataCliTest, ImportMembersWithErrorsWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  add_communities();
  const std::string file = work_ + "/bad.csv";
  write_file(file,
             "email,name,time_zone,communities\n"                 // 1
             "ok@example.org,Ok,,data-science:daily\n"             // 2
             "zone@example.org,Zone,Mars/Olympus,\n"               // 3
             "dup@example.org,Dup,,\n"                             // 4
             "other@example.org,Other,,no-such-community:daily\n"  // 5
             "DUP@example.org,Again,,rust-users:hourly\n"          // 6
             "old@example.org,Old,,old-club:weekly\n");            // 7
  const auto before = snapshot();
  const auto r = run_convened({"import", "members", file});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  for (const auto& expected : {file + ":3: time_zone: ", file + ":5: communities: ", file + ":6: email: ",
                               file + ":6: communities: ", file + ":7: communities: "})
    EXPECT_TRUE(contains(r.output, expected)) << "missing \"" << expected << "\" in " << describe(r);
  EXPECT_FALSE(contains(r.output, file + ":2:")) << describe(r);
  EXPECT_TRUE(contains(r.output, "nothing was imported")) << describe(r);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(query("SELECT count(*) FROM members"), "0");

  // A file that is not UTF-8.
  write_file(file, "email,name\nx@example.org,Caf\xE9\n");
  const auto latin1 = run_convened({"import", "members", file});
  EXPECT_EQ(latin1.exit_code, 1) << describe(latin1);
  EXPECT_TRUE(contains(latin1.output, file + ":2: name: ")) << describe(latin1);
  EXPECT_TRUE(contains(latin1.output, "UTF-8")) << describe(latin1);
  EXPECT_EQ(snapshot(), before);

  // A file that cannot be read, and a missing argument.
  const auto missing = run_convened({"import", "members", work_ + "/does-not-exist.csv"});
  EXPECT_EQ(missing.exit_code, 2) << describe(missing);
  EXPECT_TRUE(contains(missing.output, work_ + "/does-not-exist.csv")) << describe(missing);
  EXPECT_TRUE(contains(missing.output, "cannot read")) << describe(missing);
  const auto directory = run_convened({"import", "members", work_});
  EXPECT_EQ(directory.exit_code, 2) << describe(directory);
  const auto no_file = run_convened({"import", "members"});
  EXPECT_EQ(no_file.exit_code, 2) << describe(no_file);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(DataCliTest, DemoDataLoadsOnceIntoAnEmptyDatabase) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  const auto first = run_convened({"demo-data", "--if-empty"});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_TRUE(contains(first.output, "demo data loaded")) << describe(first);

  EXPECT_EQ(query("SELECT count(*) FROM communities WHERE status = 'active'"), "4");
  EXPECT_EQ(query("SELECT count(*) FROM rooms"), "3");
  EXPECT_GE(std::stoi(query("SELECT count(*) FROM members")), 12);
  EXPECT_GE(std::stoi(query("SELECT count(DISTINCT delivery) FROM memberships")), 4) << "every delivery mode appears";
  EXPECT_GE(std::stoi(query("SELECT count(DISTINCT time_zone) FROM members")), 5);
  EXPECT_EQ(query("SELECT string_agg(DISTINCT role, ',' ORDER BY role) FROM roles"),
            "admin,committee,discussion_monitor,event_coordinator,meeting_coordinator");
  EXPECT_GE(std::stoi(query("SELECT count(*) FROM topics")), 3);
  // Meetings in the future, one-off and recurring, in rooms; a special event.
  EXPECT_GE(std::stoi(query("SELECT count(*) FROM meetings WHERE kind = 'meeting' AND rrule IS NULL AND room_id IS NOT NULL "
                            "AND starts_at > now()")),
            2);
  EXPECT_GE(std::stoi(query("SELECT count(*) FROM meetings WHERE kind = 'meeting' AND rrule IS NOT NULL AND room_id IS NOT NULL "
                            "AND starts_at > now()")),
            2);
  EXPECT_GE(std::stoi(query("SELECT count(*) FROM meetings WHERE kind = 'special_event'")), 1);
  EXPECT_GE(std::stoi(query("SELECT count(*) FROM room_bookings")), 10);
  // Annual meetings: every community has this year's and next year's; one is confirmed.
  const std::string this_year = query("SELECT extract(year FROM now() AT TIME ZONE 'Europe/London')::int");
  for (const auto& year : {this_year, std::to_string(std::stoi(this_year) + 1)})
    EXPECT_EQ(query("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = " + year), "4") << year;
  EXPECT_EQ(query("SELECT count(*) FROM meetings WHERE kind = 'annual' AND status = 'confirmed' AND starts_at > now()"), "1");
  // Made through the API: the outbox has the events.
  for (const char* kind : {"member.joined", "role.assigned", "meeting.scheduled", "topic.posted", "annual_meeting.scheduled"})
    EXPECT_NE(query(std::string("SELECT count(*) FROM events WHERE kind = '") + kind + "'"), "0") << kind;

  // The printed admin token is a live API token of an admin.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(first.output, m, std::regex(R"(admin\s+demo-admin@example\.org\s+(cvn_[A-Za-z0-9_-]+))")))
      << describe(first);
  EXPECT_EQ(query("SELECT m.email FROM tokens t JOIN members m ON m.id = t.member_id JOIN roles r ON r.member_id = m.id "
                  "WHERE r.role = 'admin' AND t.purpose = 'api' AND t.token_hash = sha256(convert_to('" + m[1].str() +
                  "', 'UTF8'))"),
            "demo-admin@example.org");

  const auto before = snapshot();
  const auto second = run_convened({"demo-data", "--if-empty"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_TRUE(contains(second.output, "skipped")) << describe(second);
  EXPECT_EQ(snapshot(), before) << "a second run must change nothing";

  const auto without_flag = run_convened({"demo-data"});
  EXPECT_EQ(without_flag.exit_code, 1) << describe(without_flag);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(DataCliTest, DemoDataSkipsADatabaseThatHasCommunities) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  query("INSERT INTO communities (slug, name, time_zone, created_at, updated_at) "
        "VALUES ('existing', 'Existing', 'UTC', now(), now())");
  const auto before = snapshot();
  const auto r = run_convened({"demo-data", "--if-empty"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.output, "skipped")) << describe(r);
  EXPECT_EQ(snapshot(), before);
}

}  // namespace
}  // namespace convene::testing
