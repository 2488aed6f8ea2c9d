// Daily and weekly digests (DESIGN §4, jobs/kinds/digests.cpp) against a real, freshly migrated
// database, with time driven by the test: the sweep and its batches run as the engine runs
// them (or, for two instances, in two real engines on one database), and the tests read the
// digest notifications and the ledger left behind.
#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"
#include "jobs/digests.hpp"
#include "jobs/engine.hpp"
#include "jobs/kinds/kinds.hpp"
#include "jobs/kinds/payload_fields.hpp"
#include "jobs/queue.hpp"
#include "notifiers/templates.hpp"
#include "store/database.hpp"
#include "store/sql_time.hpp"
#include "support/test_database.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using convene::calendar::Instant;
using convene::store::sql_instant;
using namespace convene::jobs;

namespace {

Instant utc(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  using namespace std::chrono;
  return Instant{sys_days{year{y} / mo / d}.time_since_epoch() + hours(h) + minutes(mi)};
}

std::string local(Instant t, const std::string& zone) {
  return convene::calendar::format_local_datetime(convene::calendar::to_local(t, zone));
}

struct Sent {
  std::int64_t member_id;
  std::string kind;
  Instant created_at;
  boost::json::object payload;
};

class Digests : public convene::testing::MigratedDatabaseTest {
 protected:
  void SetUp() override {
    MigratedDatabaseTest::SetUp();
    connection = std::make_unique<pqxx::connection>(db.url());
    settings.digest_batch = 7;  // several batches even for a handful of members
  }


  std::int64_t community(const std::string& slug) {
    return sql("INSERT INTO communities (slug, name, time_zone, created_at, updated_at) "
               "VALUES ($1, initcap(replace($1, '-', ' ')), 'UTC', '2027-01-01Z', '2027-01-01Z') RETURNING id",
               slug)[0][0]
        .as<std::int64_t>();
  }

  std::int64_t member(const std::string& name, const std::string& zone, int hour = 7, int weekly_day = 1) {
    return sql("INSERT INTO members (email, name, time_zone, digest_hour, weekly_day, created_at, updated_at) "
               "VALUES (lower($1) || '@example.org', $1, $2, $3, $4, '2027-01-01Z', '2027-01-01Z') RETURNING id",
               name, zone, hour, weekly_day)[0][0]
        .as<std::int64_t>();
  }

  void join(std::int64_t member_id, std::int64_t community_id, const std::string& delivery, Instant at) {
    sql("INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
        "ON CONFLICT (member_id, community_id) DO UPDATE SET delivery = EXCLUDED.delivery, updated_at = EXCLUDED.updated_at",
        member_id, community_id, delivery, sql_instant(at));
  }

  std::int64_t topic(std::int64_t community_id, const std::string& title, Instant at) {
    const auto id = sql("INSERT INTO topics (community_id, title, posted_at) VALUES ($1, $2, $3) RETURNING id", community_id,
                        title, sql_instant(at))[0][0]
                        .as<std::int64_t>();
    const boost::json::object payload{{"topic_id", id},
                                      {"title", title},
                                      {"posted_at", convene::calendar::format_rfc3339_utc(at)},
                                      {"community_name", "x"}};
    return sql("INSERT INTO events (kind, community_id, payload, occurred_at) VALUES ('topic.posted', $1, $2::jsonb, $3) "
               "RETURNING id",
               community_id, boost::json::serialize(payload), sql_instant(at))[0][0]
        .as<std::int64_t>();
  }

  const KindSpec& spec(const std::string& kind) {
    if (kinds.empty()) kinds = standard_kinds(settings);
    for (const auto& s : kinds)
      if (s.kind == kind) return s;
    throw std::logic_error("no kind " + kind);
  }

  // What the engine does at `now` for digests: the sweep, then every batch job it started (and
  // their continuations), each claimed, run and finished in one transaction.
  void run_digests(Instant now) {
    run_one("digests.sweep", "schedule", now);
    for (int round = 0; round < 1000; ++round) {
      pqxx::work tx(*connection);
      const auto claimed = claim(tx, "test", now, 60s, 1, {"digests.batch"});
      if (claimed.empty()) return;
      JobRun run{tx, claimed.front(), now};
      spec("digests.batch").run(run);
      ASSERT_TRUE(finish(tx, claimed.front().id, "test", now, false, "", std::nullopt));
      tx.commit();
    }
    FAIL() << "the batch chain did not end";
  }

