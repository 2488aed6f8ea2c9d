// The job kinds (jobs/kinds/) against a real, freshly migrated database: rows are seeded with
// SQL, each kind's handler runs as the engine would run it (in a transaction, then committed),
// and the tests read the events, notifications and jobs it left behind.
#include "calendar/clock.hpp"
#include "jobs/kinds/kinds.hpp"
#include "jobs/kinds/payload_fields.hpp"
#include "support/test_database.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

using convene::calendar::Instant;
using convene::jobs::ClaimedJob;
using convene::jobs::JobRun;
using convene::jobs::KindSettings;
using convene::jobs::KindSpec;
using convene::jobs::Misfire;
using convene::jobs::Outcome;
using convene::testing::MigratedDatabaseTest;

namespace {

Instant at(const char* rfc3339) { return convene::jobs::parse_rfc3339_utc(rfc3339); }

std::int64_t unix_seconds(const char* rfc3339) {
  return std::chrono::floor<std::chrono::seconds>(at(rfc3339)).time_since_epoch().count();
}

class JobKinds : public MigratedDatabaseTest {
 protected:
  void SetUp() override {
    MigratedDatabaseTest::SetUp();
    settings.organisation_time_zone = "UTC";
    settings.uid_domain = "convene.test";
    connection = std::make_unique<pqxx::connection>(db.url());
  }



  const KindSpec& spec(const std::string& kind) {
    kinds = convene::jobs::standard_kinds(settings);
    for (const auto& s : kinds)
      if (s.kind == kind) return s;
    throw std::logic_error("no kind " + kind);
  }

  // Runs the kind's handler as the engine does: inside a transaction that then commits.
  Outcome run(const std::string& kind, boost::json::object payload, Instant now, const std::string& unique_key = "test") {
    const auto& handler = spec(kind);
    ClaimedJob job;
    job.id = 0;
    job.kind = kind;
    job.unique_key = unique_key;
    job.payload = std::move(payload);
    job.due_at = now;
    job.attempts = 1;
    pqxx::work tx(*connection);
    JobRun job_run{tx, job, now};
    auto outcome = handler.run(job_run);
    tx.commit();
    return outcome;
  }

  // Runs every pending job of `kind` due by `now`, oldest first, and records its outcome the
  // way the engine's finish() would: how many ran.
  int run_due(const std::string& kind, Instant now) {
    const auto due = sql(
        "SELECT id, unique_key, payload::text FROM jobs WHERE kind = $1 AND state = 'pending' AND due_at <= $2 "
        "ORDER BY due_at, id",
        kind, convene::calendar::format_rfc3339_utc(now));
    for (const auto& r : due) {
      const auto outcome =
          run(kind, boost::json::parse(r[2].c_str()).as_object(), now, r[1].as<std::string>());
      sql("UPDATE jobs SET state = $2, last_error = $3, finished_at = $4, updated_at = $4 WHERE id = $1",
          r[0].as<std::int64_t>(), outcome.kind == Outcome::Kind::done ? "done" : "skipped", outcome.note,
          convene::calendar::format_rfc3339_utc(now));
    }
    return static_cast<int>(due.size());
  }

  std::int64_t community(const std::string& slug, const std::string& status = "active") {
    return sql(
               "INSERT INTO communities (slug, name, time_zone, status, created_at, updated_at, archived_at) "
               "VALUES ($1, initcap(replace($1, '-', ' ')), 'UTC', $2, '2026-01-01Z', '2026-01-01Z', "
               "CASE WHEN $2 = 'archived' THEN '2026-06-01Z'::timestamptz END) RETURNING id",
               slug, status)[0][0]
        .as<std::int64_t>();
  }

  std::int64_t member(const std::string& name, const std::string& reminder_offsets = "{1 day,1 hour}") {
    return sql(
               "INSERT INTO members (email, name, time_zone, reminder_offsets, created_at, updated_at) "
               "VALUES (lower($1) || '@example.org', $1, 'UTC', $2::interval[], now(), now()) RETURNING id",
               name, reminder_offsets)[0][0]
        .as<std::int64_t>();
  }

  void join(std::int64_t member_id, std::int64_t community_id, const std::string& delivery) {
    sql("INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) VALUES ($1, $2, $3, now(), now())",
        member_id, community_id, delivery);
  }

  void role(std::int64_t member_id, std::optional<std::int64_t> community_id, const std::string& name,
            const std::string& starts_on, std::optional<std::string> ends_on = std::nullopt) {
    sql("INSERT INTO roles (member_id, community_id, role, starts_on, ends_on, created_at) "
        "VALUES ($1, $2, $3, $4::date, $5::date, now())",
        member_id, community_id, name, starts_on, ends_on);
  }

  // Local wall-clock times in `zone`; the instants are PostgreSQL's conversion of them.
  std::int64_t meeting(std::int64_t community_id, const std::string& zone, const std::string& start_local,
                       const std::string& end_local, std::optional<std::string> rrule = std::nullopt) {
    return sql(
               "INSERT INTO meetings (uid, community_id, kind, title, time_zone, start_local, end_local, starts_at, ends_at, "
               "rrule, created_at, updated_at) VALUES (gen_random_uuid()::text || '@test', $1, 'meeting', 'Weekly call', "
               "$2, $3::timestamp, $4::timestamp, $3::timestamp AT TIME ZONE $2, $4::timestamp AT TIME ZONE $2, $5, "
               "now(), now()) RETURNING id",
               community_id, zone, start_local, end_local, rrule)[0][0]
        .as<std::int64_t>();
  }

