// Annual meetings over the real HTTP API: the TBD placeholders of a year, setting a date and
// time (window, force, overlaps, rooms), and the committee's plan and its one-step apply.
#include "support/api_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

using convene::testing::ApiResponse;
using convene::testing::ApiTest;
namespace json = boost::json;
using namespace std::chrono;
using sys_minutes = sys_time<minutes>;

namespace {

std::string body(const json::object& o) { return json::serialize(o); }

// "2027-07-08T09:00" (local wall clock) or "2027-07-08T08:00:00Z" as minutes since the epoch.
sys_minutes minutes_of(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  if (std::sscanf(std::string(text).c_str(), "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi) != 5)
    throw std::runtime_error("not a date-time: " + std::string(text));
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} + hours{h} + minutes{mi};
}

std::string str(const json::value& v) { return std::string(v.as_string()); }

}  // namespace

class AnnualTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    const auto c = make_member("committee@example.org");
    grant_global(c, "committee");
    committee = token_for(c);
  }

  std::string scalar(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    const auto rows = tx.exec(sql);
    if (rows.empty() || rows[0][0].is_null()) return "";
    return rows[0][0].as<std::string>();
  }
  // Every annual meeting of 2027 as "slug status sequence starts_at ends_at room", one per line:
  // a fingerprint of the year to compare before and after a refused request.
  std::string year_state() {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    std::string out;
    for (const auto& r : tx.exec(
             "SELECT c.slug, m.status, m.sequence, to_char(m.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
             "to_char(m.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), coalesce(m.room_id::text, '-'), m.uid "
             "FROM meetings m JOIN communities c ON c.id = m.community_id WHERE m.kind = 'annual' AND m.annual_year = 2027 "
             "ORDER BY c.slug")) {
      for (const auto& f : r) out += f.as<std::string>() + " ";
      out += "\n";
    }
    return out + "bookings " + std::to_string(count("SELECT count(*) FROM room_bookings")) + " events " +
           std::to_string(count("SELECT count(*) FROM events"));
  }
  ApiResponse set(const std::string& slug, const json::object& o, const std::string& token = "") {
    return request("PUT", "/v1/communities/" + slug + "/annual-meeting/2027", token.empty() ? committee : token, body(o));
  }
  std::string annual(const std::string& slug, const std::string& column) {
    return scalar("SELECT m." + column +
                  " FROM meetings m JOIN communities c ON c.id = m.community_id WHERE m.kind = 'annual' "
                  "AND m.annual_year = 2027 AND c.slug = '" + slug + "'");
  }
  long long confirmed_2027() {
    return count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2027 AND status = 'confirmed'");
  }
  long long overlapping_confirmed_pairs() {
    return count(
        "SELECT count(*) FROM meetings a JOIN meetings b ON a.id < b.id "
        "WHERE a.kind = 'annual' AND b.kind = 'annual' AND a.annual_year = 2027 AND b.annual_year = 2027 "
        "AND a.status = 'confirmed' AND b.status = 'confirmed' "
        "AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)");
  }
  // A meeting coordinator's one-off meeting in `room` (local London times).
  std::int64_t book(const std::string& slug, std::int64_t room, const std::string& start, const std::string& end) {
    const auto m = make_member("coord-" + std::to_string(++coordinators) + "@example.org");
    grant(m, slug, "meeting_coordinator");
    const auto r = post("/v1/communities/" + slug + "/meetings", token_for(m),
                        body({{"title", "Busy " + start}, {"start", start}, {"end", end}, {"room_id", room}}));
    if (r.status != 201) throw std::runtime_error("booking failed: " + r.describe());
    return r.json.at("id").as_int64();
  }
  ApiResponse plan(const json::object& o) { return post("/v1/annual-meetings/2027/plan", committee, body(o)); }
  ApiResponse apply(const json::value& proposal) {
    return post("/v1/annual-meetings/2027/plan/apply", committee, json::serialize(json::object{{"proposal", proposal}}));
  }

  std::string committee;
  int coordinators = 0;
};

