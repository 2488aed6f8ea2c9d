// Meetings and room bookings over the real HTTP API: one-offs and series, the exclusion
// constraint's 409s (and that a refused request leaves nothing behind), DST, RRULE limits,
// edits with SEQUENCE, moving and cancelling single occurrences, cancelling a series.
#include "support/api_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <string>
#include <vector>

using convene::testing::ApiResponse;
using convene::testing::ApiTest;
namespace json = boost::json;
using namespace std::chrono;

namespace {

std::string body(const json::object& o) { return json::serialize(o); }

}  // namespace

class MeetingsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    make_community("data-science", "Data Science");
    make_community("gardening", "Gardening");
    room_a = make_room("Room-A");
    room_b = make_room("Room-B");
    coordinator = make_member("coord@example.org");
    grant(coordinator, "data-science", "meeting_coordinator");
    grant(coordinator, "gardening", "meeting_coordinator");
    coord = token_for(coordinator);
  }

  std::string scalar(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    const auto rows = tx.exec(sql);
    if (rows.empty() || rows[0][0].is_null()) return "";
    return rows[0][0].as<std::string>();
  }

  ApiResponse create(const json::object& o, const std::string& slug = "data-science") {
    return post("/v1/communities/" + slug + "/meetings", coord, body(o));
  }
  // A meeting that must be created; returns its id.
  std::int64_t must_create(const json::object& o, const std::string& slug = "data-science") {
    const auto r = create(o, slug);
    EXPECT_EQ(r.status, 201) << r.describe();
    if (r.status != 201) throw std::runtime_error("meeting not created: " + r.describe());
    return r.json.at("id").as_int64();
  }
  ApiResponse patch(const std::string& path, const json::object& o) { return request("PATCH", path, coord, body(o)); }

  json::array bookings(std::int64_t room, const std::string& from, const std::string& to) {
    const auto r = get("/v1/rooms/" + std::to_string(room) + "/bookings?from=" + from + "&to=" + to, admin_token);
    EXPECT_EQ(r.status, 200) << r.describe();
    if (r.status != 200) return {};
    return r.json.at("bookings").as_array();
  }
  long long bookings_of(std::int64_t meeting) {
    return count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + std::to_string(meeting));
  }
  // Bookings whose range is exactly [start, end) (RFC 3339 UTC).
  long long booked(std::int64_t room, const std::string& start, const std::string& end) {
    return count("SELECT count(*) FROM room_bookings WHERE room_id = " + std::to_string(room) + " AND during = tstzrange('" +
                 start + "', '" + end + "')");
  }
  long long meetings() { return count("SELECT count(*) FROM meetings WHERE kind <> 'annual'"); }
  long long all_bookings() { return count("SELECT count(*) FROM room_bookings"); }
  long long all_events() { return count("SELECT count(*) FROM events"); }
  long long events(const std::string& kind) { return count("SELECT count(*) FROM events WHERE kind = '" + kind + "'"); }
  int sequence(std::int64_t meeting) {
    return std::stoi(scalar("SELECT sequence FROM meetings WHERE id = " + std::to_string(meeting)));
  }

  // Mondays 10:00 Europe/London (= 10:00Z in winter, 09:00Z in summer) from `first` inside the
  // booking horizon of `now` (18 months): counted independently of the daemon.
  static long long mondays_in_horizon(sys_days first, sys_seconds now) {
    const auto day = floor<days>(now);
    const year_month_day ymd{day};
    const sys_seconds horizon = sys_days{ymd + months{18}} + (now - day);
    long long n = 0;
    for (sys_days d = first; d + 9h < horizon; d += days{7})
      if (d + 11h > now) ++n;  // an occurrence that has ended is not booked
    return n;
  }

  std::int64_t room_a = 0, room_b = 0, coordinator = 0;
  std::string coord;
};

