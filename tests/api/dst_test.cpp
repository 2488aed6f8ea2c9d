// One instant per meeting (DESIGN §3), end to end: a series at a local time that does not exist
// on one date and one at a local time that happens twice. The API warns about those dates; the
// reminders planned for them, the room bookings and the occurrences a calendar client reads from
// the feed (an independent parser, reading gaps and repeats both as RFC 5545 and as ical.js
// does) are the same instants.
#include "jobs/kinds/kinds.hpp"
#include "support/api_fixture.hpp"
#include "tests/support/ics_client.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <set>
#include <string>
#include <vector>

using convene::testing::ApiTest;
namespace json = boost::json;
using namespace std::chrono;

namespace {

std::string body(const json::object& o) { return json::serialize(o); }

convene::calendar::Instant at(const std::string& rfc3339) { return *convene::calendar::parse_rfc3339(rfc3339); }

}  // namespace

class DstTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    clock.set(at("2027-03-01T12:00:00Z"));
    make_community("night-owls", "Night Owls");
    room = make_room("Room-N");
    // A member who is reminded (realtime; the default offsets: a day and an hour before).
    member = make_member("owl@example.org");
    const auto joined = request("PUT", "/v1/communities/night-owls/members/" + std::to_string(member), admin_token,
                                body({{"delivery", "realtime"}}));
    EXPECT_TRUE(joined.status == 200 || joined.status == 201) << joined.describe();
  }

  json::object create(const json::object& o) {
    const auto r = post("/v1/communities/night-owls/meetings", admin_token, body(o));
    EXPECT_EQ(r.status, 201) << r.describe();
    if (r.status != 201) throw std::runtime_error("meeting not created: " + r.describe());
    return r.json.as_object();
  }

  std::vector<std::string> column(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    std::vector<std::string> out;
    for (const auto& r : tx.exec(sql)) out.push_back(r[0].as<std::string>());
    return out;
  }

  // Runs reminders.plan for the meeting as the job engine would, at `now`.
  void plan_reminders(std::int64_t meeting, convene::calendar::Instant now) {
    convene::jobs::KindSettings settings;
    settings.organisation_time_zone = "UTC";
    settings.uid_domain = "convene.test";
    for (const auto& spec : convene::jobs::standard_kinds(settings)) {
      if (spec.kind != "reminders.plan") continue;
      convene::jobs::ClaimedJob job;
      job.kind = spec.kind;
      job.unique_key = "meeting:" + std::to_string(meeting);
      job.payload = {{"meeting_id", meeting}};
      job.due_at = now;
      job.attempts = 1;
      pqxx::connection c(db.url());
      pqxx::work tx(c);
      convene::jobs::JobRun run{tx, job, now};
      spec.run(run);
      tx.commit();
      return;
    }
    FAIL() << "no reminders.plan kind";
  }

  // The occurrence starts the reminders of `meeting` are for, each checked against its due time
  // (start minus offset).
  std::set<std::string> reminded_starts(std::int64_t meeting) {
    std::set<std::string> out;
    for (const auto& line : column(
             "SELECT payload->>'occurrence_start' || ' ' || to_char((due_at + make_interval(secs => "
             "(payload->>'offset_seconds')::int)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM jobs "
             "WHERE kind = 'meeting.reminder' AND (payload->>'meeting_id')::bigint = " + std::to_string(meeting))) {
      const auto space = line.find(' ');
      EXPECT_EQ(line.substr(0, space), line.substr(space + 1)) << "due at the occurrence's start minus the offset";
      out.insert(line.substr(0, space));
    }
    return out;
  }

  std::set<std::string> booked_starts(std::int64_t meeting) {
    const auto rows = column(
        "SELECT to_char(lower(during) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM room_bookings "
        "WHERE meeting_id = " + std::to_string(meeting));
    return {rows.begin(), rows.end()};
  }

  // The starts a calendar client reads from the community's feed for the meeting `uid`.
  std::set<std::string> feed_starts(const std::string& uid, int fold, convene::calendar::Instant from,
                                    convene::calendar::Instant to) {
    feed_cache().invalidate("*");  // no LISTEN in this fixture
    const auto feed = get("/feeds/communities/night-owls.ics", "");
    EXPECT_EQ(feed.status, 200) << feed.describe();
    std::set<std::string> out;
    for (const auto& line : convene::testing::ics_client_instants(feed.body, fold, from, to)) {
      // "UID RECURRENCE-ID START END"
      const auto first = line.find(' '), second = line.find(' ', first + 1), third = line.find(' ', second + 1);
      if (line.substr(0, first) == uid) out.insert(line.substr(second + 1, third - second - 1));
    }
    return out;
  }

  // The one warning of a meeting's answer.
  static void expect_one_warning(const json::object& meeting, const std::string& local_start, const std::string& problem,
                                 const std::string& start_utc) {
    const auto& warnings = meeting.at("local_time_warnings").as_array();
    ASSERT_EQ(warnings.size(), 1u) << json::serialize(meeting);
    EXPECT_EQ(std::string(warnings[0].at("local_start").as_string()), local_start);
    EXPECT_EQ(std::string(warnings[0].at("problem").as_string()), problem);
    EXPECT_EQ(std::string(warnings[0].at("start_utc").as_string()), start_utc);
  }

  // Reminders (planned now), room bookings and the feed as an RFC 5545 client and as ical.js
  // read it in [from, to): each the `expected` starts.
  void expect_everywhere(const json::object& meeting, const std::set<std::string>& expected, const std::string& from,
                         const std::string& to) {
    const auto id = meeting.at("id").as_int64();
    const auto uid = std::string(meeting.at("uid").as_string());
    plan_reminders(id, clock.now());
    EXPECT_EQ(reminded_starts(id), expected) << "reminders";
    EXPECT_EQ(booked_starts(id), expected) << "room bookings";
    EXPECT_EQ(feed_starts(uid, 0, at(from), at(to)), expected) << "RFC 5545";
    EXPECT_EQ(feed_starts(uid, 1, at(from), at(to)), expected) << "ical.js";
  }

  std::int64_t room = 0, member = 0;
};