// ---------------------------------------------------------------------------------------------
// Placeholders

TEST_F(AnnualTest, TheYearListsAPlaceholderForEveryActiveCommunityOnce) {
  make_community("alpha", "Alpha");
  make_community("beta", "Beta");
  make_community("gamma", "Gamma");
  make_community("gone", "Gone");
  // Creating a community makes next year's placeholder; archiving drops it again.
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE annual_year = 2027"), 4);
  ASSERT_EQ(post("/v1/communities/gone/archive", admin_token).status, 200);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE annual_year = 2027"), 3);

  const auto member = token_for(make_member("m@example.org"));
  auto r = get("/v1/annual-meetings/2027", member);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("year").as_int64(), 2027);
  EXPECT_EQ(str(r.json.at("window").at("first")), "2027-07-08");
  EXPECT_EQ(str(r.json.at("window").at("last")), "2027-07-14");
  EXPECT_EQ(r.json.at("tbd").as_int64(), 3);
  const auto& items = r.json.at("items").as_array();
  ASSERT_EQ(items.size(), 3u);
  std::set<std::string> communities, uids;
  for (const auto& item : items) {
    communities.insert(str(item.at("community")));
    uids.insert(str(item.at("uid")));
    EXPECT_EQ(str(item.at("kind")), "annual");
    EXPECT_EQ(str(item.at("status")), "tentative");
    EXPECT_EQ(str(item.at("state")), "tbd");
    EXPECT_TRUE(item.at("all_day").as_bool());
    EXPECT_EQ(str(item.at("start")), "2027-07-08");
    EXPECT_EQ(str(item.at("end")), "2027-07-15");
    EXPECT_EQ(item.at("annual_year").as_int64(), 2027);
    const auto title = str(item.at("title"));
    const std::string suffix = "(date and time TBD)";
    EXPECT_TRUE(title.size() > suffix.size() && title.compare(title.size() - suffix.size(), suffix.size(), suffix) == 0)
        << title;
  }
  EXPECT_EQ(communities, (std::set<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_EQ(uids.size(), 3u);

  const std::string rows_sql =
      "SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2027 AND all_day AND status = 'tentative' "
      "AND start_local = '2027-07-08 00:00' AND end_local = '2027-07-15 00:00' AND time_zone = 'Europe/London' "
      "AND starts_at = '2027-07-07T23:00:00Z' AND ends_at = '2027-07-14T23:00:00Z' AND room_id IS NULL "
      "AND title LIKE '%(date and time TBD)'";
  EXPECT_EQ(count(rows_sql), 3);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE annual_year = 2027"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM meetings m JOIN communities c ON c.id = m.community_id "
                  "WHERE m.annual_year = 2027 AND c.slug = 'gone'"),
            0);
  const auto before = year_state();

  // Asking again is idempotent: the same rows, the same UIDs.
  r = get("/v1/annual-meetings/2027", member);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("items").as_array().size(), 3u);
  std::set<std::string> again;
  for (const auto& item : r.json.at("items").as_array()) again.insert(str(item.at("uid")));
  EXPECT_EQ(again, uids);
  EXPECT_EQ(year_state(), before);

  // A community created later gets its placeholder on the next look.
  make_community("delta", "Delta");
  r = get("/v1/annual-meetings/2027", member);
  EXPECT_EQ(r.json.at("items").as_array().size(), 4u);
  EXPECT_EQ(count(rows_sql), 4);
}

// ---------------------------------------------------------------------------------------------
// Setting a date and time