  void run_one(const std::string& kind, const std::string& key, Instant now) {
    ClaimedJob job;
    job.kind = kind;
    job.unique_key = key;
    job.due_at = now;
    job.attempts = 1;
    pqxx::work tx(*connection);
    JobRun run{tx, job, now};
    spec(kind).run(run);
    tx.commit();
  }

  // Every quarter of an hour in [from, to), as the recurring sweep would run.
  void run_every_quarter_hour(Instant from, Instant to) {
    for (auto t = from; t < to; t += 15min) run_digests(t);
  }

  std::vector<Sent> digests_sent(std::optional<std::int64_t> member_id = std::nullopt) {
    std::vector<Sent> out;
    for (const auto& r : sql("SELECT member_id, kind, created_at, payload::text FROM notifications "
                             "WHERE kind LIKE 'digest.%' AND ($1::bigint IS NULL OR member_id = $1) ORDER BY created_at, member_id",
                             member_id))
      out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), convene::store::parse_sql_instant(r[2].c_str()),
                     boost::json::parse(r[3].c_str()).as_object()});
    return out;
  }

  static std::vector<std::string> topic_titles(const boost::json::object& payload) {
    std::vector<std::string> titles;
    for (const auto& c : payload.at("communities").as_array())
      for (const auto& t : c.as_object().at("topics").as_array()) titles.emplace_back(t.as_object().at("title").as_string());
    return titles;
  }

  KindSettings settings;
  std::vector<KindSpec> kinds;
  std::unique_ptr<pqxx::connection> connection;
};

}  // namespace

TEST_F(Digests, OneDailyDigestPerLocalDayAtTheLocalHourAcrossDstAndTheDateLine) {
  const auto c = community("data-science");
  // New York at 02:00 (the hour that does not exist on 14 March 2027), London at 01:00 (not on
  // 28 March), Lord Howe at 02:00 (02:00-02:30 does not exist on 3 October), Kiritimati and
  // Pago Pago at 07:00.
  struct Case {
    std::string zone;
    int hour;
    Instant from;
    std::string gap_date, gap_time;  // the day the hour does not exist, and when it runs instead
  };
  const std::vector<Case> cases{{"America/New_York", 2, utc(2027, 3, 11, 0), "2027-03-14", "03:00:00"},
                                {"Europe/London", 1, utc(2027, 3, 25, 0), "2027-03-28", "02:00:00"},
                                {"Australia/Lord_Howe", 2, utc(2027, 9, 30, 0), "2027-10-03", "02:30:00"},
                                {"Pacific/Kiritimati", 7, utc(2027, 3, 11, 0), "", ""},
                                {"Pacific/Pago_Pago", 7, utc(2027, 3, 11, 0), "", ""}};
  for (const auto& k : cases) {
    SCOPED_TRACE(k.zone);
    sql("TRUNCATE digest_schedules, digests, notifications CASCADE");
    const auto m = member("M" + std::to_string(&k - cases.data()), k.zone, k.hour);
    join(m, c, "daily", k.from);
    // A topic every 6 hours, so that no digest is empty.
    for (auto t = k.from + 1h; t < k.from + 6 * 24h; t += 6h) topic(c, k.zone + " topic at " + sql_instant(t), t);
    run_every_quarter_hour(k.from, k.from + 6 * 24h);
    const auto sent = digests_sent(m);
    const std::string clock = (k.hour < 10 ? "0" : "") + std::to_string(k.hour) + ":00:00";
    std::set<std::string> days, titles;
    bool gap_seen = false;
    for (const auto& s : sent) {
      const auto l = local(s.created_at, k.zone);
      EXPECT_TRUE(days.insert(l.substr(0, 10)).second) << "two digests on " << l;
      if (!k.gap_date.empty() && l.starts_with(k.gap_date)) {
        EXPECT_EQ(l.substr(11), k.gap_time);
        gap_seen = true;
      } else {
        EXPECT_EQ(l.substr(11), clock);
      }
      for (const auto& t : topic_titles(s.payload)) EXPECT_TRUE(titles.insert(t).second) << t << " twice";
      EXPECT_EQ(s.kind, "digest.daily");
    }
    EXPECT_EQ(gap_seen, !k.gap_date.empty());
    // Six days of sweeps: a digest on each local day whose digest hour came after joining.
    EXPECT_GE(sent.size(), 5u);
    EXPECT_LE(sent.size(), 6u);
    // Consecutive local days, none skipped.
    for (std::size_t i = 1; i < sent.size(); ++i)
      EXPECT_EQ(std::chrono::sys_days{convene::calendar::local_date(sent[i].created_at, k.zone)} -
                    std::chrono::sys_days{convene::calendar::local_date(sent[i - 1].created_at, k.zone)},
                std::chrono::days(1));
  }
}