  std::int64_t event(const std::string& kind, std::optional<std::int64_t> community_id, const boost::json::object& payload,
                     const char* occurred_at) {
    return sql("INSERT INTO events (kind, community_id, payload, occurred_at) VALUES ($1, $2, $3::jsonb, $4) RETURNING id",
               kind, community_id, boost::json::serialize(payload), occurred_at)[0][0]
        .as<std::int64_t>();
  }

  // Member ids with a notification of `kind`, in order.
  std::set<std::int64_t> notified(const std::string& kind) {
    std::set<std::int64_t> ids;
    for (const auto& r : sql("SELECT member_id FROM notifications WHERE kind = $1", kind)) ids.insert(r[0].as<std::int64_t>());
    return ids;
  }

  boost::json::object event_payload(const std::string& kind) {
    const auto rows = sql("SELECT payload::text FROM events WHERE kind = $1 ORDER BY id", kind);
    if (rows.size() != 1) throw std::logic_error("expected one " + kind + " event, found " + std::to_string(rows.size()));
    return boost::json::parse(rows[0][0].c_str()).as_object();
  }

  std::set<std::string> pending_reminder_keys() {
    std::set<std::string> keys;
    for (const auto& r : sql("SELECT unique_key FROM jobs WHERE kind = 'meeting.reminder' AND state = 'pending'"))
      keys.insert(r[0].as<std::string>());
    return keys;
  }

