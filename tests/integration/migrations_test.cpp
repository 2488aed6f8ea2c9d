#include "store/migrations.hpp"
#include "support/test_database.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <stdexcept>
#include <thread>
#include <vector>

using namespace convene::store;
using convene::testing::DatabaseTest;
using convene::testing::project_migrations;

namespace {

Migration make(int version, std::string name, std::string sql) {
  Migration m;
  m.version = version;
  m.name = std::move(name);
  m.sql = std::move(sql);
  m.checksum = sha256_hex(m.sql);
  return m;
}

long long count(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<long long>();
}

// The database as a release before migration `version` left it: every older project migration.
void migrate_before(pqxx::connection& c, int version) {
  auto before = project_migrations();
  std::erase_if(before, [version](const Migration& m) { return m.version >= version; });
  if (before.size() == project_migrations().size()) throw std::logic_error("no project migration to leave out");
  migrate(c, before);
}

// The database as a release before migration `version` left it, with `seed` run on it (rows of
// that release), then migrated to the project's newest schema.
void migrate_across(pqxx::connection& c, int version, const std::vector<std::string>& seed) {
  migrate_before(c, version);
  pqxx::work tx(c);
  for (const auto& statement : seed) tx.exec(statement);
  tx.commit();
  migrate(c, project_migrations());
}

bool table_exists(const std::string& url, const std::string& table) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return !tx.exec_params("SELECT to_regclass($1)", table)[0][0].is_null();
}

}  // namespace

class Migrations : public DatabaseTest {};

TEST_F(Migrations, AppliesTheProjectSchemaThenIsANoOp) {
  pqxx::connection c(db.url());
  const auto first = migrate(c, project_migrations());
  EXPECT_EQ(first.applied.size(), project_migrations().size());
  EXPECT_EQ(first.already_applied, 0u);
  for (const char* table : {"communities", "members", "memberships", "roles", "rooms", "meetings", "room_bookings",
                            "topics", "events", "notifications", "jobs", "tokens"})
    EXPECT_TRUE(table_exists(db.url(), table)) << table;

  const auto second = migrate(c, project_migrations());
  EXPECT_TRUE(second.applied.empty());
  EXPECT_EQ(second.already_applied, project_migrations().size());
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations"),
            static_cast<long long>(project_migrations().size()));
}