TEST_F(MeetingsTest, OneOffMeetingBooksItsRoom) {
  const auto r = create({{"title", "Kick-off"},
                         {"description", "Welcome"},
                         {"start", "2026-12-07T10:00"},
                         {"end", "2026-12-07T11:30"},
                         {"room_id", room_a}});
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("kind").as_string(), "meeting");
  EXPECT_EQ(r.json.at("title").as_string(), "Kick-off");
  EXPECT_EQ(r.json.at("community").as_string(), "data-science");
  EXPECT_EQ(r.json.at("status").as_string(), "confirmed");
  EXPECT_EQ(r.json.at("sequence").as_int64(), 0);
  EXPECT_EQ(r.json.at("start").as_string(), "2026-12-07T10:00:00");  // local, in time_zone
  EXPECT_EQ(r.json.at("time_zone").as_string(), "Europe/London");  // the community's zone
  EXPECT_EQ(r.json.at("start_utc").as_string(), "2026-12-07T10:00:00Z");
  EXPECT_EQ(r.json.at("end_utc").as_string(), "2026-12-07T11:30:00Z");
  EXPECT_EQ(r.json.at("room_id").as_int64(), room_a);
  EXPECT_FALSE(r.json.at("uid").as_string().empty());
  const auto id = r.json.at("id").as_int64();

  EXPECT_EQ(meetings(), 1);
  EXPECT_EQ(bookings_of(id), 1);
  EXPECT_EQ(booked(room_a, "2026-12-07T10:00:00Z", "2026-12-07T11:30:00Z"), 1);
  EXPECT_EQ(events("meeting.scheduled"), 1);

  const auto list = bookings(room_a, "2026-12-01", "2026-12-31");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("meeting_id").as_int64(), id);
  EXPECT_EQ(list[0].at("title").as_string(), "Kick-off");
  EXPECT_EQ(list[0].at("start").as_string(), "2026-12-07T10:00:00Z");
  EXPECT_EQ(list[0].at("end").as_string(), "2026-12-07T11:30:00Z");
  EXPECT_TRUE(bookings(room_b, "2026-12-01", "2026-12-31").empty());

  const auto g = get("/v1/meetings/" + std::to_string(id), coord);
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.json.at("uid").as_string(), r.json.at("uid").as_string());
}

TEST_F(MeetingsTest, WeeklySeriesBooksEveryOccurrenceInTheHorizon) {
  // Mondays from 2026-11-30, no end: every Monday up to now + 18 months (2028-05-28T12:00Z).
  const auto expected = mondays_in_horizon(sys_days{2026y / November / 30}, sys_days{2026y / November / 28} + 12h);
  ASSERT_EQ(expected, 78);
  const auto id = must_create({{"title", "Weekly"},
                               {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"},
                               {"rrule", "FREQ=WEEKLY"},
                               {"room_id", room_a}});
  EXPECT_EQ(bookings_of(id), expected);
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + std::to_string(id) +
                  " AND extract(isodow FROM lower(during) AT TIME ZONE 'Europe/London') = 1 "
                  "AND (lower(during) AT TIME ZONE 'Europe/London')::time = '10:00'"),
            expected);
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE lower(during) > '2028-05-28T12:00:00Z'"), 0);
  EXPECT_EQ(booked(room_a, "2028-05-22T09:00:00Z", "2028-05-22T10:00:00Z"), 1);  // the last one, in BST
  EXPECT_EQ(booked(room_a, "2027-07-12T09:00:00Z", "2027-07-12T10:00:00Z"), 1);  // summer time
  // The bookings route shows them all.
  EXPECT_EQ(bookings(room_a, "2026-11-28", "2028-06-30").size(), static_cast<std::size_t>(expected));

  // A bounded series books exactly its occurrences.
  const auto five = must_create({{"title", "Five"},
                                 {"start", "2026-12-02T10:00"},
                                 {"end", "2026-12-02T11:00"},
                                 {"rrule", "FREQ=WEEKLY;COUNT=5"},
                                 {"room_id", room_b}});
  EXPECT_EQ(bookings_of(five), 5);
  EXPECT_EQ(booked(room_b, "2026-12-30T10:00:00Z", "2026-12-30T11:00:00Z"), 1);
  EXPECT_EQ(booked(room_b, "2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z"), 0);
}

