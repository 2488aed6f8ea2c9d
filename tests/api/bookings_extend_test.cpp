// The booking horizon rolls forward: the daily bookings.extend job books the rooms of
// occurrences that entered the horizon since the meeting was created.
#include "support/api_fixture.hpp"

#include "jobs/kinds/kinds.hpp"

#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <gtest/gtest.h>

using convene::testing::ApiTest;
namespace json = boost::json;
using namespace std::chrono;

class BookingsExtend : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    make_community("data-science", "Data Science");
    room = make_room("Room-A");
  }

  // Runs the job's handler once, at the fixture's clock, as the engine would.
  convene::jobs::Outcome run_extend() {
    convene::jobs::KindSettings settings;
    settings.booking_horizon_months = 18;
    for (const auto& spec : convene::jobs::standard_kinds(settings)) {
      if (spec.kind != "bookings.extend") continue;
      pqxx::connection c(db.url());
      pqxx::work tx(c);
      convene::jobs::ClaimedJob job;
      job.kind = spec.kind;
      convene::jobs::JobRun run{tx, job, clock.now()};
      auto outcome = spec.run(run);
      tx.commit();
      return outcome;
    }
    throw std::runtime_error("no bookings.extend kind");
  }

  long long bookings_of(std::int64_t meeting) {
    return count("SELECT count(*) FROM room_bookings WHERE meeting_id = " + std::to_string(meeting));
  }
  std::string last_booking(std::int64_t meeting) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT to_char(max(lower(during)) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM room_bookings WHERE meeting_id = " +
                   std::to_string(meeting))[0][0]
        .as<std::string>();
  }
  std::int64_t meeting(const json::object& o) {
    const auto r = post("/v1/communities/data-science/meetings", admin_token, json::serialize(o));
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.json.at("id").as_int64();
  }

  std::int64_t room = 0;
};

TEST_F(BookingsExtend, OccurrencesEnteringTheHorizonAreBooked) {
  // Mondays from 2026-11-30; the clock is 2026-11-28 12:00Z, so the horizon ends 2028-05-28.
  const auto weekly = meeting({{"kind", "meeting"}, {"title", "Weekly"}, {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"}, {"time_zone", "Europe/London"}, {"rrule", "FREQ=WEEKLY"},
                               {"room_id", room}});
  const auto before = bookings_of(weekly);
  EXPECT_EQ(last_booking(weekly), "2028-05-22");
  EXPECT_EQ(run_extend().note, "");
  EXPECT_EQ(bookings_of(weekly), before) << "nothing new inside the same horizon";

  clock.set(clock.now() + days(61));  // 2027-01-28: the horizon now ends 2028-07-28
  run_extend();
  EXPECT_EQ(last_booking(weekly), "2028-07-24");
  EXPECT_EQ(bookings_of(weekly), before + 9) << "the nine Mondays from 2028-05-29 to 2028-07-24";
  run_extend();
  EXPECT_EQ(bookings_of(weekly), before + 9) << "running again books nothing twice";
}

TEST_F(BookingsExtend, ARoomTakenMeanwhileLeavesThatOccurrenceUnbookedAndSaysSo) {
  const auto weekly = meeting({{"kind", "meeting"}, {"title", "Weekly"}, {"start", "2026-11-30T10:00"},
                               {"end", "2026-11-30T11:00"}, {"time_zone", "Europe/London"}, {"rrule", "FREQ=WEEKLY"},
                               {"room_id", room}});
  clock.set(clock.now() + days(30));  // 2026-12-28: horizon to 2028-06-28
  // Booked while the series' occurrence of Monday 2028-06-05 was still beyond its horizon.
  const auto other = meeting({{"kind", "meeting"}, {"title", "Workshop"}, {"start", "2028-06-05T09:30"},
                              {"end", "2028-06-05T10:30"}, {"time_zone", "Europe/London"}, {"room_id", room}});
  const auto before = bookings_of(weekly);
  const auto outcome = run_extend();
  EXPECT_NE(outcome.note.find("meeting " + std::to_string(weekly) + " at 2028-06-05T09:00:00Z"), std::string::npos)
      << outcome.note;
  EXPECT_EQ(bookings_of(other), 1);
  EXPECT_EQ(bookings_of(weekly), before + 4) << "the other Mondays up to 2028-06-26 are booked";
}