TEST_F(Digests, ThreeDaysDownMakeOneDigestCoveringAllThree) {
  const auto c = community("data-science");
  const auto m = member("Ada", "UTC", 7);
  join(m, c, "daily", utc(2027, 5, 2, 12));
  run_digests(utc(2027, 5, 3, 7));  // Monday: nothing yet, the period advances
  EXPECT_TRUE(digests_sent().empty());
  topic(c, "Tuesday", utc(2027, 5, 4, 3));
  topic(c, "Wednesday", utc(2027, 5, 5, 3));
  topic(c, "Thursday", utc(2027, 5, 6, 3));
  topic(c, "Thursday after the digest hour", utc(2027, 5, 6, 8));
  // Down from Monday 07:00 to Thursday 09:10.
  run_digests(utc(2027, 5, 6, 9, 10));
  auto sent = digests_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].payload.at("periods_covered").as_int64(), 3);
  EXPECT_EQ(topic_titles(sent[0].payload), (std::vector<std::string>{"Tuesday", "Wednesday", "Thursday"}));
  const auto ledger = sql("SELECT periods_covered, covered_from, covered_to, period_label, item_count FROM digests");
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0][0].as<int>(), 3);
  EXPECT_EQ(convene::store::parse_sql_instant(ledger[0][1].c_str()), utc(2027, 5, 3, 7));
  EXPECT_EQ(convene::store::parse_sql_instant(ledger[0][2].c_str()), utc(2027, 5, 6, 7));
  EXPECT_EQ(ledger[0][3].as<std::string>(), "2027-05-06");
  // Running again changes nothing; Friday's digest has the late Thursday topic only.
  run_digests(utc(2027, 5, 6, 9, 15));
  EXPECT_EQ(digests_sent().size(), 1u);
  run_digests(utc(2027, 5, 7, 7));
  sent = digests_sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(topic_titles(sent[1].payload), (std::vector<std::string>{"Thursday after the digest hour"}));
  EXPECT_EQ(sent[1].payload.at("periods_covered").as_int64(), 1);
}

TEST_F(Digests, WhatCameInRealTimeIsNotRepeated) {
  const auto c = community("data-science");
  const auto m = member("Ada", "UTC", 7);
  join(m, c, "realtime", utc(2027, 5, 1, 0));
  const auto seen = topic(c, "Seen in real time", utc(2027, 5, 3, 8));
  // Fan-out of the event makes the member's real-time email.
  {
    ClaimedJob job;
    job.kind = "fanout";
    job.unique_key = "event";
    job.payload = {{"event_id", seen}};
    job.due_at = utc(2027, 5, 3, 8, 1);
    job.attempts = 1;
    pqxx::work tx(*connection);
    JobRun run{tx, job, job.due_at};
    spec("fanout").run(run);
    tx.commit();
  }
  ASSERT_EQ(sql("SELECT count(*) FROM notifications WHERE kind = 'topic.posted' AND member_id = $1", m)[0][0].as<int>(), 1);
  // Mid-period the member switches to daily; the switch is dated before the event was seen
  // (a clock skew between instances, or an event fanned out late): still not repeated.
  join(m, c, "daily", utc(2027, 5, 3, 6));
  topic(c, "New after the switch", utc(2027, 5, 3, 12));
  run_digests(utc(2027, 5, 4, 7));
  const auto sent = digests_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(topic_titles(sent[0].payload), (std::vector<std::string>{"New after the switch"}));
}