TEST_F(AnnualTest, SettingInsideTheWindowConfirmsTheSameEvent) {
  make_community("alpha", "Alpha");
  ASSERT_EQ(get("/v1/annual-meetings/2027", committee).status, 200);
  const auto uid = annual("alpha", "uid");
  const auto seq = std::stoi(annual("alpha", "sequence"));
  const auto id = annual("alpha", "id");

  auto r = set("alpha", {{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T15:30"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(str(r.json.at("uid")), uid);
  EXPECT_EQ(r.json.at("id").as_int64(), std::stoll(id));
  EXPECT_EQ(r.json.at("sequence").as_int64(), seq + 1);
  EXPECT_EQ(str(r.json.at("status")), "confirmed");
  EXPECT_EQ(str(r.json.at("state")), "confirmed");
  EXPECT_FALSE(r.json.at("all_day").as_bool());
  EXPECT_EQ(str(r.json.at("start")), "2027-07-12T14:00:00");
  EXPECT_EQ(str(r.json.at("end")), "2027-07-12T15:30:00");
  EXPECT_EQ(str(r.json.at("time_zone")), "Europe/London");
  EXPECT_EQ(str(r.json.at("start_utc")), "2027-07-12T13:00:00Z");
  EXPECT_EQ(str(r.json.at("end_utc")), "2027-07-12T14:30:00Z");
  EXPECT_EQ(str(r.json.at("title")).find("TBD"), std::string::npos);

  EXPECT_EQ(annual("alpha", "uid"), uid);
  EXPECT_EQ(annual("alpha", "status"), "confirmed");
  EXPECT_EQ(std::stoi(annual("alpha", "sequence")), seq + 1);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE id = " + id +
                  " AND NOT all_day AND starts_at = '2027-07-12T13:00:00Z' AND ends_at = '2027-07-12T14:30:00Z'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2027"), 1);
  ASSERT_EQ(count("SELECT count(*) FROM events WHERE kind = 'annual_meeting.scheduled'"), 1);
  EXPECT_EQ(scalar("SELECT community_id FROM events WHERE kind = 'annual_meeting.scheduled'"),
            scalar("SELECT id FROM communities WHERE slug = 'alpha'"));
  const auto p = json::parse(scalar("SELECT payload FROM events WHERE kind = 'annual_meeting.scheduled'"));
  EXPECT_EQ(str(p.at("uid")), uid);
  EXPECT_EQ(str(p.at("start_utc")), "2027-07-12T13:00:00Z");

  auto l = get("/v1/annual-meetings/2027", committee);
  EXPECT_EQ(l.json.at("tbd").as_int64(), 0);

  // Setting it again (another time, a partner's zone) raises SEQUENCE again; the UID stays.
  r = set("alpha", {{"start", "2027-07-13T09:00"}, {"end", "2027-07-13T10:00"}, {"time_zone", "America/New_York"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("sequence").as_int64(), seq + 2);
  EXPECT_EQ(str(r.json.at("uid")), uid);
  EXPECT_EQ(str(r.json.at("time_zone")), "America/New_York");
  EXPECT_EQ(str(r.json.at("start_utc")), "2027-07-13T13:00:00Z");
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE kind = 'annual_meeting.scheduled'"), 2);

  // Only the committee sets it.
  const auto member = token_for(make_member("m@example.org"));
  r = set("alpha", {{"start", "2027-07-09T09:00"}, {"end", "2027-07-09T10:00"}}, member);
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(std::stoi(annual("alpha", "sequence")), seq + 2);
}

TEST_F(AnnualTest, OutsideTheWindowIsRefusedUnlessForced) {
  make_community("alpha", "Alpha");
  ASSERT_EQ(get("/v1/annual-meetings/2027", committee).status, 200);
  const auto before = year_state();

  for (const auto& [start, end, zone] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"2027-07-15T10:00", "2027-07-15T11:00", "Europe/London"},
           {"2027-07-07T16:00", "2027-07-07T17:00", "Europe/London"},
           {"2027-06-10T10:00", "2027-06-10T11:00", "Europe/London"},
           // 20:00 in Chicago on the 14th is 02:00 on the 15th in London, the committee's zone.
           {"2027-07-14T20:00", "2027-07-14T21:00", "America/Chicago"},
           // Starting inside, ending after the window.
           {"2027-07-14T23:30", "2027-07-15T00:30", "Europe/London"}}) {
    const auto r = set("alpha", {{"start", start}, {"end", end}, {"time_zone", zone}});
    ASSERT_EQ(r.status, 422) << start << " " << zone << ": " << r.describe();
    const auto text = r.body;
    EXPECT_NE(text.find("2027-07-08"), std::string::npos) << text;
    EXPECT_NE(text.find("2027-07-14"), std::string::npos) << text;
    EXPECT_NE(text.find("force"), std::string::npos) << text;
  }
  EXPECT_EQ(year_state(), before);
  EXPECT_EQ(annual("alpha", "status"), "tentative");

  auto r = set("alpha", {{"start", "2027-07-15T10:00"}, {"end", "2027-07-15T11:00"}, {"force", false}});
  EXPECT_EQ(r.status, 422) << r.describe();
  r = set("alpha", {{"start", "2027-07-15T10:00"}, {"end", "2027-07-15T11:00"}, {"force", true}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(str(r.json.at("status")), "confirmed");
  EXPECT_EQ(str(r.json.at("start_utc")), "2027-07-15T09:00:00Z");
  EXPECT_EQ(annual("alpha", "status"), "confirmed");
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND starts_at = '2027-07-15T09:00:00Z'"), 1);
}

TEST_F(AnnualTest, TwoCommunitiesCannotMeetAtOverlappingTimes) {
  make_community("alpha", "Alpha");
  make_community("beta", "Beta");
  ASSERT_EQ(get("/v1/annual-meetings/2027", committee).status, 200);
  ASSERT_EQ(set("alpha", {{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T15:00"}}).status, 200);
  const auto alpha_id = std::stoll(annual("alpha", "id"));
  const auto before = year_state();

  // Overlapping by half an hour, even when given in another zone (09:30 New York = 14:30 London).
  for (const auto& [start, end, zone] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"2027-07-12T14:30", "2027-07-12T15:30", "Europe/London"},
           {"2027-07-12T13:00", "2027-07-12T16:00", "Europe/London"},
           {"2027-07-12T09:30", "2027-07-12T10:30", "America/New_York"}}) {
    const auto r = set("beta", {{"start", start}, {"end", end}, {"time_zone", zone}});
    ASSERT_EQ(r.status, 409) << start << ": " << r.describe();
    EXPECT_NE(r.body.find("alpha"), std::string::npos) << r.body;
    EXPECT_EQ(r.json.at("conflicting_meeting").at("id").as_int64(), alpha_id);
    EXPECT_EQ(str(r.json.at("conflicting_meeting").at("community")), "alpha");
  }
  EXPECT_EQ(year_state(), before);
  EXPECT_EQ(annual("beta", "status"), "tentative");
  // Forcing does not allow an overlap: force is about the window only.
  auto r = set("beta", {{"start", "2027-07-12T14:30"}, {"end", "2027-07-12T15:30"}, {"force", true}});
  EXPECT_EQ(r.status, 409) << r.describe();

  // Back to back is fine.
  r = set("beta", {{"start", "2027-07-12T15:00"}, {"end", "2027-07-12T16:00"}});
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(confirmed_2027(), 2);
  EXPECT_EQ(overlapping_confirmed_pairs(), 0);
}

TEST_F(AnnualTest, ABusyRoomIsAConflictAndAFreeOneIsBooked) {
  make_community("alpha", "Alpha");
  make_community("beta", "Beta");
  const auto room = make_room("Room-A");
  const auto busy = book("beta", room, "2027-07-12T14:00", "2027-07-12T15:00");
  ASSERT_EQ(get("/v1/annual-meetings/2027", committee).status, 200);
  const auto before = year_state();

  auto r = set("alpha", {{"start", "2027-07-12T14:30"}, {"end", "2027-07-12T15:30"}, {"room_id", room}});
  ASSERT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.json.at("conflicting_meeting").at("id").as_int64(), busy);
  EXPECT_EQ(year_state(), before);
  EXPECT_EQ(annual("alpha", "status"), "tentative");
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings b JOIN meetings m ON m.id = b.meeting_id WHERE m.kind = 'annual'"), 0);

  r = set("alpha", {{"start", "2027-07-12T15:00"}, {"end", "2027-07-12T16:00"}, {"room_id", room}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("room_id").as_int64(), room);
  const auto id = annual("alpha", "id");
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + id + " AND room_id = " + std::to_string(room) +
                  " AND during = tstzrange('2027-07-12T14:00:00Z', '2027-07-12T15:00:00Z')"),
            1);

  // Moving it releases the old booking.
  r = set("alpha", {{"start", "2027-07-13T10:00"}, {"end", "2027-07-13T11:00"}, {"room_id", room}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + id), 1);
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + id +
                  " AND during = tstzrange('2027-07-13T09:00:00Z', '2027-07-13T10:00:00Z')"),
            1);
}

// ---------------------------------------------------------------------------------------------
// The plan

TEST_F(AnnualTest, PlanPlacesFortyCommunitiesWithoutOverlapAndAppliesInOneStep) {
  std::set<std::string> slugs;
  for (int i = 1; i <= 40; ++i) {
    char slug[16];
    std::snprintf(slug, sizeof slug, "cop-%02d", i);
    make_community(slug, std::string("Community ") + slug);
    slugs.insert(slug);
  }
  const auto room_a = make_room("Room-A"), room_b = make_room("Room-B");
  // Room A is busy on the first morning; Room B on the first afternoon.
  book("cop-01", room_a, "2027-07-08T08:00", "2027-07-08T12:00");
  book("cop-02", room_b, "2027-07-08T13:00", "2027-07-08T18:00");

  const json::object request{{"weekdays_only", true},
                             {"day_start", "09:00"},
                             {"day_end", "18:00"},
                             {"duration", "PT45M"},
                             {"gap", "PT15M"}};
  const auto r = plan(request);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(r.json.at("unplaced").as_array().empty()) << r.body;
  const auto& slots = r.json.at("slots").as_array();
  ASSERT_EQ(slots.size(), 40u);
  // A plan proposes; it changes no meeting.
  EXPECT_EQ(confirmed_2027(), 0);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2027"), 40);

  std::multiset<std::string> placed;
  struct Span {
    sys_minutes start, end;
  };
  std::vector<Span> spans;
  for (const auto& v : slots) {
    const auto& s = v.as_object();
    placed.insert(str(s.at("community")));
    EXPECT_EQ(str(s.at("time_zone")), "Europe/London");
    const auto local_start = minutes_of(str(s.at("start"))), local_end = minutes_of(str(s.at("end")));
    const auto utc_start = minutes_of(str(s.at("start_utc"))), utc_end = minutes_of(str(s.at("end_utc")));
    // July: London is UTC+1.
    EXPECT_EQ(local_start - utc_start, hours{1}) << json::serialize(s);
    EXPECT_EQ(local_end - utc_end, hours{1}) << json::serialize(s);
    EXPECT_EQ(local_end - local_start, minutes{45}) << json::serialize(s);
    const auto day = floor<days>(local_start);
    const year_month_day ymd{day};
    EXPECT_EQ(ymd.year(), year{2027});
    EXPECT_EQ(ymd.month(), July);
    EXPECT_TRUE(ymd.day() >= std::chrono::day{8} && ymd.day() <= std::chrono::day{14}) << json::serialize(s);
    const weekday wd{day};
    EXPECT_TRUE(wd != Saturday && wd != Sunday) << json::serialize(s);
    EXPECT_GE(local_start - day, hours{9}) << json::serialize(s);
    EXPECT_LE(local_end - day, hours{18}) << json::serialize(s);
    // The room it names is free then.
    ASSERT_TRUE(s.at("room_id").is_int64()) << json::serialize(s);
    const auto room = s.at("room_id").as_int64();
    EXPECT_TRUE(room == room_a || room == room_b);
    EXPECT_EQ(count("SELECT count(*) FROM room_bookings WHERE room_id = " + std::to_string(room) +
                    " AND during && tstzrange('" + str(s.at("start_utc")) + "', '" + str(s.at("end_utc")) + "')"),
              0)
        << json::serialize(s);
    spans.push_back({utc_start, utc_end});
  }
  // Every community exactly once.
  EXPECT_EQ(std::set<std::string>(placed.begin(), placed.end()), slugs);
  EXPECT_EQ(placed.size(), 40u);
  // Pairwise apart by at least the gap.
  for (std::size_t i = 0; i < spans.size(); ++i)
    for (std::size_t j = i + 1; j < spans.size(); ++j)
      EXPECT_TRUE(spans[i].end + minutes{15} <= spans[j].start || spans[j].end + minutes{15} <= spans[i].start)
          << "slots " << i << " and " << j << " are closer than the gap";

  const auto applied = apply(r.json);
  ASSERT_EQ(applied.status, 200) << applied.describe();
  EXPECT_EQ(applied.json.at("applied").as_int64(), 40);
  EXPECT_EQ(confirmed_2027(), 40);
  EXPECT_EQ(overlapping_confirmed_pairs(), 0);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2027 AND sequence = 1 "
                  "AND NOT all_day AND ends_at - starts_at = interval '45 minutes'"),
            40);
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE kind = 'annual_meeting.scheduled'"), 40);
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings b JOIN meetings m ON m.id = b.meeting_id "
                  "WHERE m.kind = 'annual' AND m.annual_year = 2027"),
            40);
  // The confirmed meetings are where the proposal said.
  for (const auto& v : slots) {
    const auto& s = v.as_object();
    EXPECT_EQ(count("SELECT count(*) FROM meetings m JOIN communities c ON c.id = m.community_id WHERE m.kind = 'annual' "
                    "AND m.annual_year = 2027 AND c.slug = '" + str(s.at("community")) + "' AND m.starts_at = '" +
                    str(s.at("start_utc")) + "' AND m.room_id = " + std::to_string(s.at("room_id").as_int64())),
              1)
        << json::serialize(s);
  }
  auto l = get("/v1/annual-meetings/2027", committee);
  EXPECT_EQ(l.json.at("tbd").as_int64(), 0);

  // The same proposal again: refused, nothing changes.
  const auto before = year_state();
  const auto again = apply(r.json);
  EXPECT_EQ(again.status, 409) << again.describe();
  EXPECT_EQ(year_state(), before);
}