TEST_F(Migrations, RecordsChecksumsAndRefusesAChangedAppliedMigration) {
  pqxx::connection c(db.url());
  std::vector<Migration> v1{make(1, "001_a", "CREATE TABLE a (x int);")};
  migrate(c, v1);
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations WHERE checksum = '" + v1[0].checksum + "'"), 1);

  std::vector<Migration> edited{make(1, "001_a", "CREATE TABLE a (x int, y int);"),
                                make(2, "002_b", "CREATE TABLE b (x int);")};
  try {
    migrate(c, edited);
    FAIL() << "an edited applied migration was accepted";
  } catch (const MigrationError& e) {
    EXPECT_NE(std::string(e.what()).find("001_a"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("changed"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(table_exists(db.url(), "b")) << "nothing may be applied after a refused check";
}

TEST_F(Migrations, AFailingMigrationLeavesNothingBehind) {
  pqxx::connection c(db.url());
  std::vector<Migration> ms{make(1, "001_ok", "CREATE TABLE ok (x int);"),
                            make(2, "002_broken", "CREATE TABLE half (x int); SELECT no_such_function();")};
  EXPECT_THROW(migrate(c, ms), MigrationError);
  EXPECT_TRUE(table_exists(db.url(), "ok"));
  EXPECT_FALSE(table_exists(db.url(), "half")) << "each migration is one transaction";
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations"), 1);
  // Fixed, it applies on the next run.
  ms[1] = make(2, "002_broken", "CREATE TABLE half (x int);");
  EXPECT_EQ(migrate(c, ms).applied, std::vector<std::string>{"002_broken"});
}

TEST_F(Migrations, RefusesANewMigrationNumberedBelowTheNewestApplied) {
  pqxx::connection c(db.url());
  migrate(c, {make(1, "001_a", "SELECT 1;"), make(3, "003_c", "SELECT 3;")});
  EXPECT_THROW(migrate(c, {make(1, "001_a", "SELECT 1;"), make(2, "002_b", "SELECT 2;"), make(3, "003_c", "SELECT 3;")}),
               MigrationError);
}

TEST_F(Migrations, ConcurrentRunsApplyEachMigrationOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::atomic<std::size_t> applied{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      try {
        pqxx::connection c(db.url());
        applied += migrate(c, project_migrations()).applied.size();
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(applied.load(), project_migrations().size());
  EXPECT_EQ(count(db.url(), "SELECT count(*) FROM schema_migrations"),
            static_cast<long long>(project_migrations().size()));
}

TEST_F(Migrations, StatusReportsPendingChangedAndUnknown) {
  pqxx::connection c(db.url());
  std::vector<Migration> ms{make(1, "001_a", "SELECT 1;"), make(2, "002_b", "SELECT 2;")};
  {
    pqxx::work tx(c);
    const auto status = schema_status(tx, ms);
    EXPECT_EQ(status.pending, (std::vector<std::string>{"001_a", "002_b"}));
    EXPECT_FALSE(status.up_to_date());
  }
  migrate(c, ms);
  {
    pqxx::work tx(c);
    EXPECT_TRUE(schema_status(tx, ms).up_to_date());
    // An older release sees a newer migration as unknown but is still up to date.
    const auto older = schema_status(tx, {ms[0]});
    EXPECT_TRUE(older.up_to_date());
    EXPECT_EQ(older.unknown, std::vector<std::string>{"002_b"});
    const auto edited = schema_status(tx, {make(1, "001_a", "SELECT 11;"), ms[1]});
    EXPECT_EQ(edited.changed, std::vector<std::string>{"001_a"});
  }
}

// 010 moves each notification's attempts into its row; the view keeps the rows' old shape.
TEST_F(Migrations, AttemptsRecordedBefore010AreKeptInOrder) {
  pqxx::connection c(db.url());
  migrate_across(
      c, 10,
      {"INSERT INTO notifications (id, dedupe_key, channel, kind, recipient, due_at, created_at) VALUES "
       "('00000000-0000-4000-8000-000000000010', 'k', 'email', 'topic.posted', 'ada@example.org', now(), now())",
       "INSERT INTO notification_attempts (notification_id, attempted_at, outcome, response_code, response_text) VALUES "
       "('00000000-0000-4000-8000-000000000010', '2026-11-28T10:00:01.5Z', 'sent', 204, NULL), "
       "('00000000-0000-4000-8000-000000000010', '2026-11-28T10:00:00Z', 'transient', 503, 'Service Unavailable')"});
  pqxx::nontransaction tx(c);
  const auto rows = tx.exec(
      "SELECT attempt, attempted_at = '2026-11-28T10:00:00Z', outcome, response_code, response_text, "
      "attempted_at = '2026-11-28T10:00:01.5Z' FROM notification_attempts ORDER BY attempt");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0].as<int>(), 1);
  EXPECT_TRUE(rows[0][1].as<bool>());
  EXPECT_EQ(rows[0][2].as<std::string>(), "transient");
  EXPECT_EQ(rows[0][3].as<int>(), 503);
  EXPECT_EQ(rows[0][4].as<std::string>(), "Service Unavailable");
  EXPECT_EQ(rows[1][0].as<int>(), 2);
  EXPECT_EQ(rows[1][2].as<std::string>(), "sent");
  EXPECT_TRUE(rows[1][4].is_null());
  EXPECT_TRUE(rows[1][5].as<bool>());
  // Half-empty pages, so that a claim rewrites each row in place (a later migration must not
  // reset it unnoticed).
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_class WHERE oid = 'notifications'::regclass "
                    "AND 'fillfactor=50' = ANY (reloptions)")[0][0].as<int>(), 1);
}

namespace {

// schema 011's notification_id, computed apart from PostgreSQL: the MD5 of
// "convene:notification:" and the key, as a UUID with version 8 and variant 10.
std::string expected_notification_id(const std::string& key) {
  const std::string input = "convene:notification:" + key;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EXPECT_EQ(EVP_Digest(input.data(), input.size(), digest, &length, EVP_md5(), nullptr), 1);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xF];
  }
  hex[12] = '8';
  hex[16] = '8';
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' + hex.substr(16, 4) + '-' + hex.substr(20);
}

}  // namespace