  std::string job_due(const std::string& kind, const std::string& unique_key) {
    const auto rows = sql("SELECT to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM jobs "
                          "WHERE kind = $1 AND unique_key = $2",
                          kind, unique_key);
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  KindSettings settings;
  std::vector<KindSpec> kinds;
  std::unique_ptr<pqxx::connection> connection;
};

// ---------------------------------------------------------------------------------------------
// The kinds themselves

TEST_F(JobKinds, StandardKindsNameEveryKindOnceWithTheirPolicies) {
  const auto all = convene::jobs::standard_kinds(settings);
  std::set<std::string> names;
  for (const auto& s : all) {
    EXPECT_TRUE(names.insert(s.kind).second) << s.kind << " twice";
    EXPECT_TRUE(s.run) << s.kind;
  }
  EXPECT_EQ(names, (std::set<std::string>{"fanout", "reminders.plan", "reminders.plan_all", "meeting.reminder",
                                          "annual.placeholders", "annual.tbd_reminder", "annual.review",
                                          "topic.overdue.check", "topic.overdue", "role.ending.check", "role.ending",
                                          "bookings.extend", "digests.sweep", "digests.batch", "noop"}));
  for (const auto& s : all) {
    const bool recurring = s.kind == "reminders.plan_all" || s.kind.starts_with("annual.") || s.kind.ends_with(".check") ||
                           s.kind == "bookings.extend" || s.kind == "digests.sweep";
    EXPECT_EQ(s.schedule.has_value(), recurring) << s.kind;
    if (recurring) {
      EXPECT_EQ(s.misfire, Misfire::coalesce) << s.kind;
      EXPECT_EQ(s.schedule->zone, "UTC") << s.kind;
    }
  }
  EXPECT_EQ(spec("meeting.reminder").misfire, Misfire::skip_when_stale);
  EXPECT_GT(spec("meeting.reminder").stale_after.count(), 0);
  EXPECT_EQ(spec("annual.review").schedule->rrule, "FREQ=YEARLY;BYMONTH=8;BYMONTHDAY=1");
  EXPECT_EQ(spec("noop").max_attempts, 5);
  EXPECT_EQ(spec("noop").misfire, Misfire::run_late);
}

TEST_F(JobKinds, NoopSleepsForAValidTimeAndRefusesOthers) {
  const auto now = at("2027-03-01T12:00:00Z");
  EXPECT_EQ(run("noop", {}, now).kind, Outcome::Kind::done);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run("noop", {{"sleep_ms", 50}}, now).kind, Outcome::Kind::done);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(50));
  EXPECT_THROW(run("noop", {{"sleep_ms", -1}}, now), std::invalid_argument);
  EXPECT_THROW(run("noop", {{"sleep_ms", 600001}}, now), std::invalid_argument);
  EXPECT_THROW(run("noop", {{"sleep_ms", "10"}}, now), std::invalid_argument);
  EXPECT_THROW(run("noop", {{"sleep_ms", 1.5}}, now), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Fan-out

TEST_F(JobKinds, FanoutEmailsRealtimeMembersOnlyAndDigestsTakeTheRest) {
  const auto c = community("data-science");
  const auto ada = member("Ada"), bob = member("Bob"), cy = member("Cy"), di = member("Di");
  join(ada, c, "realtime");
  join(bob, c, "daily");
  join(cy, c, "weekly");
  join(di, c, "none");
  const auto id = event("topic.posted", c, {{"title", "Graph databases"}, {"topic_id", 7}}, "2027-03-01T12:00:00Z");
  // The outbox trigger made the fan-out job.
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'fanout' AND unique_key = $1", "event:" + std::to_string(id)), 1);

  EXPECT_EQ(run_due("fanout", at("2027-03-01T12:00:01Z")), 1);
  EXPECT_EQ(notified("topic.posted"), (std::set<std::int64_t>{ada}));
  const auto row = sql(
      "SELECT n.channel, n.kind, n.recipient, n.community_id, n.event_id, n.state, n.dedupe_key, "
      "(e.message || n.payload)::text, n.due_at = n.created_at, n.due_at = '2027-03-01T12:00:01Z', n.payload::text "
      "FROM notifications n JOIN events e ON e.id = n.event_id WHERE n.member_id = $1",
      ada)[0];
  EXPECT_EQ(row[0].as<std::string>(), "email");
  EXPECT_EQ(row[1].as<std::string>(), "topic.posted");
  EXPECT_EQ(row[2].as<std::string>(), "ada@example.org");
  EXPECT_EQ(row[3].as<std::int64_t>(), c);
  EXPECT_EQ(row[4].as<std::int64_t>(), id);
  EXPECT_EQ(row[5].as<std::string>(), "pending");
  EXPECT_EQ(row[6].as<std::string>(), "event:" + std::to_string(id) + ":email:" + std::to_string(ada));
  const auto payload = boost::json::parse(row[7].c_str()).as_object();
  EXPECT_EQ(payload.at("title"), "Graph databases");
  EXPECT_EQ(payload.at("recipient_name"), "Ada");
  EXPECT_EQ(payload.at("community"), "data-science");
  EXPECT_EQ(payload.at("community_name"), "Data Science");
  EXPECT_TRUE(row[8].as<bool>());
  EXPECT_TRUE(row[9].as<bool>());
  // The message is stored once, with the event; the row holds only what is the recipient's own.
  EXPECT_EQ(boost::json::parse(row[10].c_str()), boost::json::parse(R"({"recipient_name":"Ada"})"));
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE id = $1 AND fanned_out_at = '2027-03-01T12:00:01Z'", id), 1);
}

TEST_F(JobKinds, FanoutTwiceAddsNoDuplicates) {
  const auto c = community("data-science");
  const auto ada = member("Ada"), bob = member("Bob");
  join(ada, c, "realtime");
  join(bob, c, "realtime");
  const auto id = event("community.updated", c, {{"name", "Data Science"}}, "2027-03-01T12:00:00Z");
  const auto now = at("2027-03-01T12:00:00Z");
  EXPECT_EQ(run("fanout", {{"event_id", id}}, now).kind, Outcome::Kind::done);
  EXPECT_EQ(run("fanout", {{"event_id", id}}, now + std::chrono::minutes(5)).kind, Outcome::Kind::done);
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications"), 2);
  EXPECT_EQ(notified("community.updated"), (std::set<std::int64_t>{ada, bob}));
}

TEST_F(JobKinds, FanoutSendsNothingForArchivedCommunitiesJoinsOrLeaves) {
  const auto archived = community("old", "archived"), active = community("new");
  const auto ada = member("Ada");
  join(ada, archived, "realtime");
  join(ada, active, "realtime");
  event("topic.posted", archived, {{"title", "x"}}, "2027-03-01T12:00:00Z");
  event("member.joined", active, {{"member_id", ada}}, "2027-03-01T12:00:00Z");
  event("member.left", active, {{"member_id", ada}}, "2027-03-01T12:00:00Z");
  EXPECT_EQ(run_due("fanout", at("2027-03-01T12:00:00Z")), 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE fanned_out_at IS NULL"), 0);
}

TEST_F(JobKinds, FanoutTellsMembersOfTheSplitThatArchivedTheirCommunity) {
  const auto source = community("source");
  const auto ada = member("Ada");
  join(ada, source, "realtime");
  // The split moved everyone out and archived the source in the transaction of the event.
  sql("UPDATE communities SET status = 'archived', archived_at = '2027-03-01T12:00:00Z' WHERE id = $1", source);
  event("community.split", source, {{"into", boost::json::array{"a", "b"}}}, "2027-03-01T12:00:00Z");
  run_due("fanout", at("2027-03-01T12:00:00Z"));
  EXPECT_EQ(notified("community.split"), (std::set<std::int64_t>{ada}));
}

TEST_F(JobKinds, RoleAssignedGoesToTheHolder) {
  const auto c = community("data-science");
  const auto ada = member("Ada"), bob = member("Bob");
  join(ada, c, "none");  // personal news, whatever the community's delivery mode
  join(bob, c, "realtime");
  event("role.assigned", c, {{"member_id", ada}, {"role", "discussion_monitor"}}, "2027-03-01T12:00:00Z");
  run_due("fanout", at("2027-03-01T12:00:00Z"));
  EXPECT_EQ(notified("role.assigned"), (std::set<std::int64_t>{ada}));
}

// ---------------------------------------------------------------------------------------------
// Meeting reminders

class MeetingReminders : public JobKinds {
 protected:
  void SetUp() override {
    JobKinds::SetUp();
    c = community("data-science");
    ada = member("Ada", "{1 day,1 hour}");
    bob = member("Bob", "{1 hour,30 minutes}");
    cy = member("Cy", "{2 hours}");
    di = member("Di", "{3 days}");
    join(ada, c, "realtime");
    join(bob, c, "daily");
    join(cy, c, "none");  // no reminders at all: 2 hours is never planned
    join(di, c, "weekly");
    // Wednesdays 10:00-11:00 UTC, March 3, 10, 17 and 24.
    m = meeting(c, "UTC", "2027-03-03 10:00", "2027-03-03 11:00", "FREQ=WEEKLY;COUNT=4");
  }

  std::string key(const char* occurrence_start, int offset_seconds) {
    return "meeting:" + std::to_string(m) + ":" + std::to_string(unix_seconds(occurrence_start)) + ":" +
           std::to_string(offset_seconds);
  }

  std::set<std::string> keys_for(std::initializer_list<const char*> starts, std::initializer_list<int> offsets) {
    std::set<std::string> keys;
    for (const auto* s : starts)
      for (const auto o : offsets) keys.insert(key(s, o));
    return keys;
  }

  std::int64_t c = 0, ada = 0, bob = 0, cy = 0, di = 0, m = 0;
};

TEST_F(MeetingReminders, OnePerOccurrenceAndDistinctOffsetOfMembersNotOnNone) {
  event("meeting.scheduled", c, {{"meeting_id", m}}, "2027-03-01T12:00:00Z");
  const auto now = at("2027-03-01T12:00:00Z");
  run_due("fanout", now);
  // Fan-out asked for a plan of the meeting's reminders, due now.
  EXPECT_EQ(job_due("reminders.plan", "meeting:" + std::to_string(m)), "2027-03-01T12:00:00Z");
  EXPECT_EQ(run_due("reminders.plan", now), 1);

  auto expected = keys_for({"2027-03-10T10:00:00Z", "2027-03-17T10:00:00Z", "2027-03-24T10:00:00Z"},
                           {86400, 3600, 1800, 259200});
  // March 3: three days before is already past.
  for (const auto& k : keys_for({"2027-03-03T10:00:00Z"}, {86400, 3600, 1800})) expected.insert(k);
  EXPECT_EQ(pending_reminder_keys(), expected);
  EXPECT_EQ(job_due("meeting.reminder", key("2027-03-10T10:00:00Z", 3600)), "2027-03-10T09:00:00Z");
  EXPECT_EQ(job_due("meeting.reminder", key("2027-03-10T10:00:00Z", 259200)), "2027-03-07T10:00:00Z");
  const auto payload = boost::json::parse(sql("SELECT payload::text FROM jobs WHERE unique_key = $1",
                                               key("2027-03-17T10:00:00Z", 1800))[0][0]
                                              .c_str())
                           .as_object();
  EXPECT_EQ(payload.at("meeting_id"), m);
  EXPECT_EQ(payload.at("occurrence_start"), "2027-03-17T10:00:00Z");
  EXPECT_EQ(payload.at("recurrence_id"), "2027-03-17T10:00:00Z");
  EXPECT_EQ(payload.at("offset_seconds"), 1800);

  // Planning again changes nothing.
  run("reminders.plan", {{"meeting_id", m}}, now);
  EXPECT_EQ(pending_reminder_keys(), expected);
}

TEST_F(MeetingReminders, FollowTheMeetingWhenItMovesAndGoWhenItIsCancelled) {
  event("meeting.scheduled", c, {{"meeting_id", m}}, "2027-03-01T12:00:00Z");
  run_due("fanout", at("2027-03-01T12:00:00Z"));
  run_due("reminders.plan", at("2027-03-01T12:00:00Z"));
  ASSERT_EQ(pending_reminder_keys().size(), 15u);

  // March 17 moves to Thursday the 18th; March 24 is cancelled.
  sql("INSERT INTO meeting_exceptions (meeting_id, recurrence_id, cancelled, start_local, end_local, starts_at, ends_at, "
      "updated_at) VALUES ($1, '2027-03-17T10:00Z', false, '2027-03-18 10:00', '2027-03-18 11:00', '2027-03-18T10:00Z', "
      "'2027-03-18T11:00Z', now()), ($1, '2027-03-24T10:00Z', true, NULL, NULL, NULL, NULL, now())",
      m);
  event("meeting.updated", c, {{"meeting_id", m}}, "2027-03-01T13:00:00Z");
  const auto later = at("2027-03-01T13:00:00Z");
  run_due("fanout", later);
  // The plan that already ran runs again.
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'reminders.plan' AND state = 'pending' AND due_at = $1",
                  "2027-03-01T13:00:00Z"),
            1);
  EXPECT_EQ(run_due("reminders.plan", later), 1);
  auto expected = keys_for({"2027-03-10T10:00:00Z", "2027-03-18T10:00:00Z"}, {86400, 3600, 1800, 259200});
  for (const auto& k : keys_for({"2027-03-03T10:00:00Z"}, {86400, 3600, 1800})) expected.insert(k);
  EXPECT_EQ(pending_reminder_keys(), expected);
  EXPECT_EQ(job_due("meeting.reminder", key("2027-03-18T10:00:00Z", 3600)), "2027-03-18T09:00:00Z");

  // A reminder planned before the move no longer fires.
  const auto stale = run("meeting.reminder",
                         {{"meeting_id", m}, {"occurrence_start", "2027-03-17T10:00:00Z"},
                          {"recurrence_id", "2027-03-17T10:00:00Z"}, {"offset_seconds", 3600}},
                         at("2027-03-17T09:00:00Z"));
  EXPECT_EQ(stale.kind, Outcome::Kind::skipped);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE kind = 'meeting.reminder'"), 0);

  // Cancelling the meeting drops every pending reminder.
  sql("UPDATE meetings SET status = 'cancelled', cancelled_at = '2027-03-01T14:00Z' WHERE id = $1", m);
  event("meeting.cancelled", c, {{"meeting_id", m}}, "2027-03-01T14:00:00Z");
  run_due("fanout", at("2027-03-01T14:00:00Z"));
  EXPECT_EQ(run_due("reminders.plan", at("2027-03-01T14:00:00Z")), 1);
  EXPECT_TRUE(pending_reminder_keys().empty());
  const auto cancelled = run("meeting.reminder",
                             {{"meeting_id", m}, {"occurrence_start", "2027-03-10T10:00:00Z"},
                              {"recurrence_id", "2027-03-10T10:00:00Z"}, {"offset_seconds", 3600}},
                             at("2027-03-10T09:00:00Z"));
  EXPECT_EQ(cancelled.kind, Outcome::Kind::skipped);
}

TEST_F(MeetingReminders, ArchivedCommunityDropsThem) {
  run("reminders.plan", {{"meeting_id", m}}, at("2027-03-01T12:00:00Z"));
  ASSERT_FALSE(pending_reminder_keys().empty());
  sql("UPDATE communities SET status = 'archived', archived_at = now() WHERE id = $1", c);
  run("reminders.plan", {{"meeting_id", m}}, at("2027-03-01T12:00:00Z"));
  EXPECT_TRUE(pending_reminder_keys().empty());
}

TEST_F(MeetingReminders, AReminderSentBeforeTheMeetingReachesMembersWithThatOffset) {
  const boost::json::object payload{{"meeting_id", m},
                                    {"occurrence_start", "2027-03-03T10:00:00Z"},
                                    {"recurrence_id", "2027-03-03T10:00:00Z"},
                                    {"offset_seconds", 3600}};
  EXPECT_EQ(run("meeting.reminder", payload, at("2027-03-03T09:00:00Z")).kind, Outcome::Kind::done);
  const auto e = event_payload("meeting.reminder");
  EXPECT_EQ(e.at("meeting_id"), m);
  EXPECT_EQ(e.at("title"), "Weekly call");
  EXPECT_EQ(e.at("start_utc"), "2027-03-03T10:00:00Z");
  EXPECT_EQ(e.at("end_utc"), "2027-03-03T11:00:00Z");
  EXPECT_EQ(e.at("time_zone"), "UTC");
  EXPECT_EQ(e.at("offset_seconds"), 3600);
  EXPECT_EQ(e.at("community"), "data-science");
  EXPECT_TRUE(e.at("join_url").is_null());
  run_due("fanout", at("2027-03-03T09:00:00Z"));
  // Ada (realtime) and Bob (daily digests, but reminders are not digest material) have a
  // one-hour offset; Cy is on none; Di reminds herself three days ahead only.
  EXPECT_EQ(notified("meeting.reminder"), (std::set<std::int64_t>{ada, bob}));
}

TEST_F(MeetingReminders, AReminderForAMeetingThatStartedIsSkipped) {
  const boost::json::object payload{{"meeting_id", m},
                                    {"occurrence_start", "2027-03-03T10:00:00Z"},
                                    {"recurrence_id", "2027-03-03T10:00:00Z"},
                                    {"offset_seconds", 3600}};
  const auto outcome = run("meeting.reminder", payload, at("2027-03-03T10:00:00Z"));
  EXPECT_EQ(outcome.kind, Outcome::Kind::skipped);
  EXPECT_EQ(outcome.note, "the meeting has started");
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), 0);
}