TEST_F(MeetingsTest, OverlappingMeetingIsRefusedAndLeavesNothingBehind) {
  const auto first = must_create(
      {{"title", "Reading group"}, {"start", "2026-12-07T10:00"}, {"end", "2026-12-07T11:00"}, {"room_id", room_a}});
  const auto meetings_before = meetings(), bookings_before = all_bookings(), events_before = all_events();

  const auto r = create(
      {{"title", "Intruder"}, {"start", "2026-12-07T10:30"}, {"end", "2026-12-07T11:30"}, {"room_id", room_a}}, "gardening");
  ASSERT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.content_type, "application/problem+json");
  const auto& other = r.json.at("conflicting_meeting");
  EXPECT_EQ(other.at("id").as_int64(), first);
  EXPECT_EQ(other.at("title").as_string(), "Reading group");
  EXPECT_EQ(other.at("community").as_string(), "data-science");
  EXPECT_EQ(other.at("start").as_string(), "2026-12-07T10:00:00Z");
  EXPECT_EQ(other.at("end").as_string(), "2026-12-07T11:00:00Z");
  const std::string detail(r.json.at("detail").as_string());
  EXPECT_NE(detail.find("Reading group"), std::string::npos) << detail;
  EXPECT_NE(detail.find(std::to_string(first)), std::string::npos) << detail;
  EXPECT_NE(detail.find("2026-12-07T10:00:00Z"), std::string::npos) << detail;

  // Nothing of the refused meeting exists.
  EXPECT_EQ(meetings(), meetings_before);
  EXPECT_EQ(all_bookings(), bookings_before);
  EXPECT_EQ(all_events(), events_before);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE title = 'Intruder'"), 0);

  // Same time in another room is fine; back-to-back in the same room too.
  const auto elsewhere = must_create(
      {{"title", "Elsewhere"}, {"start", "2026-12-07T10:30"}, {"end", "2026-12-07T11:30"}, {"room_id", room_b}});
  EXPECT_EQ(bookings_of(elsewhere), 1);
  const auto before = must_create(
      {{"title", "Before"}, {"start", "2026-12-07T09:00"}, {"end", "2026-12-07T10:00"}, {"room_id", room_a}});
  const auto after = must_create(
      {{"title", "After"}, {"start", "2026-12-07T11:00"}, {"end", "2026-12-07T12:00"}, {"room_id", room_a}});
  EXPECT_EQ(bookings_of(before), 1);
  EXPECT_EQ(bookings_of(after), 1);
  EXPECT_EQ(bookings(room_a, "2026-12-07", "2026-12-08").size(), 3u);
}

TEST_F(MeetingsTest, ASeriesCollidingMonthsAheadIsRefusedWhole) {
  const auto summer = must_create(
      {{"title", "Summer talk"}, {"start", "2027-06-14T10:30"}, {"end", "2027-06-14T11:30"}, {"room_id", room_a}});
  const auto meetings_before = meetings(), bookings_before = all_bookings(), events_before = all_events();
  // Mondays 10:00-11:00 London: the 29th occurrence (2027-06-14) overlaps the talk.
  const auto r = create({{"title", "Weekly"},
                         {"start", "2026-11-30T10:00"},
                         {"end", "2026-11-30T11:00"},
                         {"rrule", "FREQ=WEEKLY"},
                         {"room_id", room_a}});
  ASSERT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json.at("conflicting_meeting").at("id").as_int64(), summer);
  EXPECT_EQ(r.json.at("conflicting_meeting").at("start").as_string(), "2027-06-14T09:30:00Z");
  EXPECT_EQ(meetings(), meetings_before);
  EXPECT_EQ(all_bookings(), bookings_before);
  EXPECT_EQ(all_events(), events_before);
}