// 011: a notification's id derives from its dedupe key, and the primary key alone keeps keys
// unique. Rows from before take their derived id if they were never tried; the others keep the
// id they went out with (Message-ID, webhook-id), also for a retry.
TEST_F(Migrations, NotificationIdsDeriveFromTheirDedupeKeys) {
  pqxx::connection c(db.url());
  migrate_across(
      c, 11,
      {"INSERT INTO members (id, email, name, time_zone, created_at, updated_at) OVERRIDING SYSTEM VALUE "
       "VALUES (1, 'ada@example.org', 'Ada', 'UTC', now(), now())",
       "INSERT INTO notifications (id, dedupe_key, member_id, channel, kind, recipient, state, attempts, due_at, "
       "created_at) VALUES "
       "('00000000-0000-4000-8000-00000000000a', 'never-tried', 1, 'email', 'topic.posted', 'a@example.org', "
       "  'pending', 0, now(), now()), "
       "('00000000-0000-4000-8000-00000000000b', 'digest:1:daily:x', 1, 'email', 'digest.daily', 'a@example.org', "
       "  'pending', 0, now(), now()), "
       "('00000000-0000-4000-8000-00000000000d', 'went-out', 1, 'email', 'topic.posted', 'a@example.org', "
       "  'sent', 1, now(), now()), "
       "('00000000-0000-4000-8000-00000000000c', 'being-retried', 1, 'email', 'topic.posted', 'a@example.org', "
       "  'pending', 2, now(), now())",
       "INSERT INTO digests (member_id, cadence, period_end, period_label, periods_covered, covered_from, covered_to, "
       "item_count, notification_id, created_at) VALUES (1, 'daily', '2026-11-28T07:00:00Z', '2026-11-28', 1, "
       "'2026-11-27T07:00:00Z', '2026-11-28T07:00:00Z', 3, '00000000-0000-4000-8000-00000000000b', now())"});
  pqxx::work tx(c);
  const auto id_of = [&](const std::string& key) {
    return tx.exec_params("SELECT id FROM notifications WHERE dedupe_key = $1", key)[0][0].as<std::string>();
  };
  EXPECT_EQ(tx.exec_params("SELECT notification_id($1)", std::string("event:42:email:7"))[0][0].as<std::string>(),
            expected_notification_id("event:42:email:7"));
  EXPECT_EQ(id_of("never-tried"), expected_notification_id("never-tried"));
  EXPECT_EQ(id_of("digest:1:daily:x"), expected_notification_id("digest:1:daily:x"));
  EXPECT_EQ(tx.exec("SELECT notification_id FROM digests")[0][0].as<std::string>(),
            expected_notification_id("digest:1:daily:x"))
      << "the digest follows its email's new id";
  EXPECT_EQ(id_of("being-retried"), "00000000-0000-4000-8000-00000000000c");
  EXPECT_EQ(id_of("went-out"), "00000000-0000-4000-8000-00000000000d");
  // The primary key is the dedupe check now: the same key adds nothing.
  EXPECT_EQ(tx.exec("INSERT INTO notifications (id, dedupe_key, channel, kind, recipient, due_at, created_at) "
                    "VALUES (notification_id('never-tried'), 'never-tried', 'email', 'topic.posted', 'b@example.org', "
                    "now(), now()) ON CONFLICT (id) DO NOTHING")
                .affected_rows(),
            0u);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_indexes WHERE tablename = 'notifications' AND indexdef LIKE '%dedupe_key%'")[0][0]
                .as<int>(),
            0);
  tx.commit();
  pqxx::work forgetful(c);
  EXPECT_THROW(forgetful.exec("INSERT INTO notifications (dedupe_key, channel, kind, recipient, due_at, created_at) "
                              "VALUES ('forgot-the-id', 'email', 'topic.posted', 'b@example.org', now(), now())"),
               pqxx::not_null_violation)
      << "an insert without the derived id must fail, not escape the dedupe check";
}