TEST_F(MeetingReminders, PlanAllPlansEveryMeetingAheadAndRunsFinishedPlansAgain) {
  const auto other = community("other");
  const auto far = meeting(c, "UTC", "2027-09-01 10:00", "2027-09-01 11:00");  // beyond the horizon
  const auto past = meeting(c, "UTC", "2027-01-01 10:00", "2027-01-01 11:00");
  const auto elsewhere = meeting(other, "UTC", "2027-03-05 10:00", "2027-03-05 11:00");
  const auto now = at("2027-03-01T08:00:00Z");
  run("reminders.plan_all", {}, now);
  std::set<std::string> planned;
  for (const auto& r : sql("SELECT unique_key FROM jobs WHERE kind = 'reminders.plan' AND state = 'pending'"))
    planned.insert(r[0].as<std::string>());
  EXPECT_EQ(planned, (std::set<std::string>{"meeting:" + std::to_string(m), "meeting:" + std::to_string(elsewhere)}));
  (void)far;
  (void)past;
  run_due("reminders.plan", now);
  // The next day's run plans them again, although their jobs are done.
  run("reminders.plan_all", {}, now + std::chrono::days(1));
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'reminders.plan' AND state = 'pending' AND due_at = $1",
                  "2027-03-02T08:00:00Z"),
            2);
}