TEST_F(Digests, AnEmptyDigestIsNotSentButItsPeriodPasses) {
  const auto c = community("data-science");
  const auto m = member("Ada", "UTC", 7);
  join(m, c, "daily", utc(2027, 5, 1, 0));
  run_digests(utc(2027, 5, 1, 7));
  EXPECT_TRUE(digests_sent().empty());
  EXPECT_EQ(sql("SELECT count(*) FROM digests")[0][0].as<int>(), 0);
  const auto row = sql("SELECT covered_to, next_due_at FROM digest_schedules WHERE member_id = $1", m);
  EXPECT_EQ(convene::store::parse_sql_instant(row[0][0].c_str()), utc(2027, 5, 1, 7));
  EXPECT_EQ(convene::store::parse_sql_instant(row[0][1].c_str()), utc(2027, 5, 2, 7));
  // A member who left every daily community loses the schedule row at the next look.
  sql("DELETE FROM memberships WHERE member_id = $1", m);
  run_digests(utc(2027, 5, 2, 7));
  EXPECT_EQ(sql("SELECT count(*) FROM digest_schedules")[0][0].as<int>(), 0);
}

TEST_F(Digests, WeeklyOnTheChosenWeekdayOverWeeklyCommunitiesOnly) {
  const auto weekly = community("weekly-news");
  const auto daily = community("daily-news");
  const auto m = member("Ada", "Europe/Berlin", 8, 3);  // Wednesdays 08:00
  join(m, weekly, "weekly", utc(2027, 5, 1, 0));
  join(m, daily, "daily", utc(2027, 5, 1, 0));
  for (int day = 1; day <= 20; ++day) {
    topic(weekly, "weekly " + std::to_string(day), utc(2027, 5, static_cast<unsigned>(day), 12));
    topic(daily, "daily " + std::to_string(day), utc(2027, 5, static_cast<unsigned>(day), 12));
  }
  run_every_quarter_hour(utc(2027, 5, 1, 0), utc(2027, 5, 20, 0));
  std::vector<Sent> weeklies;
  for (const auto& s : digests_sent(m))
    if (s.kind == "digest.weekly") weeklies.push_back(s);
  ASSERT_EQ(weeklies.size(), 3u);  // 5, 12 and 19 May
  for (const auto& s : weeklies) {
    EXPECT_EQ(local(s.created_at, "Europe/Berlin").substr(11), "08:00:00");
    EXPECT_EQ(std::chrono::weekday{std::chrono::sys_days{convene::calendar::local_date(s.created_at, "Europe/Berlin")}},
              std::chrono::Wednesday);
    for (const auto& t : topic_titles(s.payload)) EXPECT_TRUE(t.starts_with("weekly ")) << t;
  }
  EXPECT_EQ(topic_titles(weeklies[1].payload).size(), 7u);
  EXPECT_EQ(weeklies[1].payload.at("period").as_string(), "2027-W19");
}