TEST_F(MeetingsTest, ASeriesWhoseOwnOccurrencesOverlapIsRefusedNotAServerError) {
  // 25-hour occurrences every day: each overlaps the next in the same room.
  const auto meetings_before = meetings(), bookings_before = all_bookings();
  const auto r = create({{"title", "Marathon"},
                         {"start", "2026-12-01T10:00"},
                         {"end", "2026-12-02T11:00"},
                         {"rrule", "FREQ=DAILY;COUNT=3"},
                         {"room_id", room_a}});
  EXPECT_TRUE(r.status == 409 || r.status == 422) << r.describe();
  EXPECT_EQ(meetings(), meetings_before);
  EXPECT_EQ(all_bookings(), bookings_before);
}

TEST_F(MeetingsTest, WeeklyMeetingKeepsItsLocalTimeAcrossDaylightSaving) {
  // Wednesdays 10:00 in New York; US daylight saving starts on Sunday 2027-03-14.
  const auto r = create({{"title", "NY weekly"},
                         {"start", "2027-03-03T10:00"},
                         {"end", "2027-03-03T11:00"},
                         {"time_zone", "America/New_York"},
                         {"rrule", "FREQ=WEEKLY;BYDAY=WE"},
                         {"room_id", room_a}});
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json.at("time_zone").as_string(), "America/New_York");
  EXPECT_EQ(r.json.at("start").as_string(), "2027-03-03T10:00:00");
  EXPECT_EQ(r.json.at("start_utc").as_string(), "2027-03-03T15:00:00Z");

  const auto list = bookings(room_a, "2027-03-01", "2027-03-25");
  ASSERT_EQ(list.size(), 4u);
  const std::vector<std::string> starts{"2027-03-03T15:00:00Z", "2027-03-10T15:00:00Z", "2027-03-17T14:00:00Z",
                                        "2027-03-24T14:00:00Z"};
  const std::vector<std::string> ends{"2027-03-03T16:00:00Z", "2027-03-10T16:00:00Z", "2027-03-17T15:00:00Z",
                                      "2027-03-24T15:00:00Z"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(list[i].at("start").as_string(), starts[i]) << i;
    EXPECT_EQ(list[i].at("end").as_string(), ends[i]) << i;
  }
  // And back in November (DST ends 2027-11-07).
  const auto autumn = bookings(room_a, "2027-11-01", "2027-11-12");
  ASSERT_EQ(autumn.size(), 2u);
  EXPECT_EQ(autumn[0].at("start").as_string(), "2027-11-03T14:00:00Z");
  EXPECT_EQ(autumn[1].at("start").as_string(), "2027-11-10T15:00:00Z");
  // Every booking is at 10:00 New York time.
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE (lower(during) AT TIME ZONE 'America/New_York')::time <> '10:00'"),
            0);
}

TEST_F(MeetingsTest, InvalidRruleIsRefused) {
  const auto meetings_before = meetings(), events_before = all_events();
  for (const char* rrule : {"FREQ=SOMETIMES", "FREQ=HOURLY", "BYDAY=MO", "FREQ=WEEKLY;COUNT=2;UNTIL=20270101T000000Z",
                            "FREQ=WEEKLY;BYDAY=XX", "FREQ=WEEKLY;INTERVAL=0"}) {
    const auto r = create({{"title", "Bad"},
                           {"start", "2026-12-07T10:00"},
                           {"end", "2026-12-07T11:00"},
                           {"rrule", rrule},
                           {"room_id", room_a}});
    EXPECT_EQ(r.status, 422) << rrule << ": " << r.describe();
    if (r.json.is_object() && r.json.as_object().contains("errors")) {
      const auto& errors = r.json.at("errors").as_array();
      ASSERT_FALSE(errors.empty());
      EXPECT_EQ(errors[0].at("field").as_string(), "rrule") << rrule;
    }
  }
  EXPECT_EQ(meetings(), meetings_before);
  EXPECT_EQ(all_bookings(), 0);
  EXPECT_EQ(all_events(), events_before);
}