TEST_F(JobKinds, RemindersFollowLocalTimeAcrossTheNovemberDstChange) {
  const auto c = community("new-york");
  join(member("Ada", "{1 hour}"), c, "realtime");
  // Thursdays 10:00 in New York; DST ends on Sunday, November 7, 2027.
  const auto m = meeting(c, "America/New_York", "2027-10-28 10:00", "2027-10-28 11:00", "FREQ=WEEKLY");
  run("reminders.plan", {{"meeting_id", m}}, at("2027-10-20T00:00:00Z"));
  const auto prefix = "meeting:" + std::to_string(m) + ":";
  // November 4 (EDT): the meeting is at 14:00Z, its reminder at 13:00Z.
  EXPECT_EQ(job_due("meeting.reminder", prefix + std::to_string(unix_seconds("2027-11-04T14:00:00Z")) + ":3600"),
            "2027-11-04T13:00:00Z");
  // November 11 (EST): still 10:00 local, so 15:00Z, and its reminder at 14:00Z.
  EXPECT_EQ(job_due("meeting.reminder", prefix + std::to_string(unix_seconds("2027-11-11T15:00:00Z")) + ":3600"),
            "2027-11-11T14:00:00Z");
  EXPECT_EQ(job_due("meeting.reminder", prefix + std::to_string(unix_seconds("2027-11-11T14:00:00Z")) + ":3600"), "");
}