// Schema 013: what earlier releases stored for a local time in a spring-forward gap (the
// transition instant) moves to DESIGN §3's instant (shifted forward by the gap); repeated
// times and everything else stay.
TEST_F(Migrations, TimesInAGapStoredBefore013MoveToTheirRfcInstant) {
  pqxx::connection c(db.url());
  const std::string meeting =
      "INSERT INTO meetings (id, uid, community_id, kind, title, time_zone, start_local, end_local, starts_at, ends_at, rrule, "
      "room_id, created_at, updated_at) OVERRIDING SYSTEM VALUE VALUES ";
  migrate_across(
      c, 13,
      {"INSERT INTO communities (id, slug, name, time_zone, created_at, updated_at) OVERRIDING SYSTEM VALUE "
       "VALUES (1, 'owls', 'Owls', 'America/New_York', now(), now())",
       "INSERT INTO rooms (id, name, join_url, capacity, created_at) OVERRIDING SYSTEM VALUE "
       "VALUES (1, 'Room 1', 'https://meet.example.org/1', 10, now()), (2, 'Room 2', 'https://meet.example.org/2', 10, now())",
       // One-offs: 02:30-04:00 and 02:30-03:30 on the spring-forward Sunday, 01:30-02:30 on the
       // fall-back one (the first 01:30, unchanged).
       meeting + "(101, 'a', 1, 'meeting', 'gap', 'America/New_York', '2027-03-14 02:30', '2027-03-14 04:00', "
                 "'2027-03-14T07:00Z', '2027-03-14T08:00Z', NULL, NULL, now(), now()), "
                 "(102, 'b', 1, 'meeting', 'gap to gap end', 'America/New_York', '2027-03-14 02:30', '2027-03-14 03:30', "
                 "'2027-03-14T07:00Z', '2027-03-14T07:30Z', NULL, NULL, now(), now()), "
                 "(103, 'c', 1, 'meeting', 'repeat', 'America/New_York', '2027-11-07 01:30', '2027-11-07 02:30', "
                 "'2027-11-07T05:30Z', '2027-11-07T07:30Z', NULL, NULL, now(), now())",
       // Weekly series on Sundays at 02:30: 201 booked in room 1, its 2027-03-14 occurrence
       // moved to 09:00; 202 booked in room 1 too (its 2027-03-21 and 28 occurrences, which
       // do not move); 203 in room 2 whose shifted booking would overlap a booking of 204.
       meeting + "(201, 'd', 1, 'meeting', 'moved', 'America/New_York', '2027-03-07 02:30', '2027-03-07 03:00', "
                 "'2027-03-07T07:30Z', '2027-03-07T08:00Z', 'FREQ=WEEKLY;BYDAY=SU', 1, now(), now()), "
                 "(202, 'e', 1, 'meeting', 'booked', 'America/New_York', '2027-03-07 02:30', '2027-03-07 03:30', "
                 "'2027-03-07T07:30Z', '2027-03-07T08:30Z', 'FREQ=WEEKLY;BYDAY=SU', 1, now(), now()), "
                 "(203, 'f', 1, 'meeting', 'blocked', 'America/New_York', '2027-03-07 02:30', '2027-03-07 03:00', "
                 "'2027-03-07T07:30Z', '2027-03-07T08:00Z', 'FREQ=WEEKLY;BYDAY=SU', 2, now(), now()), "
                 "(204, 'g', 1, 'meeting', 'blocker', 'UTC', '2027-03-14 07:40', '2027-03-14 07:50', "
                 "'2027-03-14T07:40Z', '2027-03-14T07:50Z', NULL, 2, now(), now())",
       "INSERT INTO meeting_exceptions (meeting_id, recurrence_id, cancelled, start_local, end_local, starts_at, ends_at, "
       "updated_at) VALUES (201, '2027-03-14T07:00Z', false, '2027-03-14 09:00', '2027-03-14 09:30', '2027-03-14T13:00Z', "
       "'2027-03-14T13:30Z', now()), (202, '2027-03-21T06:30Z', true, NULL, NULL, NULL, NULL, now())",
       "INSERT INTO room_bookings (meeting_id, recurrence_id, room_id, during) VALUES "
       "(201, '2027-03-14T07:00Z', 1, '[2027-03-14T13:00Z,2027-03-14T13:30Z)'), "
       "(202, '2027-03-14T07:00Z', 1, '[2027-03-14T07:00Z,2027-03-14T08:00Z)'), "
       "(202, '2027-03-28T06:30Z', 1, '[2027-03-28T06:30Z,2027-03-28T07:30Z)'), "
       "(203, '2027-03-14T07:00Z', 2, '[2027-03-14T07:00Z,2027-03-14T07:30Z)'), "
       "(204, '2027-03-14T07:40Z', 2, '[2027-03-14T07:40Z,2027-03-14T07:50Z)')"});
  pqxx::nontransaction tx(c);
  const auto text = [&](const std::string& sql) { return tx.exec(sql)[0][0].as<std::string>(); };
  const std::string utc = "'YYYY-MM-DD\"T\"HH24:MI\"Z\"'";
  const auto span = [&](const std::string& table, const std::string& where, const std::string& lo, const std::string& hi) {
    return text("SELECT string_agg(to_char(" + lo + " AT TIME ZONE 'UTC', " + utc + ") || '/' || to_char(" + hi +
                " AT TIME ZONE 'UTC', " + utc + "), ' ' ORDER BY " + lo + ") FROM " + table + " WHERE " + where);
  };
  EXPECT_EQ(span("meetings", "id = 101", "starts_at", "ends_at"), "2027-03-14T07:30Z/2027-03-14T08:00Z");
  EXPECT_EQ(span("meetings", "id = 102", "starts_at", "ends_at"), "2027-03-14T07:30Z/2027-03-14T08:00Z");  // keeps 30 min
  EXPECT_EQ(span("meetings", "id = 103", "starts_at", "ends_at"), "2027-11-07T05:30Z/2027-11-07T07:30Z");
  EXPECT_EQ(span("meetings", "id = 201", "starts_at", "ends_at"), "2027-03-07T07:30Z/2027-03-07T08:00Z");
  // The moved occurrence is keyed by its new instant and keeps its times, as does its booking.
  EXPECT_EQ(span("meeting_exceptions", "meeting_id = 201", "recurrence_id", "starts_at"),
            "2027-03-14T07:30Z/2027-03-14T13:00Z");
  EXPECT_EQ(span("room_bookings", "meeting_id = 201", "recurrence_id", "upper(during)"), "2027-03-14T07:30Z/2027-03-14T13:30Z");
  // A booking of an occurrence in the gap moves with it; the others and a cancellation at an
  // ordinary time stay.
  EXPECT_EQ(span("room_bookings", "meeting_id = 202", "lower(during)", "upper(during)"),
            "2027-03-14T07:30Z/2027-03-14T08:30Z 2027-03-28T06:30Z/2027-03-28T07:30Z");
  EXPECT_EQ(span("room_bookings", "meeting_id = 202", "recurrence_id", "recurrence_id"),
            "2027-03-14T07:30Z/2027-03-14T07:30Z 2027-03-28T06:30Z/2027-03-28T06:30Z");
  EXPECT_EQ(span("meeting_exceptions", "meeting_id = 202", "recurrence_id", "recurrence_id"),
            "2027-03-21T06:30Z/2027-03-21T06:30Z");
  // Where the room is taken at the new time, the booking stays where it was (and the migration
  // goes through).
  EXPECT_EQ(span("room_bookings", "meeting_id = 203", "lower(during)", "upper(during)"),
            "2027-03-14T07:00Z/2027-03-14T07:30Z");
  EXPECT_EQ(span("room_bookings", "meeting_id = 204", "lower(during)", "upper(during)"),
            "2027-03-14T07:40Z/2027-03-14T07:50Z");
}

