// Two convened processes against one database receive conflicting room bookings at the same
// moment: the exclusion constraint lets exactly one through, whichever instance it reaches.
// Cluster, database and processes come from support/e2e_fixture.hpp.
#include "support/e2e_fixture.hpp"

#include <boost/json.hpp>
#include <httplib.h>

#include <gtest/gtest.h>

#include <barrier>
#include <thread>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

httplib::Result send(int port, const std::string& token, const std::string& method, const std::string& path,
                     const std::string& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  const httplib::Headers headers{{"Authorization", "Bearer " + token}};
  if (method == "POST") return client.Post(path.c_str(), headers, body, "application/json");
  return client.Get(path.c_str(), headers);
}

class BookingRace : public TwoInstancesTest {};

TEST_F(BookingRace, ExactlyOneOfTwoConflictingBookingsWins) {
  auto r = send(port(0), token_, "POST", "/v1/communities", R"({"slug":"a","name":"A"})");
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
  r = send(port(1), token_, "POST", "/v1/rooms",
           R"({"name":"Shared","join_url":"https://meet.example.org/shared","capacity":10})");
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
  const auto room = boost::json::parse(r->body).at("id").as_int64();

  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    // Both bookings overlap by 30 minutes; one is a weekly series that also covers later weeks.
    const std::string day = "2027-0" + std::to_string(3 + round % 6) + "-1" + std::to_string(round % 9);
    const std::string one_off = R"({"title":"One-off","start":")" + day + R"(T10:00","end":")" + day +
                                R"(T11:00","time_zone":"Europe/London","room_id":)" + std::to_string(room) + "}";
    const std::string series = R"({"title":"Series","start":")" + day + R"(T10:30","end":")" + day +
                               R"(T11:30","time_zone":"Europe/London","rrule":"FREQ=WEEKLY;COUNT=3","room_id":)" +
                               std::to_string(room) + "}";
    std::barrier start(2);
    int statuses[2] = {0, 0};
    std::thread a([&] {
      start.arrive_and_wait();
      auto res = send(port(0), token_, "POST", "/v1/communities/a/meetings", one_off);
      statuses[0] = res ? res->status : -1;
    });
    std::thread b([&] {
      start.arrive_and_wait();
      auto res = send(port(1), token_, "POST", "/v1/communities/a/meetings", series);
      statuses[1] = res ? res->status : -1;
    });
    a.join();
    b.join();
    const int created = (statuses[0] == 201) + (statuses[1] == 201);
    const int conflicts = (statuses[0] == 409) + (statuses[1] == 409);
    EXPECT_EQ(created, 1) << "round " << round << ": " << statuses[0] << " / " << statuses[1];
    EXPECT_EQ(conflicts, 1) << "round " << round << ": " << statuses[0] << " / " << statuses[1];
    // Exactly the winner's bookings are in the database: 1 for the one-off, 3 for the series.
    const std::string bookings = query(
        "SELECT count(*) FROM room_bookings WHERE lower(during) >= '" + day + "T00:00:00Z'::timestamptz - interval '1 day' "
        "AND lower(during) < '" + day + "T00:00:00Z'::timestamptz + interval '1 day'");
    EXPECT_EQ(bookings, "1") << "round " << round;
    const std::string meetings = query("SELECT count(*) FROM meetings WHERE kind <> 'annual'");
    EXPECT_EQ(meetings, std::to_string(round + 1)) << "the refused request must leave nothing behind";
    // Clear the day for the next round.
    query("DELETE FROM room_bookings WHERE meeting_id IN (SELECT id FROM meetings WHERE kind <> 'annual')");
  }
  const std::string overlaps = query(
      "SELECT count(*) FROM room_bookings a JOIN room_bookings b ON a.room_id = b.room_id "
      "AND a.ctid < b.ctid AND a.during && b.during");
  EXPECT_EQ(overlaps, "0");
}

}  // namespace
}  // namespace convene::testing