TEST_F(Digests, ChangingTheHourOrZoneNeitherDoublesNorSkips) {
  const auto c = community("data-science");
  const auto m = member("Ada", "UTC", 7);
  join(m, c, "daily", utc(2027, 5, 1, 0));
  for (auto t = utc(2027, 5, 1, 1); t < utc(2027, 5, 8, 0); t += 2h) topic(c, "t" + sql_instant(t), t);
  const auto change = [&](const std::string& zone, int hour, Instant at) {
    sql("UPDATE members SET time_zone = $2, digest_hour = $3, updated_at = $4 WHERE id = $1", m, zone, hour, sql_instant(at));
  };
  // 1 May 07:00 sent; at 08:00 the member moves to 09:00: nothing more on 1 May, 2 May at 09:00.
  run_every_quarter_hour(utc(2027, 5, 1, 0), utc(2027, 5, 1, 8));
  change("UTC", 9, utc(2027, 5, 1, 8));
  run_every_quarter_hour(utc(2027, 5, 1, 8), utc(2027, 5, 3, 5));
  // 3 May 05:30: the member moves to 05:00, before today's 09:00: today's goes at once, once.
  change("UTC", 5, utc(2027, 5, 3, 5, 30));
  run_every_quarter_hour(utc(2027, 5, 3, 5, 30), utc(2027, 5, 4, 12));
  // 4 May 12:00: to Kiritimati (UTC+14) at 07:00, where it is already 02:00 on 5 May.
  change("Pacific/Kiritimati", 7, utc(2027, 5, 4, 12));
  run_every_quarter_hour(utc(2027, 5, 4, 12), utc(2027, 5, 7, 0));
  std::vector<Instant> at;
  for (const auto& s : digests_sent(m)) at.push_back(s.created_at);
  EXPECT_EQ(at, (std::vector<Instant>{utc(2027, 5, 1, 7), utc(2027, 5, 2, 9), utc(2027, 5, 3, 5, 30), utc(2027, 5, 4, 5),
                                      utc(2027, 5, 4, 17), utc(2027, 5, 5, 17), utc(2027, 5, 6, 17)}));
  // Every topic exactly once, none lost.
  std::multiset<std::string> titles;
  for (const auto& s : digests_sent(m))
    for (const auto& t : topic_titles(s.payload)) titles.insert(t);
  std::set<std::string> unique(titles.begin(), titles.end());
  EXPECT_EQ(unique.size(), titles.size());
  EXPECT_EQ(titles.size(), static_cast<std::size_t>(sql("SELECT count(*) FROM events WHERE occurred_at <= '2027-05-06T17:00Z'")[0][0].as<int>()));
}

TEST_F(Digests, PreviewAndUpcomingSendNothing) {
  const auto c = community("data-science");
  const auto m = member("Ada", "America/New_York", 7);
  join(m, c, "daily", utc(2027, 5, 1, 0));
  topic(c, "Hello", utc(2027, 5, 1, 3));
  sql("INSERT INTO meetings (uid, community_id, kind, title, time_zone, start_local, end_local, starts_at, ends_at, created_at, "
      "updated_at) VALUES ('u1@test', $1, 'meeting', 'Soon', 'America/New_York', '2027-05-05 10:00', '2027-05-05 11:00', "
      "'2027-05-05T14:00Z', '2027-05-05T15:00Z', '2027-04-01Z', '2027-04-01Z')",
      c);
  pqxx::work tx(*connection);
  const auto preview = preview_digest(tx, m, Cadence::daily, utc(2027, 5, 1, 8));
  ASSERT_TRUE(preview);
  EXPECT_EQ(preview->kind, "digest.daily");
  EXPECT_EQ(preview->due_at, utc(2027, 5, 1, 11));  // 07:00 EDT
  EXPECT_EQ(preview->content.item_count, 1);
  EXPECT_EQ(topic_titles(preview->content.payload), (std::vector<std::string>{"Hello"}));
  const auto& upcoming = preview->content.payload.at("communities").as_array()[0].as_object().at("upcoming").as_array();
  ASSERT_EQ(upcoming.size(), 1u);
  EXPECT_EQ(upcoming[0].as_object().at("title").as_string(), "Soon");
  // It renders as the delivery worker renders it.
  const auto templates = convene::notifiers::Templates::load(CONVENE_TEMPLATES_DIR);
  const auto rendered =
      templates.render(preview->kind, preview->content.payload, {"Ada", m, "America/New_York", "https://c.example", "", ""});
  EXPECT_NE(rendered.text.find("Hello"), std::string::npos) << rendered.text;
  EXPECT_NE(rendered.text.find("Wednesday 5 May 2027, 10:00"), std::string::npos) << rendered.text;
  EXPECT_FALSE(preview_digest(tx, m, Cadence::weekly, utc(2027, 5, 1, 8)));  // no weekly community
  // Without a cadence: the one due first, the only one here.
  const auto first_due = preview_digest(tx, m, std::nullopt, utc(2027, 5, 1, 8));
  ASSERT_TRUE(first_due);
  EXPECT_EQ(first_due->kind, "digest.daily");
  EXPECT_EQ(first_due->due_at, preview->due_at);

  const auto next = upcoming_digests(tx, m, utc(2027, 5, 1, 8), utc(2027, 5, 4, 8));
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0].at, utc(2027, 5, 1, 11));
  EXPECT_EQ(next[2].at, utc(2027, 5, 3, 11));
  EXPECT_EQ(next[0].kind, "digest.daily");
  tx.commit();
  EXPECT_TRUE(digests_sent().empty());
  EXPECT_EQ(sql("SELECT count(*) FROM digests")[0][0].as<int>(), 0);
}