TEST_F(DstTest, ASeriesAtANonexistentLocalTimeIsOneInstantInWarningsRemindersBookingsAndEveryCalendar) {
  // Sundays at 02:30 in New York; 2027-03-14 02:30 does not exist (02:00 EST -> 03:00 EDT).
  const auto m = create({{"title", "Night watch"}, {"time_zone", "America/New_York"}, {"start", "2027-03-07T02:30"},
                         {"end", "2027-03-07T03:30"}, {"rrule", "FREQ=WEEKLY;BYDAY=SU;COUNT=3"}, {"room_id", room}});
  const auto id = m.at("id").as_int64();
  expect_one_warning(m, "2027-03-14T02:30:00", "nonexistent", "2027-03-14T07:30:00Z");  // 03:30 EDT: shifted by the gap
  expect_everywhere(m, {"2027-03-07T07:30:00Z", "2027-03-14T07:30:00Z", "2027-03-21T06:30:00Z"}, "2027-03-01T00:00:00Z",
                    "2027-04-01T00:00:00Z");
  // The same answer when the meeting is read again.
  EXPECT_EQ(get("/v1/meetings/" + std::to_string(id), admin_token).json.at("local_time_warnings").as_array().size(), 1u);

  // Cancelling that occurrence by its local time cancels it everywhere (it is stored by instant).
  const auto cancelled = post("/v1/meetings/" + std::to_string(id) + "/occurrences/2027-03-14T02:30/cancel", admin_token);
  ASSERT_EQ(cancelled.status, 200) << cancelled.describe();
  expect_everywhere(m, {"2027-03-07T07:30:00Z", "2027-03-21T06:30:00Z"}, "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z");
}

TEST_F(DstTest, ASeriesAtARepeatedLocalTimeIsTheFirstInWarningsRemindersBookingsAndEveryCalendar) {
  clock.set(at("2027-10-01T12:00:00Z"));
  // Sundays at 01:30 in London; 2027-10-31 01:30 happens twice (BST, then GMT): the first.
  const auto m = create({{"title", "Early birds"}, {"time_zone", "Europe/London"}, {"start", "2027-10-24T01:30"},
                         {"end", "2027-10-24T02:00"}, {"rrule", "FREQ=WEEKLY;BYDAY=SU;COUNT=3"}, {"room_id", room}});
  expect_one_warning(m, "2027-10-31T01:30:00", "repeated", "2027-10-31T00:30:00Z");
  expect_everywhere(m, {"2027-10-24T00:30:00Z", "2027-10-31T00:30:00Z", "2027-11-07T01:30:00Z"}, "2027-10-01T00:00:00Z",
                    "2027-12-01T00:00:00Z");
}

TEST_F(DstTest, AMeetingAtOrdinaryTimesHasNoWarnings) {
  const auto m = create({{"title", "Daytime"}, {"time_zone", "America/New_York"}, {"start", "2027-03-07T10:00"},
                         {"end", "2027-03-07T11:00"}, {"rrule", "FREQ=WEEKLY;BYDAY=SU"}});
  EXPECT_TRUE(m.at("local_time_warnings").as_array().empty()) << json::serialize(m);
  const auto one_off = create({{"title", "One night"}, {"time_zone", "America/New_York"},
                               {"start", "2027-03-14T02:30"}, {"end", "2027-03-14T04:00"}});
  ASSERT_EQ(one_off.at("local_time_warnings").as_array().size(), 1u) << json::serialize(one_off);
  EXPECT_EQ(one_off.at("start_utc"), "2027-03-14T07:30:00Z");
}
