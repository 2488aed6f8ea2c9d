// End-to-end tests of `convened simulate` (issue 7): the built binary lists what a member would
// receive as a table or JSON and writes nothing; bad arguments get a clear message and a
// non-zero exit.
#include "support/e2e_fixture.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

namespace convene::testing {
namespace {

class SimulateTest : public ConvenedTest {
 protected:
  // A member in New York on the daily digest of one community (the digest schedule row is made
  // by the membership trigger), and the row counts that must not change.
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(create_database());
    ASSERT_NO_FATAL_FAILURE(migrate());
    query("INSERT INTO communities (slug, name, time_zone, created_at, updated_at) VALUES ('alpha', 'Alpha', 'UTC', now(), now())");
    query("INSERT INTO members (email, name, time_zone, created_at, updated_at) "
          "VALUES ('Ada@Example.org', 'Ada', 'America/New_York', now(), now())");
    query("INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) "
          "SELECT m.id, c.id, 'daily', now(), now() FROM members m, communities c");
  }
  std::string written() const {
    return query("SELECT (SELECT count(*) FROM notifications) || '/' || (SELECT count(*) FROM digests) || '/' || "
                 "(SELECT count(*) FROM jobs) || '/' || (SELECT count(*) FROM events) || '/' || "
                 "(SELECT string_agg(covered_to::text || next_due_at::text, ',') FROM digest_schedules)");
  }
};

TEST_F(SimulateTest, ListsTheDigestsAsATableAndAsJsonWithoutWritingAnything) {
  const auto before = written();
  const auto table = run_convened({"simulate", "--member", "ada@example.org", "--from", "2030-03-01", "--to", "2030-03-10"});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  EXPECT_TRUE(contains(table.output, "What Ada@Example.org would receive from 2030-03-01T05:00:00Z")) << describe(table);
  // Ten days of daily digests at 07:00 in New York (EST until March 10).
  EXPECT_EQ(count_of(table.output, "digest.daily"), 10u) << describe(table);
  EXPECT_TRUE(contains(table.output, "2030-03-01T12:00:00Z  2030-03-01T07:00:00-05:00")) << describe(table);
  EXPECT_TRUE(contains(table.output, "10 notifications")) << describe(table);

  const auto json = run_convened({"simulate", "--member", "ADA@example.org", "--from", "2030-03-09", "--to",
                                  "2030-03-11", "--json"});
  ASSERT_EQ(json.exit_code, 0) << describe(json);
  const auto start = json.output.find("{\"member_id\"");
  ASSERT_NE(start, std::string::npos) << describe(json);
  const auto body = boost::json::parse(json.output.substr(start, json.output.find('\n', start) - start)).as_object();
  EXPECT_EQ(body.at("time_zone").as_string(), "America/New_York");
  const auto& items = body.at("items").as_array();
  ASSERT_EQ(items.size(), 3u) << json.output;
  // Across the spring-forward of March 10: still 07:00 local, an hour earlier in UTC.
  EXPECT_EQ(items[1].at("at").as_string(), "2030-03-10T11:00:00Z");
  EXPECT_EQ(items[1].at("local_at").as_string(), "2030-03-10T07:00:00-04:00");
  EXPECT_EQ(items[1].at("kind").as_string(), "digest.daily");
  EXPECT_EQ(items[1].at("communities").as_array()[0].as_string(), "alpha");
  EXPECT_EQ(written(), before) << "simulate must not write";
}

TEST_F(SimulateTest, BadArgumentsAreExplained) {
  const auto no_member = run_convened({"simulate", "--from", "2030-03-01"});
  EXPECT_EQ(no_member.exit_code, 2) << describe(no_member);
  EXPECT_TRUE(contains(no_member.output, "simulate needs --member EMAIL")) << describe(no_member);

  const auto missing_value = run_convened({"simulate", "--member"});
  EXPECT_EQ(missing_value.exit_code, 2) << describe(missing_value);
  EXPECT_TRUE(contains(missing_value.output, "--member needs a value")) << describe(missing_value);

  const auto unknown = run_convened({"simulate", "--member", "nobody@example.org"});
  EXPECT_EQ(unknown.exit_code, 1) << describe(unknown);
  EXPECT_TRUE(contains(unknown.output, "no member has the email address nobody@example.org")) << describe(unknown);

  const auto garbage = run_convened({"simulate", "--member", "ada@example.org", "--from", "next tuesday"});
  EXPECT_EQ(garbage.exit_code, 2) << describe(garbage);
  EXPECT_TRUE(contains(garbage.output, "--from must be a date")) << describe(garbage);

  const auto backwards = run_convened({"simulate", "--member", "ada@example.org", "--from", "2030-03-10", "--to", "2030-03-01"});
  EXPECT_EQ(backwards.exit_code, 2) << describe(backwards);
  EXPECT_TRUE(contains(backwards.output, "--to must not be before from")) << describe(backwards);

  const auto too_long = run_convened({"simulate", "--member", "ada@example.org", "--from", "2030-01-01", "--to", "2031-06-01"});
  EXPECT_EQ(too_long.exit_code, 2) << describe(too_long);
  EXPECT_TRUE(contains(too_long.output, "at most 366 days")) << describe(too_long);

  const auto stray = run_convened({"simulate", "--member", "ada@example.org", "--json", "--verbose"});
  EXPECT_EQ(stray.exit_code, 2) << describe(stray);
  EXPECT_TRUE(contains(stray.output, "unknown option '--verbose'")) << describe(stray);
}

}  // namespace
}  // namespace convene::testing