class MeetingsLimitTest : public MeetingsTest {
 protected:
  void SetUp() override {
    config.max_occurrences = 100;  // read by the API on every request
    MeetingsTest::SetUp();
  }
};

TEST_F(MeetingsLimitTest, ASeriesWithMoreOccurrencesThanTheLimitIsRefused) {
  const auto events_before = all_events();
  // Daily for 18 months is about 548 occurrences, over the limit of 100: with a room and without.
  for (const bool with_room : {true, false}) {
    json::object m{{"title", "Daily stand-up"}, {"start", "2026-12-01T09:00"}, {"end", "2026-12-01T09:15"},
                   {"rrule", "FREQ=DAILY"}};
    if (with_room) m["room_id"] = room_a;
    const auto r = create(m);
    EXPECT_EQ(r.status, 422) << r.describe();
    ASSERT_TRUE(r.json.is_object()) << r.describe();
    const auto& errors = r.json.at("errors").as_array();
    ASSERT_FALSE(errors.empty());
    EXPECT_EQ(errors[0].at("field").as_string(), "rrule");
    EXPECT_NE(std::string(errors[0].at("message").as_string()).find("100"), std::string::npos) << r.body;
  }
  EXPECT_EQ(meetings(), 0);
  EXPECT_EQ(all_bookings(), 0);
  EXPECT_EQ(all_events(), events_before);

  // Exactly at the limit is fine.
  const auto ok = must_create({{"title", "Hundred"},
                               {"start", "2026-12-01T09:00"},
                               {"end", "2026-12-01T09:15"},
                               {"rrule", "FREQ=DAILY;COUNT=100"},
                               {"room_id", room_a}});
  EXPECT_EQ(bookings_of(ok), 100);
}