// ---------------------------------------------------------------------------------------------
// Annual meetings

TEST_F(JobKinds, PlaceholdersJobCreatesThisAndNextYearsIdempotently) {
  const auto a = community("alpha"), b = community("beta");
  community("gone", "archived");
  const auto new_year = at("2027-01-01T00:00:00Z");
  EXPECT_EQ(run("annual.placeholders", {}, new_year).kind, Outcome::Kind::done);
  const std::string listing =
      "SELECT string_agg(community_id || ':' || annual_year || ':' || status || ':' || all_day || ':' || "
      "to_char(starts_at AT TIME ZONE 'UTC', 'MM-DD') || '-' || to_char(ends_at AT TIME ZONE 'UTC', 'MM-DD') || ':' || "
      "(uid LIKE 'annual-' || annual_year || '-%@convene.test') || ':' || (title LIKE '%(date and time TBD)'), ' ' "
      "ORDER BY community_id, annual_year) || '|' || string_agg(uid, ' ' ORDER BY uid) FROM meetings WHERE kind = 'annual'";
  const auto first = sql(listing)[0][0].as<std::string>();
  const auto expected = std::to_string(a) + ":2027:tentative:true:07-08-07-15:true:true " + std::to_string(a) +
                        ":2028:tentative:true:07-08-07-15:true:true " + std::to_string(b) +
                        ":2027:tentative:true:07-08-07-15:true:true " + std::to_string(b) +
                        ":2028:tentative:true:07-08-07-15:true:true";
  EXPECT_EQ(first.substr(0, first.find('|')), expected);
  // Again: the same rows, the same UIDs.
  run("annual.placeholders", {}, new_year + std::chrono::hours(1));
  EXPECT_EQ(sql(listing)[0][0].as<std::string>(), first);
}

TEST_F(JobKinds, PlaceholdersAfterThisYearsWindowAreForNextYearOnly) {
  community("alpha");
  run("annual.placeholders", {}, at("2027-07-15T00:00:00Z"));
  EXPECT_EQ(scalar("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2027"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2028"), 1);
}

TEST_F(JobKinds, TbdReminderWithNothingTbdEmitsNothing) {
  const auto a = community("alpha");
  run("annual.placeholders", {}, at("2027-01-01T00:00:00Z"));
  sql("UPDATE meetings SET status = 'confirmed', all_day = false WHERE community_id = $1 AND annual_year = 2027", a);
  EXPECT_EQ(run("annual.tbd_reminder", {}, at("2027-06-01T09:00:00Z")).kind, Outcome::Kind::done);
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), 0);
}

TEST_F(JobKinds, TbdReminderListsEveryTbdCommunityInOneEventForTheCommittee) {
  const auto a = community("alpha"), b = community("beta"), confirmed = community("gamma");
  run("annual.placeholders", {}, at("2027-01-01T00:00:00Z"));
  sql("UPDATE meetings SET status = 'confirmed', all_day = false WHERE community_id = $1 AND annual_year = 2027", confirmed);
  const auto chair = member("Chair"), former = member("Former"), ada = member("Ada");
  role(chair, std::nullopt, "committee", "2026-01-01");
  role(former, std::nullopt, "committee", "2020-01-01", "2026-12-31");
  join(ada, a, "realtime");
  run("annual.tbd_reminder", {}, at("2027-06-01T09:00:00Z"));
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), 1);
  const auto payload = event_payload("annual_meeting.tbd");
  EXPECT_EQ(payload.at("year"), 2027);
  EXPECT_EQ(payload.at("communities"), (boost::json::array{boost::json::object{{"slug", "alpha"}, {"name", "Alpha"}},
                                                           boost::json::object{{"slug", "beta"}, {"name", "Beta"}}}));
  (void)b;
  run_due("fanout", at("2027-06-01T09:00:00Z"));
  EXPECT_EQ(notified("annual_meeting.tbd"), (std::set<std::int64_t>{chair}));
}