TEST_F(AnnualTest, PlanKeepsTheGapAroundMeetingsAlreadySet) {
  for (const char* slug : {"alpha", "beta", "gamma", "delta", "epsilon"}) make_community(slug, slug);
  ASSERT_EQ(set("alpha", {{"start", "2027-07-08T09:30"}, {"end", "2027-07-08T10:15"}}).status, 200);
  const auto r = plan({{"day_start", "09:00"}, {"day_end", "18:00"}, {"duration", "PT45M"}, {"gap", "PT15M"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto& slots = r.json.at("slots").as_array();
  ASSERT_EQ(slots.size(), 4u);  // alpha is set already
  const auto alpha_start = minutes_of("2027-07-08T08:30"), alpha_end = minutes_of("2027-07-08T09:15");  // UTC
  for (const auto& v : slots) {
    EXPECT_NE(str(v.at("community")), "alpha");
    const auto s = minutes_of(str(v.at("start_utc"))), e = minutes_of(str(v.at("end_utc")));
    EXPECT_TRUE(e + minutes{15} <= alpha_start || alpha_end + minutes{15} <= s) << json::serialize(v);
  }
  const auto a = apply(r.json);
  ASSERT_EQ(a.status, 200) << a.describe();
  EXPECT_EQ(confirmed_2027(), 5);
  EXPECT_EQ(overlapping_confirmed_pairs(), 0);
}

TEST_F(AnnualTest, AStaleProposalIsRefusedAndChangesNothing) {
  for (const char* slug : {"alpha", "beta", "gamma", "delta"}) make_community(slug, slug);
  const auto room = make_room("Room-A");
  const json::object request{{"day_start", "09:00"}, {"day_end", "18:00"}, {"duration", "PT1H"}, {"gap", "PT15M"}};

  // 1. A new room booking in the window after the plan was made.
  auto p = plan(request);
  ASSERT_EQ(p.status, 200) << p.describe();
  book("alpha", room, "2027-07-13T09:00", "2027-07-13T10:00");
  auto before = year_state();
  auto r = apply(p.json);
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(year_state(), before);
  EXPECT_EQ(confirmed_2027(), 0);

  // 2. One community set by hand after the plan was made.
  p = plan(request);
  ASSERT_EQ(p.status, 200) << p.describe();
  ASSERT_EQ(set("delta", {{"start", "2027-07-14T16:00"}, {"end", "2027-07-14T17:00"}}).status, 200);
  before = year_state();
  r = apply(p.json);
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(year_state(), before);
  EXPECT_EQ(confirmed_2027(), 1);

  // 3. An edited proposal (a slot moved by hand).
  p = plan(request);
  ASSERT_EQ(p.status, 200) << p.describe();
  json::value edited = p.json;
  auto& slot = edited.at("slots").as_array()[0].as_object();
  slot["start"] = "2027-07-14T16:00";
  slot["end"] = "2027-07-14T17:00";
  r = apply(edited);
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(year_state(), before);

  // A fresh plan applies.
  p = plan(request);
  ASSERT_EQ(p.status, 200) << p.describe();
  EXPECT_EQ(p.json.at("slots").as_array().size(), 3u);
  r = apply(p.json);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(confirmed_2027(), 4);
  EXPECT_EQ(overlapping_confirmed_pairs(), 0);
  // Its rooms are free of the booking made in step 1.
  EXPECT_EQ(count("SELECT count(*) FROM room_bookings a JOIN room_bookings b ON a.room_id = b.room_id "
                  "AND a.meeting_id < b.meeting_id AND a.during && b.during"),
            0);
}

TEST_F(AnnualTest, APlanWithoutEnoughRoomReportsUnplacedCommunities) {
  std::vector<std::string> slugs;
  for (int i = 1; i <= 8; ++i) {
    slugs.push_back("cop-0" + std::to_string(i));
    make_community(slugs.back(), slugs.back());
  }
  // One 45-minute slot a day: 5 weekdays in July 8-14, 2027 (Thu, Fri, Mon, Tue, Wed).
  json::object request{{"weekdays_only", true},
                       {"day_start", "09:00"},
                       {"day_end", "10:00"},
                       {"duration", "PT45M"},
                       {"gap", "PT15M"}};
  auto r = plan(request);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto& slots = r.json.at("slots").as_array();
  const auto& unplaced = r.json.at("unplaced").as_array();
  EXPECT_EQ(slots.size(), 5u);
  ASSERT_EQ(unplaced.size(), 3u) << r.body;
  std::multiset<std::string> all;
  for (const auto& s : slots) all.insert(str(s.at("community")));
  for (const auto& u : unplaced) all.insert(str(u));
  EXPECT_EQ(all, std::multiset<std::string>(slugs.begin(), slugs.end()));
  std::set<std::string> days_used;
  for (const auto& s : slots) days_used.insert(str(s.at("start")).substr(0, 10));
  EXPECT_EQ(days_used, (std::set<std::string>{"2027-07-08", "2027-07-09", "2027-07-12", "2027-07-13", "2027-07-14"}));

  // Weekends too: 7 slots, one left over.
  request["weekdays_only"] = false;
  r = plan(request);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json.at("slots").as_array().size(), 7u);
  EXPECT_EQ(r.json.at("unplaced").as_array().size(), 1u);

  // Applying a partial plan confirms what was placed; the rest stay TBD.
  request["weekdays_only"] = true;
  r = plan(request);
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto a = apply(r.json);
  ASSERT_EQ(a.status, 200) << a.describe();
  EXPECT_EQ(a.json.at("applied").as_int64(), 5);
  EXPECT_EQ(confirmed_2027(), 5);
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2027 AND status = 'tentative'"), 3);
  // Nothing is left to place now.
  r = plan(request);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_TRUE(r.json.at("slots").as_array().empty());
  EXPECT_EQ(r.json.at("unplaced").as_array().size(), 3u);
}

TEST_F(AnnualTest, PlanningIsForTheCommitteeAndValidatesItsRequest) {
  make_community("alpha", "alpha");
  const auto member = token_for(make_member("m@example.org"));
  EXPECT_EQ(post("/v1/annual-meetings/2027/plan", member, "{}").status, 403);
  EXPECT_EQ(plan({{"day_start", "18:00"}, {"day_end", "09:00"}}).status, 422);
  EXPECT_EQ(plan({{"duration", "PT0M"}}).status, 422);
  EXPECT_EQ(plan({{"day_start", "9am"}}).status, 422);
  const auto before = year_state();
  EXPECT_EQ(post("/v1/annual-meetings/2027/plan/apply", member, R"({"proposal": {"slots": [], "fingerprint": "x"}})").status,
            403);
  EXPECT_EQ(apply(json::object{{"slots", json::array{}}, {"fingerprint", "nonsense"}}).status, 409);
  EXPECT_EQ(year_state(), before);
}

// The window rule is configurable (DESIGN §2): here September 1-5.
class AnnualConfiguredWindowTest : public ApiTest {
 protected:
  void SetUp() override {
    config.annual_window_month = 9;
    config.annual_window_first_day = 1;
    config.annual_window_days = 5;
    ApiTest::SetUp();
  }
};

TEST_F(AnnualConfiguredWindowTest, PlaceholdersAndTheWindowCheckFollowTheRule) {
  make_community("alpha", "Alpha");
  const auto r = get("/v1/annual-meetings/2027", admin_token);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(str(r.json.at("window").at("first")), "2027-09-01");
  EXPECT_EQ(str(r.json.at("window").at("last")), "2027-09-05");
  ASSERT_EQ(r.json.at("items").as_array().size(), 1u);
  EXPECT_EQ(str(r.json.at("items").as_array()[0].at("start")), "2027-09-01");
  EXPECT_EQ(str(r.json.at("items").as_array()[0].at("end")), "2027-09-06");

  // July 12 is inside the default window but outside this one.
  auto set = request("PUT", "/v1/communities/alpha/annual-meeting/2027", admin_token,
                     R"({"start":"2027-07-12T14:00","end":"2027-07-12T15:00"})");
  EXPECT_EQ(set.status, 422) << set.describe();
  EXPECT_NE(set.body.find("2027-09-01 to 2027-09-05"), std::string::npos) << set.describe();
  set = request("PUT", "/v1/communities/alpha/annual-meeting/2027", admin_token,
                R"({"start":"2027-09-02T14:00","end":"2027-09-02T15:00"})");
  EXPECT_EQ(set.status, 200) << set.describe();

  // The planner uses the same window.
  make_community("beta", "Beta");
  const auto plan = post("/v1/annual-meetings/2027/plan", admin_token, R"({"weekdays_only":false})");
  ASSERT_EQ(plan.status, 200) << plan.describe();
  for (const auto& slot : plan.json.at("slots").as_array())
    EXPECT_EQ(str(slot.at("start")).substr(0, 8), "2027-09-") << plan.describe();
}