TEST_F(MeetingsTest, EditingTheTitleRaisesSequenceAndKeepsTheUid) {
  const auto r0 = create({{"title", "Weekly"},
                          {"start", "2026-11-30T10:00"},
                          {"end", "2026-11-30T11:00"},
                          {"rrule", "FREQ=WEEKLY;COUNT=10"},
                          {"room_id", room_a}});
  ASSERT_EQ(r0.status, 201) << r0.describe();
  const auto id = r0.json.at("id").as_int64();
  const std::string uid(r0.json.at("uid").as_string());
  const auto path = "/v1/meetings/" + std::to_string(id);

  auto r = patch(path, {{"title", "Weekly (renamed)"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("title").as_string(), "Weekly (renamed)");
  EXPECT_EQ(r.json.at("sequence").as_int64(), 1);
  EXPECT_EQ(r.json.at("uid").as_string(), uid);
  EXPECT_EQ(sequence(id), 1);
  EXPECT_EQ(scalar("SELECT uid FROM meetings WHERE id = " + std::to_string(id)), uid);
  EXPECT_EQ(scalar("SELECT title FROM meetings WHERE id = " + std::to_string(id)), "Weekly (renamed)");
  ASSERT_EQ(events("meeting.updated"), 1);
  const auto p = json::parse(scalar("SELECT payload FROM events WHERE kind = 'meeting.updated'"));
  EXPECT_EQ(p.at("title").as_string(), "Weekly (renamed)");
  EXPECT_EQ(p.at("sequence").as_int64(), 1);
  EXPECT_EQ(bookings_of(id), 10);

  // The same title again changes nothing.
  r = patch(path, {{"title", "Weekly (renamed)"}});
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(sequence(id), 1);
  EXPECT_EQ(events("meeting.updated"), 1);

  // Someone who is not a coordinator of the community cannot edit it.
  const auto stranger = make_member("s@example.org");
  r = request("PATCH", path, token_for(stranger), body({{"title", "Mine now"}}));
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(sequence(id), 1);
  EXPECT_EQ(scalar("SELECT title FROM meetings WHERE id = " + std::to_string(id)), "Weekly (renamed)");
}

TEST_F(MeetingsTest, MovingOneOccurrenceMovesItsBooking) {
  const auto id = must_create({{"title", "Weekly"},
                               {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"},
                               {"rrule", "FREQ=WEEKLY"},
                               {"room_id", room_a}});
  const auto total = bookings_of(id);
  const auto path = "/v1/meetings/" + std::to_string(id) + "/occurrences/";

  auto r = patch(path + "2026-12-07T10:00", {{"start", "2026-12-08T14:00"}, {"end", "2026-12-08T15:00"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("sequence").as_int64(), 1);
  ASSERT_EQ(r.json.at("moved_occurrences").as_array().size(), 1u);
  const auto& moved = r.json.at("moved_occurrences").as_array()[0];
  EXPECT_EQ(moved.at("recurrence_id").as_string(), "2026-12-07T10:00:00Z");
  EXPECT_EQ(moved.at("start_utc").as_string(), "2026-12-08T14:00:00Z");
  EXPECT_EQ(sequence(id), 1);
  EXPECT_EQ(bookings_of(id), total);
  EXPECT_EQ(booked(room_a, "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"), 0);
  EXPECT_EQ(booked(room_a, "2026-12-08T14:00:00Z", "2026-12-08T15:00:00Z"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + std::to_string(id) +
                  " AND recurrence_id = '2026-12-07T10:00:00Z' AND during = tstzrange('2026-12-08T14:00:00Z', "
                  "'2026-12-08T15:00:00Z')"),
            1);
  EXPECT_EQ(events("meeting.updated"), 1);
  const auto list = bookings(room_a, "2026-12-07", "2026-12-09");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("start").as_string(), "2026-12-08T14:00:00Z");
  EXPECT_EQ(list[0].at("recurrence_id").as_string(), "2026-12-07T10:00:00Z");

  // The old slot is free for someone else.
  const auto taker = must_create(
      {{"title", "Taker"}, {"start", "2026-12-07T10:00"}, {"end", "2026-12-07T11:00"}, {"room_id", room_a}}, "gardening");
  EXPECT_EQ(bookings_of(taker), 1);

  // Moving another occurrence onto another meeting's slot is refused, naming it; nothing changes.
  const auto events_before = all_events();
  r = patch(path + "2026-12-14T10:00:00Z", {{"start", "2026-12-07T10:30"}, {"end", "2026-12-07T11:30"}});
  ASSERT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json.at("conflicting_meeting").at("id").as_int64(), taker);
  EXPECT_EQ(sequence(id), 1);
  EXPECT_EQ(booked(room_a, "2026-12-14T10:00:00Z", "2026-12-14T11:00:00Z"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM meeting_exceptions WHERE meeting_id = " + std::to_string(id)), 1);
  EXPECT_EQ(bookings_of(id), total);
  EXPECT_EQ(all_events(), events_before);

  // A later edit of the series keeps the moved occurrence where it was moved.
  r = patch("/v1/meetings/" + std::to_string(id), {{"title", "Weekly (renamed)"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(sequence(id), 2);
  EXPECT_EQ(booked(room_a, "2026-12-08T14:00:00Z", "2026-12-08T15:00:00Z"), 1);
  EXPECT_EQ(bookings_of(id), total);
}

TEST_F(MeetingsTest, MovingAnOccurrenceOntoItsOwnSeriesIsRefusedNotAServerError) {
  const auto id = must_create({{"title", "Weekly"},
                               {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"},
                               {"rrule", "FREQ=WEEKLY;COUNT=5"},
                               {"room_id", room_a}});
  // The 2026-12-07 occurrence moved to overlap the 2026-12-14 one, in the same room.
  const auto r = patch("/v1/meetings/" + std::to_string(id) + "/occurrences/2026-12-07T10:00",
                       {{"start", "2026-12-14T10:30"}, {"end", "2026-12-14T11:30"}});
  EXPECT_TRUE(r.status == 409 || r.status == 422) << r.describe();
  EXPECT_EQ(sequence(id), 0);
  EXPECT_EQ(bookings_of(id), 5);
  EXPECT_EQ(booked(room_a, "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM meeting_exceptions"), 0);
}

TEST_F(MeetingsTest, CancellingOneOccurrenceFreesItsBooking) {
  const auto id = must_create({{"title", "Weekly"},
                               {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"},
                               {"rrule", "FREQ=WEEKLY;COUNT=10"},
                               {"room_id", room_a}});
  const auto r = post("/v1/meetings/" + std::to_string(id) + "/occurrences/2026-12-14T10:00/cancel", coord);
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(r.json.at("cancelled_occurrences").as_array().size(), 1u);
  EXPECT_EQ(r.json.at("cancelled_occurrences").as_array()[0].as_string(), "2026-12-14T10:00:00Z");
  EXPECT_EQ(r.json.at("status").as_string(), "confirmed");
  EXPECT_EQ(r.json.at("sequence").as_int64(), 1);
  EXPECT_EQ(sequence(id), 1);
  EXPECT_EQ(bookings_of(id), 9);
  EXPECT_EQ(booked(room_a, "2026-12-14T10:00:00Z", "2026-12-14T11:00:00Z"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM meeting_exceptions WHERE meeting_id = " + std::to_string(id) +
                  " AND cancelled AND recurrence_id = '2026-12-14T10:00:00Z'"),
            1);
  EXPECT_EQ(events("meeting.cancelled"), 1);
  EXPECT_EQ(scalar("SELECT status FROM meetings WHERE id = " + std::to_string(id)), "confirmed");

  // Cancelling it again changes nothing: no new SEQUENCE, no second notice.
  const auto again = post("/v1/meetings/" + std::to_string(id) + "/occurrences/2026-12-14T10:00:00Z/cancel", coord);
  EXPECT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(sequence(id), 1);
  EXPECT_EQ(events("meeting.cancelled"), 1);

  // The freed slot can be taken.
  const auto taker = must_create(
      {{"title", "Taker"}, {"start", "2026-12-14T10:00"}, {"end", "2026-12-14T11:00"}, {"room_id", room_a}}, "gardening");
  EXPECT_EQ(bookings_of(taker), 1);

  // Re-booking the series on an edit does not bring the cancelled occurrence back.
  const auto e = patch("/v1/meetings/" + std::to_string(id), {{"description", "now with agenda"}});
  ASSERT_EQ(e.status, 200) << e.describe();
  EXPECT_EQ(bookings_of(id), 9);
  EXPECT_EQ(e.json.at("cancelled_occurrences").as_array().size(), 1u);
}

TEST_F(MeetingsTest, CancellingTheSeriesFreesEveryBooking) {
  const auto id = must_create({{"title", "Weekly"},
                               {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"},
                               {"rrule", "FREQ=WEEKLY"},
                               {"room_id", room_a}});
  ASSERT_GT(bookings_of(id), 70);
  auto r = post("/v1/meetings/" + std::to_string(id) + "/cancel", coord);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("status").as_string(), "cancelled");
  EXPECT_EQ(r.json.at("sequence").as_int64(), 1);
  EXPECT_EQ(scalar("SELECT status FROM meetings WHERE id = " + std::to_string(id)), "cancelled");
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE id = " + std::to_string(id) + " AND cancelled_at IS NOT NULL"), 1);
  EXPECT_EQ(bookings_of(id), 0);
  EXPECT_TRUE(bookings(room_a, "2026-11-28", "2028-06-30").empty());
  ASSERT_EQ(events("meeting.cancelled"), 1);
  EXPECT_EQ(json::parse(scalar("SELECT payload FROM events WHERE kind = 'meeting.cancelled'")).at("status").as_string(),
            "cancelled");

  // Cancelling again is harmless; editing a cancelled meeting is refused.
  r = post("/v1/meetings/" + std::to_string(id) + "/cancel", coord);
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(events("meeting.cancelled"), 1);
  EXPECT_EQ(sequence(id), 1);
  r = patch("/v1/meetings/" + std::to_string(id), {{"title", "Back"}});
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(bookings_of(id), 0);

  // The room is free again.
  must_create({{"title", "Taker"}, {"start", "2027-01-04T10:00"}, {"end", "2027-01-04T11:00"}, {"room_id", room_a}});
}

TEST_F(MeetingsTest, UnknownOccurrencesAreNotFound) {
  const auto id = must_create({{"title", "Weekly"},
                               {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"},
                               {"rrule", "FREQ=WEEKLY;COUNT=4"},
                               {"room_id", room_a}});
  const auto one_off = must_create(
      {{"title", "Once"}, {"start", "2026-12-09T10:00"}, {"end", "2026-12-09T11:00"}, {"room_id", room_b}});
  const auto base = "/v1/meetings/" + std::to_string(id) + "/occurrences/";
  const json::object move{{"start", "2026-12-10T10:00"}, {"end", "2026-12-10T11:00"}};
  // Not on the rule (a Tuesday; 10:30), after COUNT, not a time at all.
  for (const char* rid : {"2026-12-08T10:00", "2026-12-07T10:30", "2026-12-28T10:00", "2026-12-21T10:00:00+01:00",
                          "yesterday"}) {
    auto r = patch(base + rid, move);
    EXPECT_EQ(r.status, 404) << rid << ": " << r.describe();
    r = post(base + rid + "/cancel", coord);
    EXPECT_EQ(r.status, 404) << rid << ": " << r.describe();
  }
  // A meeting that does not repeat has no occurrences to address; an unknown meeting neither.
  EXPECT_EQ(post("/v1/meetings/" + std::to_string(one_off) + "/occurrences/2026-12-09T10:00/cancel", coord).status, 404);
  EXPECT_EQ(post("/v1/meetings/999999/occurrences/2026-12-07T10:00/cancel", coord).status, 404);
  EXPECT_EQ(get("/v1/meetings/999999", coord).status, 404);
  EXPECT_EQ(count("SELECT count(*) FROM meeting_exceptions"), 0);
  EXPECT_EQ(sequence(id), 0);
  EXPECT_EQ(bookings_of(id), 4);
}

TEST_F(MeetingsTest, ThePastIsNeverBooked) {
  // A series that started four weeks before "now" (2026-11-28T12:00Z): only what is still to
  // come is booked.
  const auto now = sys_days{2026y / November / 28} + 12h;
  const auto id = must_create({{"title", "Weekly"},
                               {"start", "2026-11-02T10:00"},
                               {"end", "2026-11-02T11:00"},
                               {"rrule", "FREQ=WEEKLY"},
                               {"room_id", room_a}});
  EXPECT_EQ(bookings_of(id), mondays_in_horizon(sys_days{2026y / November / 2}, now));
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE lower(during) < '2026-11-28T12:00:00Z'"), 0);
  EXPECT_EQ(booked(room_a, "2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z"), 1);  // the first one still to come

  // Six weeks later an edit re-books: nothing new lands in the past, the horizon moves on.
  const auto later = sys_days{2027y / January / 13} + 12h;
  clock.set(convene::calendar::Instant{later.time_since_epoch()});
  const auto r = patch("/v1/meetings/" + std::to_string(id), {{"description", "new agenda"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + std::to_string(id) +
                  " AND lower(during) >= '2027-01-13T12:00:00Z'"),
            mondays_in_horizon(sys_days{2026y / November / 2}, later));
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE lower(during) < '2026-11-28T12:00:00Z'"), 0);

  // Moving an occurrence into the past books nothing there.
  const auto m = patch("/v1/meetings/" + std::to_string(id) + "/occurrences/2027-01-18T10:00",
                       {{"start", "2027-01-06T10:00"}, {"end", "2027-01-06T11:00"}});
  EXPECT_TRUE(m.status == 200 || m.status == 422) << m.describe();
  if (m.status == 200) {
    EXPECT_EQ(booked(room_a, "2027-01-06T10:00:00Z", "2027-01-06T11:00:00Z"), 0);
    EXPECT_EQ(booked(room_a, "2027-01-18T10:00:00Z", "2027-01-18T11:00:00Z"), 0);
  }
}