// A community founded after the year's placeholders were made has no annual meeting at all:
// its date is not set either, so the committee hears of it too.
TEST_F(JobKinds, TbdReminderAlsoListsACommunityNewerThanThePlaceholders) {
  community("alpha");
  run("annual.placeholders", {}, at("2027-01-01T00:00:00Z"));
  community("newer");
  run("annual.tbd_reminder", {}, at("2027-06-01T09:00:00Z"));
  const auto payload = event_payload("annual_meeting.tbd");
  EXPECT_EQ(payload.at("communities"), (boost::json::array{boost::json::object{{"slug", "alpha"}, {"name", "Alpha"}},
                                                           boost::json::object{{"slug", "newer"}, {"name", "Newer"}}}));
}

TEST_F(JobKinds, ReviewReportsEachActiveCommunitysYear) {
  const auto c = community("data-science");
  community("archived", "archived");
  const auto quiet = community("quiet");
  const auto ada = member("Ada"), bob = member("Bob"), cy = member("Cy"), chair = member("Chair");
  join(ada, c, "realtime");
  join(bob, c, "daily");
  join(cy, c, "none");
  role(chair, std::nullopt, "committee", "2020-01-01");
  // The period is [2026-08-01 09:00Z, 2027-08-01 09:00Z).
  event("member.joined", c, {{"member_id", ada}}, "2026-07-31T12:00:00Z");  // before the period
  event("member.joined", c, {{"member_id", bob}}, "2026-09-01T12:00:00Z");
  event("member.joined", c, {{"member_id", cy}}, "2027-02-01T12:00:00Z");
  event("member.left", c, {{"member_id", chair}}, "2027-03-01T12:00:00Z");
  for (const char* posted : {"2026-07-01T10:00Z", "2026-10-01T10:00Z", "2027-07-31T10:00Z"})
    sql("INSERT INTO topics (community_id, title, posted_at) VALUES ($1, 'Topic', $2)", c, posted);
  // Tuesdays in June 2027, five of them; June 15 cancelled, June 22 moved to the 23rd.
  const auto weekly = meeting(c, "UTC", "2027-06-01 10:00", "2027-06-01 11:00", "FREQ=WEEKLY;COUNT=5");
  sql("INSERT INTO meeting_exceptions (meeting_id, recurrence_id, cancelled, start_local, end_local, starts_at, ends_at, "
      "updated_at) VALUES ($1, '2027-06-15T10:00Z', true, NULL, NULL, NULL, NULL, now()), "
      "($1, '2027-06-22T10:00Z', false, '2027-06-23 10:00', '2027-06-23 11:00', '2027-06-23T10:00Z', '2027-06-23T11:00Z', now())",
      weekly);
  // Thursdays from July 1, cancelled as a series on July 10: July 1 and 8 were held.
  const auto stopped = meeting(c, "UTC", "2027-07-01 18:00", "2027-07-01 19:00", "FREQ=WEEKLY");
  sql("UPDATE meetings SET status = 'cancelled', cancelled_at = '2027-07-10T00:00Z' WHERE id = $1", stopped);
  meeting(c, "UTC", "2026-07-15 10:00", "2026-07-15 11:00");  // before the period
  meeting(c, "UTC", "2027-09-01 10:00", "2027-09-01 11:00");  // ahead
  run("annual.placeholders", {}, at("2027-01-01T00:00:00Z"));  // TBD placeholders are not held

  EXPECT_EQ(run("annual.review", {}, at("2027-08-01T09:00:00Z")).kind, Outcome::Kind::done);
  const auto rows = sql("SELECT community_id, payload::text FROM events WHERE kind = 'review.due' ORDER BY community_id");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0].as<std::int64_t>(), c);
  EXPECT_EQ(rows[1][0].as<std::int64_t>(), quiet);
  const auto report = boost::json::parse(rows[0][1].c_str()).as_object();
  EXPECT_EQ(report.at("community"), "data-science");
  EXPECT_EQ(report.at("period_start"), "2026-08-01T09:00:00Z");
  EXPECT_EQ(report.at("period_end"), "2027-08-01T09:00:00Z");
  EXPECT_EQ(report.at("member_count"), 3);
  EXPECT_EQ(report.at("joins"), 2);
  EXPECT_EQ(report.at("leaves"), 1);
  EXPECT_EQ(report.at("meetings_held"), 6);
  EXPECT_EQ(report.at("topics_posted"), 2);
  const auto empty = boost::json::parse(rows[1][1].c_str()).as_object();
  EXPECT_EQ(empty.at("member_count"), 0);
  EXPECT_EQ(empty.at("meetings_held"), 0);
  // The committee hears of both.
  run_due("fanout", at("2027-08-01T09:00:00Z"));
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE kind = 'review.due' AND member_id = $1", chair), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM notifications WHERE kind = 'review.due'"), 2);
}