// 014: `suppressed` is a notification state (finished: not queued), and suppressions are keyed
// by the lower-cased address.
TEST_F(Migrations, SuppressedIsAFinishedNotificationStateFrom014) {
  pqxx::connection c(db.url());
  migrate_across(c, 14,
                 {"INSERT INTO notifications (id, dedupe_key, channel, kind, recipient, due_at, created_at) VALUES "
                  "(notification_id('k'), 'k', 'email', 'topic.posted', 'ada@example.org', now(), now())"});
  {
    pqxx::work tx(c);
    tx.exec("UPDATE notifications SET state = 'suppressed'");
    EXPECT_FALSE(tx.exec("SELECT queued FROM notifications")[0][0].as<bool>());
    tx.exec("INSERT INTO suppressions (address, code, reason, notification_id, first_refused_at, last_refused_at) "
            "VALUES ('ada@example.org', 550, 'SMTP 550', notification_id('k'), now(), now())");
    tx.commit();
  }
  {
    pqxx::work tx(c);
    EXPECT_THROW(tx.exec("UPDATE notifications SET state = 'bounced'"), pqxx::check_violation);
  }
  {
    pqxx::work tx(c);
    EXPECT_THROW(tx.exec("INSERT INTO suppressions (address, reason, notification_id, first_refused_at, last_refused_at) "
                         "VALUES ('Bob@example.org', 'x', notification_id('k'), now(), now())"),
                 pqxx::check_violation);
  }
}