// ---------------------------------------------------------------------------------------------
// Two engines on one database

namespace {

class Instance {
 public:
  Instance(const std::string& url, const convene::calendar::Clock& clock, std::vector<KindSpec> kinds)
      : database_(pool_options(url)) {
    EngineOptions options;
    options.owner = default_owner();
    options.concurrency = 2;
    options.lease = 10s;
    options.poll_interval = 100ms;
    engine_ = std::make_unique<Engine>(io_.get_executor(), database_, clock, options, std::move(kinds));
    asio::co_spawn(io_, engine_->run(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Instance() {
    std::promise<void> stopped;
    asio::co_spawn(io_, engine_->stop(5s), [&stopped](std::exception_ptr) { stopped.set_value(); });
    stopped.get_future().wait();
    io_.stop();
    thread_.join();
  }
  Engine& engine() { return *engine_; }

 private:
  static convene::store::PoolOptions pool_options(const std::string& url) {
    convene::store::PoolOptions o;
    o.conninfo = url;
    o.max_size = 5;
    o.connect_timeout = 5s;
    o.acquire_timeout = 10s;
    return o;
  }
  asio::io_context io_{1};
  convene::store::Database database_;
  std::unique_ptr<Engine> engine_;
  std::thread thread_;
};

}  // namespace

TEST_F(Digests, TwoInstancesSendOneDigestPerMemberAndPeriod) {
  const auto c = community("data-science");
  constexpr int kMembers = 120;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < kMembers; ++i) {
    ids.push_back(member(std::string("M").append(std::to_string(i)), i % 2 ? "UTC" : "Europe/London", i % 2 ? 7 : 8));
    join(ids.back(), c, "daily", utc(2027, 5, 1, 0));
  }
  topic(c, "Day one", utc(2027, 5, 1, 3));
  topic(c, "Day two", utc(2027, 5, 2, 3));
  settings.digest_batch = 10;
  sql("DELETE FROM jobs");  // the topics' fan-out jobs: these engines run digests only
  convene::calendar::ManualClock clock(utc(2027, 5, 1, 6, 50));
  std::vector<KindSpec> digest_only;
  for (auto& k : standard_kinds(settings))
    if (k.kind.starts_with("digests.")) digest_only.push_back(std::move(k));
  {
    Instance a(db.url(), clock, digest_only), b(db.url(), clock, digest_only);
    // The engines plan the sweep from their clock at start (06:50): the first run is at 07:00.
    for (int i = 0; i < 200 && sql("SELECT count(*) FROM jobs WHERE kind = 'digests.sweep'")[0][0].as<int>() == 0; ++i)
      std::this_thread::sleep_for(20ms);
    const auto settle = [&](Instant t) {
      clock.set(t);
      a.engine().nudge();
      b.engine().nudge();
      for (int i = 0; i < 300; ++i) {
        std::this_thread::sleep_for(50ms);
        const auto busy = sql("SELECT (SELECT count(*) FROM jobs WHERE kind LIKE 'digests.%' AND due_at <= $1 "
                              "AND state IN ('pending', 'running')) + (SELECT count(*) FROM digest_schedules WHERE next_due_at <= $1)",
                              sql_instant(t))[0][0]
                              .as<int>();
        if (busy == 0) return;
      }
      std::string jobs;
      for (const auto& r : sql("SELECT kind, unique_key, state, due_at::text, coalesce(last_error, '') || ' started ' || coalesce(started_at::text, '-') || ' finished ' || coalesce(finished_at::text, '-') || ' attempts ' || attempts FROM jobs ORDER BY id"))
        jobs += "\n  " + r[0].as<std::string>() + " " + r[1].as<std::string>() + " " + r[2].as<std::string>() + " " +
                r[3].as<std::string>() + " " + r[4].as<std::string>();
      const auto due = sql("SELECT count(*), min(next_due_at)::text FROM digest_schedules");
      FAIL() << "digests did not settle at " << sql_instant(t) << "; jobs:" << jobs << "\nschedules: " << due[0][0].c_str()
             << " from " << due[0][1].c_str();
    };
    settle(utc(2027, 5, 1, 7));   // 07:00 UTC and 08:00 BST members
    settle(utc(2027, 5, 1, 7, 15));
    settle(utc(2027, 5, 2, 7));
    EXPECT_GT(a.engine().stats().kinds["digests.batch"].succeeded + b.engine().stats().kinds["digests.batch"].succeeded, 0u);
  }
  std::map<std::int64_t, int> per_member;
  for (const auto& s : digests_sent()) ++per_member[s.member_id];
  ASSERT_EQ(per_member.size(), static_cast<std::size_t>(kMembers));
  for (const auto& [member_id, n] : per_member) EXPECT_EQ(n, 2) << "member " << member_id;
  EXPECT_EQ(sql("SELECT count(*) FROM digests")[0][0].as<int>(), 2 * kMembers);
  EXPECT_EQ(sql("SELECT count(DISTINCT (member_id, period_label)) FROM digests")[0][0].as<int>(), 2 * kMembers);
}

// A rough throughput figure for the batch path (bench/digests measures the real thing): run with
// --gtest_also_run_disabled_tests. 20,000 members, 400 communities, 1-5 memberships each,
// 4,000 topics and meetings in the period.
TEST_F(Digests, DISABLED_ThroughputSmoke) {
  settings.digest_batch = 250;
  sql("INSERT INTO communities (slug, name, time_zone, created_at, updated_at) "
      "SELECT 'c' || i, 'Community ' || i, 'UTC', '2027-01-01Z', '2027-01-01Z' FROM generate_series(1, 400) i");
  sql("INSERT INTO members (email, name, time_zone, digest_hour, created_at, updated_at) "
      "SELECT 'm' || i || '@example.org', 'Member ' || i, 'UTC', 7, '2027-01-01Z', '2027-01-01Z' FROM generate_series(1, 20000) i");
  sql("INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) "
      "SELECT DISTINCT m.id, 1 + (m.id * 7919 + k * 104729) % 400, 'daily', '2027-05-01Z'::timestamptz, '2027-05-01Z'::timestamptz "
      "FROM members m, generate_series(0, 4) k WHERE k <= m.id % 5 ON CONFLICT DO NOTHING");
  sql("INSERT INTO events (kind, community_id, payload, occurred_at) "
      "SELECT 'topic.posted', 1 + i % 400, jsonb_build_object('topic_id', i, 'title', 'Topic ' || i, 'body', repeat('text ', 40), "
      "'posted_at', '2027-05-01T12:00:00Z'), '2027-05-01T12:00Z'::timestamptz + i * interval '1 second' FROM generate_series(1, 3000) i");
  sql("INSERT INTO meetings (uid, community_id, kind, title, time_zone, start_local, end_local, starts_at, ends_at, created_at, "
      "updated_at) SELECT 'u' || i || '@t', 1 + i % 400, 'meeting', 'Meeting ' || i, 'UTC', '2027-05-03 10:00'::timestamp + i * interval '10 minutes', "
      "'2027-05-03 11:00'::timestamp + i * interval '10 minutes', '2027-05-03T10:00Z'::timestamptz + i * interval '10 minutes', "
      "'2027-05-03T11:00Z'::timestamptz + i * interval '10 minutes', '2027-04-01Z', '2027-04-01Z' FROM generate_series(1, 1000) i");
  sql("DELETE FROM jobs");
  sql("ANALYZE");
  const auto started = std::chrono::steady_clock::now();
  run_digests(utc(2027, 5, 2, 7));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto sent = sql("SELECT count(*) FROM notifications WHERE kind = 'digest.daily'")[0][0].as<int>();
  const auto bytes = sql("SELECT avg(length(payload::text))::int FROM notifications WHERE kind = 'digest.daily'")[0][0].as<int>();
  std::printf("%d digests in %.2f s: %.0f digests/s, %d payload bytes each on average\n", sent, seconds, sent / seconds, bytes);
  EXPECT_GT(sent, 15000);
}
