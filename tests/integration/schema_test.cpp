// The core schema's invariants hold in PostgreSQL itself, whichever instance writes.
#include "support/test_database.hpp"

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/transaction>

#include <gtest/gtest.h>

using convene::testing::MigratedDatabaseTest;

namespace {

class CoreSchema : public MigratedDatabaseTest {
 protected:
  void exec(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }
  void SetUp() override {
    MigratedDatabaseTest::SetUp();
    exec(R"(
      INSERT INTO communities (slug, name, time_zone, created_at, updated_at)
        VALUES ('data-science', 'Data Science', 'Europe/London', now(), now());
      INSERT INTO rooms (name, join_url, capacity, created_at) VALUES ('Room A', 'https://meet.example.org/a', 50, now());
      INSERT INTO meetings (uid, community_id, kind, title, time_zone, start_local, end_local, starts_at, ends_at,
                            room_id, created_at, updated_at)
        VALUES ('m1@convene', 1, 'meeting', 'Weekly', 'Europe/London', '2027-03-01 10:00', '2027-03-01 11:00',
                '2027-03-01 10:00Z', '2027-03-01 11:00Z', 1, now(), now()),
               ('m2@convene', 1, 'meeting', 'Other', 'Europe/London', '2027-03-01 10:30', '2027-03-01 11:30',
                '2027-03-01 10:30Z', '2027-03-01 11:30Z', 1, now(), now());
      INSERT INTO room_bookings (meeting_id, recurrence_id, room_id, during)
        VALUES (1, '2027-03-01 10:00Z', 1, tstzrange('2027-03-01 10:00Z', '2027-03-01 11:00Z'));
    )");
  }
};

}  // namespace

TEST_F(CoreSchema, ARoomCannotHoldOverlappingBookings) {
  EXPECT_THROW(exec("INSERT INTO room_bookings (meeting_id, recurrence_id, room_id, during) VALUES "
                    "(2, '2027-03-01 10:30Z', 1, tstzrange('2027-03-01 10:30Z', '2027-03-01 11:30Z'))"),
               pqxx::sql_error);
  // Back to back is fine: ranges are half-open.
  EXPECT_NO_THROW(exec("INSERT INTO room_bookings (meeting_id, recurrence_id, room_id, during) VALUES "
                       "(2, '2027-03-01 11:00Z', 1, tstzrange('2027-03-01 11:00Z', '2027-03-01 12:00Z'))"));
}

TEST_F(CoreSchema, OverlapIsAllowedInAnotherRoom) {
  exec("INSERT INTO rooms (name, join_url, capacity, created_at) VALUES ('Room B', 'https://meet.example.org/b', 9, now())");
  EXPECT_NO_THROW(exec("INSERT INTO room_bookings (meeting_id, recurrence_id, room_id, during) VALUES "
                       "(2, '2027-03-01 10:30Z', 2, tstzrange('2027-03-01 10:30Z', '2027-03-01 11:30Z'))"));
}

TEST_F(CoreSchema, EmailsAreUniqueRegardlessOfCase) {
  exec("INSERT INTO members (email, name, time_zone, created_at, updated_at) VALUES "
       "('Ada@Example.org', 'Ada', 'Europe/London', now(), now())");
  EXPECT_THROW(exec("INSERT INTO members (email, name, time_zone, created_at, updated_at) VALUES "
                    "('ada@example.ORG', 'Ada 2', 'Europe/London', now(), now())"),
               pqxx::unique_violation);
}

TEST_F(CoreSchema, OneAnnualMeetingPerCommunityAndYear) {
  const std::string annual =
      "INSERT INTO meetings (uid, community_id, kind, title, time_zone, all_day, start_local, end_local, starts_at, "
      "ends_at, status, annual_year, created_at, updated_at) VALUES ('%UID%', 1, 'annual', 'Annual meeting (date and "
      "time TBD)', 'Europe/London', true, '2027-07-08', '2027-07-15', '2027-07-07 23:00Z', '2027-07-14 23:00Z', "
      "'tentative', 2027, now(), now())";
  auto with_uid = [&](const std::string& uid) {
    std::string s = annual;
    s.replace(s.find("%UID%"), 5, uid);
    return s;
  };
  exec(with_uid("a1@convene"));
  EXPECT_THROW(exec(with_uid("a2@convene")), pqxx::unique_violation);
}

TEST_F(CoreSchema, ChecksRejectBadValues) {
  EXPECT_THROW(exec("INSERT INTO communities (slug, name, time_zone, created_at, updated_at) "
                    "VALUES ('Not A Slug', 'x', 'UTC', now(), now())"),
               pqxx::check_violation);
  EXPECT_THROW(exec("INSERT INTO members (email, name, time_zone, digest_hour, created_at, updated_at) "
                    "VALUES ('b@example.org', 'B', 'UTC', 24, now(), now())"),
               pqxx::check_violation);
  EXPECT_THROW(exec("INSERT INTO events (kind, occurred_at) VALUES ('meeting.exploded', now())"),
               pqxx::check_violation);
  exec("INSERT INTO members (email, name, time_zone, created_at, updated_at) "
       "VALUES ('c@example.org', 'C', 'UTC', now(), now())");
  // Community roles need a community; global roles must not have one.
  EXPECT_THROW(exec("INSERT INTO roles (member_id, community_id, role, starts_on, created_at) "
                    "SELECT id, NULL, 'meeting_coordinator', current_date, now() FROM members"),
               pqxx::check_violation);
  EXPECT_THROW(exec("INSERT INTO roles (member_id, community_id, role, starts_on, created_at) "
                    "SELECT id, 1, 'committee', current_date, now() FROM members"),
               pqxx::check_violation);
  EXPECT_NO_THROW(exec("INSERT INTO roles (member_id, community_id, role, starts_on, created_at) "
                       "SELECT id, NULL, 'committee', current_date, now() FROM members"));
}

TEST_F(CoreSchema, JobUniqueKeysMakePlanningIdempotent) {
  const std::string plan =
      "INSERT INTO jobs (kind, unique_key, due_at, created_at, updated_at) "
      "VALUES ('annual_placeholder', 'community:1:2028', '2028-01-01Z', now(), now()) "
      "ON CONFLICT (kind, unique_key) DO NOTHING";
  exec(plan);
  exec(plan);
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM jobs")[0][0].as<int>(), 1);
}