// ---------------------------------------------------------------------------------------------
// Overdue topics and ending roles

TEST_F(JobKinds, OverdueTopicRemindsMonitorsOncePerMissedPeriod) {
  const auto c = community("data-science");
  sql("UPDATE communities SET topic_cadence = '7 days' WHERE id = $1", c);
  sql("INSERT INTO topics (community_id, title, posted_at) VALUES ($1, 'Last', '2027-03-01T10:00Z')", c);
  const auto monitor = member("Monitor"), ada = member("Ada"), former = member("Former");
  join(ada, c, "realtime");
  join(monitor, c, "none");
  role(monitor, c, "discussion_monitor", "2027-01-01");
  role(former, c, "discussion_monitor", "2026-01-01", "2026-12-31");

  // Not yet overdue.
  run("topic.overdue.check", {}, at("2027-03-08T09:00:00Z"));
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'topic.overdue'"), 0);

  // Overdue since March 8, 10:00; the check runs twice.
  run("topic.overdue.check", {}, at("2027-03-09T08:00:00Z"));
  run("topic.overdue.check", {}, at("2027-03-09T20:00:00Z"));
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'topic.overdue'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'topic.overdue' AND unique_key = $1",
                  "community:" + std::to_string(c) + ":" + std::to_string(unix_seconds("2027-03-08T10:00:00Z"))),
            1);
  EXPECT_EQ(run_due("topic.overdue", at("2027-03-09T20:00:00Z")), 1);
  run("topic.overdue.check", {}, at("2027-03-10T08:00:00Z"));
  EXPECT_EQ(run_due("topic.overdue", at("2027-03-10T08:00:00Z")), 0);
  const auto payload = event_payload("topic.overdue");
  EXPECT_EQ(payload.at("community"), "data-science");
  EXPECT_EQ(payload.at("last_topic_at"), "2027-03-01T10:00:00Z");
  EXPECT_EQ(payload.at("overdue_since"), "2027-03-08T10:00:00Z");
  EXPECT_EQ(payload.at("cadence"), "P7D");
  run_due("fanout", at("2027-03-10T08:00:00Z"));
  EXPECT_EQ(notified("topic.overdue"), (std::set<std::int64_t>{monitor}));

  // A second silent week earns a second reminder.
  run("topic.overdue.check", {}, at("2027-03-16T08:00:00Z"));
  EXPECT_EQ(run_due("topic.overdue", at("2027-03-16T08:00:00Z")), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE kind = 'topic.overdue'"), 2);
}

TEST_F(JobKinds, OverdueTopicIsSkippedWhenATopicArrivedMeanwhile) {
  const auto c = community("data-science");
  sql("UPDATE communities SET topic_cadence = '1 day' WHERE id = $1", c);  // none yet: counted from creation
  run("topic.overdue.check", {}, at("2026-01-03T00:00:00Z"));
  sql("INSERT INTO topics (community_id, title, posted_at) VALUES ($1, 'New', '2026-01-03T00:30Z')", c);
  EXPECT_EQ(run_due("topic.overdue", at("2026-01-03T01:00:00Z")), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'topic.overdue' AND state = 'skipped'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), 0);
}

TEST_F(JobKinds, RoleEndingInFourteenDaysGoesToTheHolderAndTheCommittee) {
  const auto c = community("data-science");
  const auto holder = member("Holder"), chair = member("Chair"), admin = member("Admin"), ada = member("Ada"),
             later = member("Later");
  join(ada, c, "realtime");
  role(holder, c, "discussion_monitor", "2027-01-01", "2027-03-15");
  role(later, c, "meeting_coordinator", "2027-01-01", "2027-03-16");  // fifteen days: not yet
  role(chair, std::nullopt, "committee", "2026-01-01");
  role(admin, std::nullopt, "admin", "2026-01-01");
  const auto now = at("2027-03-01T08:00:00Z");
  run("role.ending.check", {}, now);
  run("role.ending.check", {}, now + std::chrono::hours(1));
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'role.ending'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE kind = 'role.ending' AND unique_key LIKE 'role:%:2027-03-15'"), 1);
  EXPECT_EQ(run_due("role.ending", now), 1);
  const auto payload = event_payload("role.ending");
  EXPECT_EQ(payload.at("member_id"), holder);
  EXPECT_EQ(payload.at("member_name"), "Holder");
  EXPECT_EQ(payload.at("role"), "discussion_monitor");
  EXPECT_EQ(payload.at("community"), "data-science");
  EXPECT_EQ(payload.at("ends_on"), "2027-03-15");
  run_due("fanout", now);
  EXPECT_EQ(notified("role.ending"), (std::set<std::int64_t>{holder, chair}));
  // The next day's check finds the same ending: no second notice.
  run("role.ending.check", {}, now + std::chrono::days(1));
  EXPECT_EQ(run_due("role.ending", now + std::chrono::days(1)), 1);  // the coordinator's, now at fourteen days
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE kind = 'role.ending' AND payload->>'member_id' = $1",
                  std::to_string(holder)),
            1);
}

}  // namespace
