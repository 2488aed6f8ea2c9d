// End-to-end tests of the durable job engine (jobs/engine.hpp) with the built convened as
// processes: instances killed with SIGKILL lose no job, two instances drain one queue, the
// misfire policies after a downtime (--test-clock), an idle daemon costs no CPU, and SIGTERM
// gives leases back. Jobs are inserted with SQL (the INSERT trigger NOTIFYs every instance) and
// the results read from the jobs table.
//
// The cluster, databases and processes come from support/e2e_fixture.hpp.
#include "support/e2e_fixture.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

// Quick connects; POST /v1/admin/clock runs the fan-out before it answers, so callers may
// allow a longer read.
HttpReply call(int port, const std::string& method, const std::string& path, const std::string& token = "",
               const std::string& body = "", std::chrono::seconds read_timeout = 30s) {
  return http_request(port, method, path,
                      {.token = token, .body = body, .connect_timeout = 2s, .read_timeout = read_timeout});
}

// Voluntary context switches of all the threads of a process: how often it blocked, so about
// how often something woke it up.
long long context_switches(pid_t pid) {
  long long total = 0;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::istringstream status(read_file(task.path().string() + "/status"));
    for (std::string line; std::getline(status, line);)
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        total += std::stoll(line.substr(line.find(':') + 1));
  }
  return total;
}

// A timestamptz column as "2027-06-01T08:00:00Z" (whole seconds).
std::string utc(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
}

// SQL condition: the job's lease_owner is this instance ("host:pid:random").
std::string owned_by(const Daemon& instance) {
  return "lease_owner LIKE '%:" + std::to_string(instance.pid()) + ":%'";
}

// Instances of `convened serve` on the test's database, each with its own port, log and state
// directory; `convened` commands for the set-up.
class JobsE2E : public ConvenedTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(create_database());
    settings_ = {{"CONVENE_LOG_LEVEL", "info"},
                 {"CONVENE_SHUTDOWN_TIMEOUT", "3s"},
                 // libpqxx 6.4 leaks a PGresult on a dead connection (tests/lsan.supp).
                 {"LSAN_OPTIONS", lsan_options_with_suppressions()}};
  }

  void TearDown() override {
    ConvenedTest::TearDown();  // on failure the instances' logs; SIGKILL whatever still runs
    if (HasFailure()) {
      try {
        std::cerr << "---- jobs ----\n"
                  << query("SELECT id, kind, unique_key, state, attempts, lease_owner, " + utc("due_at") + ", " +
                           utc("started_at") + ", " + utc("lease_expires_at") + ", " + utc("finished_at") +
                           ", last_error FROM jobs ORDER BY id LIMIT 60")
                  << "\n---- end of jobs ----\n";
      } catch (const std::exception& e) {
        std::cerr << "jobs not listed: " << e.what() << "\n";
      }
    }
  }

  // A `convened serve` process with its own port and state directory.
  Daemon& start_instance(const std::string& name, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& extra_env = {}) {
    std::map<std::string, std::string> env{{"CONVENE_STATE_DIRECTORY", work_ + "/state-" + name}};
    std::filesystem::create_directories(env["CONVENE_STATE_DIRECTORY"]);
    for (const auto& [k, v] : extra_env) env[k] = v;
    return start_daemon(name, args, env);
  }

  // Inserts `n` noop jobs due now, keys PREFIX-1..PREFIX-n, in one statement (one NOTIFY).
  void insert_noops(const std::string& prefix, int n, int sleep_ms) const {
    query("INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) "
          "SELECT 'noop', '" + prefix + "-' || i, '{\"sleep_ms\": " + std::to_string(sleep_ms) +
          "}', now(), now(), now() FROM generate_series(1, " + std::to_string(n) + ") i");
  }
};

// Instance A holds four running jobs when it is killed with SIGKILL: nobody gives their leases
// back, so instance B takes them over once the leases run out, and runs each once more.
TEST_F(JobsE2E, KillNineInstanceLosesNothing) {
  const std::map<std::string, std::string> settings{{"CONVENE_JOB_LEASE", "2s"}, {"CONVENE_JOB_CONCURRENCY", "4"}};
  auto& a = start_instance("a", {"serve", "--migrate"}, settings);
  ASSERT_TRUE(wait_ready(a)) << "instance A not ready";

  insert_noops("kill9", 4, 3000);
  const std::string all_on_a =
      "SELECT count(*) FROM jobs WHERE kind = 'noop' AND state = 'running' AND attempts = 1 AND " + owned_by(a);
  ASSERT_TRUE(wait_for([&] { return sql_count(all_on_a) == 4; }, 10s)) << "A did not claim the 4 jobs. " << crashed();

  a.stop(SIGKILL);
  ASSERT_EQ(a.wait_for_exit(5s), -1) << "A survived SIGKILL";
  // Nobody renews the leases any more: B may take a job only after its lease ran out.
  EXPECT_EQ(sql_count(all_on_a), 4) << "the jobs must still be A's, running";
  query("CREATE TABLE leases_of_a AS SELECT id, lease_expires_at FROM jobs WHERE kind = 'noop'");
  const std::string lease_ends = query("SELECT string_agg(id || '=' || " + utc("lease_expires_at") +
                                     ", ',' ORDER BY id) FROM leases_of_a");

  auto& b = start_instance("b", {"serve"}, settings);
  ASSERT_TRUE(wait_ready(b)) << "instance B not ready";
  const bool drained = wait_for(
      [&] { return sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND state = 'done'") == 4; }, 20s, 100ms);
  ASSERT_TRUE(drained) << "B did not complete A's jobs; leases were " << lease_ends << ". " << crashed();

  EXPECT_EQ(sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop'"), 4);
  // One attempt on A (cut short), one on B.
  EXPECT_EQ(query("SELECT string_agg(attempts::text, ',' ORDER BY id) FROM jobs WHERE kind = 'noop'"), "2,2,2,2");
  EXPECT_EQ(sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND " + owned_by(b)), 4)
      << query("SELECT string_agg(lease_owner, ',') FROM jobs WHERE kind = 'noop'") << " vs B pid " << b.pid();
  EXPECT_EQ(sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND finished_at IS NOT NULL AND last_error IS NULL"), 4);
  // B started each job when (not before) A's lease had run out: taking over a lease still valid
  // would run a job twice at once whenever its holder is merely slow rather than dead.
  const auto early = query("SELECT count(*) FROM jobs j JOIN leases_of_a a USING (id) WHERE j.started_at < a.lease_expires_at");
  EXPECT_EQ(early, "0") << "B took a job over before A's lease ran out; leases were " << lease_ends;

  const auto metrics = call(b.port(), "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200) << describe(metrics);
  const auto expiries = sample_value(metrics.body, R"(convene_jobs_lease_expiries_total{kind="noop"})");
  ASSERT_TRUE(expiries.has_value()) << metrics.body;
  EXPECT_GE(*expiries, 4.0) << metrics.body;
  EXPECT_EQ(sample_value(metrics.body, R"(convene_jobs_succeeded_total{kind="noop"})"), 4.0) << metrics.body;
  EXPECT_TRUE(contains(b.log(), "job taken over after its lease ran out")) << b.log();
}

// Two instances on one database drain 2,000 jobs inserted at once: each job runs exactly once,
// and both instances take part (one INSERT wakes both through NOTIFY at the same moment).
TEST_F(JobsE2E, TwoDaemonsDrainJobs) {
  const auto migrated = run_convened({"migrate"});
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  const std::map<std::string, std::string> settings{{"CONVENE_JOB_CONCURRENCY", "4"}, {"CONVENE_JOB_LEASE", "30s"}};
  auto& a = start_instance("a", {"serve"}, settings);
  auto& b = start_instance("b", {"serve"}, settings);
  ASSERT_TRUE(wait_ready(a)) << "instance A not ready";
  ASSERT_TRUE(wait_ready(b)) << "instance B not ready";

  constexpr int kJobs = 2000;
  const auto started = std::chrono::steady_clock::now();
  insert_noops("drain", kJobs, 0);
  const bool drained = wait_for(
      [&] { return sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND state = 'done'") == kJobs; }, 45s, 100ms);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  ASSERT_TRUE(drained) << crashed() << " " << query("SELECT string_agg(state || ':' || n, ', ') FROM (SELECT state, count(*) n FROM jobs "
                              "WHERE kind = 'noop' GROUP BY state) s");
  std::cout << "[          ] drained " << kJobs << " jobs on two instances in " << took.count() << " ms\n";

  EXPECT_EQ(sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop'"), kJobs);
  EXPECT_EQ(sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND attempts <> 1"), 0)
      << "a job ran more than once";
  EXPECT_EQ(sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND last_error IS NOT NULL"), 0);
  const auto on_a = sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND " + owned_by(a));
  const auto on_b = sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND " + owned_by(b));
  std::cout << "[          ] A ran " << on_a << ", B ran " << on_b << "\n";
  EXPECT_EQ(on_a + on_b, kJobs) << "jobs finished by an unknown owner";
  EXPECT_GT(on_a, 0) << "instance A did no job";
  EXPECT_GT(on_b, 0) << "instance B did no job";

  // Each instance's own count agrees with the table: nothing ran twice behind the table's back.
  const auto metrics_a = call(a.port(), "GET", "/metrics");
  const auto metrics_b = call(b.port(), "GET", "/metrics");
  ASSERT_EQ(metrics_a.status, 200) << describe(metrics_a);
  ASSERT_EQ(metrics_b.status, 200) << describe(metrics_b);
  const std::string succeeded = R"(convene_jobs_succeeded_total{kind="noop"})";
  const std::string claimed = R"(convene_jobs_claimed_total{kind="noop"})";
  EXPECT_EQ(sample_value(metrics_a.body, succeeded).value_or(0), static_cast<double>(on_a)) << metrics_a.body;
  EXPECT_EQ(sample_value(metrics_b.body, succeeded).value_or(0), static_cast<double>(on_b)) << metrics_b.body;
  EXPECT_EQ(sample_value(metrics_a.body, claimed).value_or(0) + sample_value(metrics_b.body, claimed).value_or(0),
            static_cast<double>(kJobs));
  EXPECT_TRUE(contains(metrics_a.body, "convene_job_lag_seconds_count")) << metrics_a.body;

  for (auto* instance : {&a, &b}) {
    instance->stop(SIGTERM);
    EXPECT_EQ(instance->wait_for_exit(10s), 0) << instance->name() << " did not stop cleanly";
  }
}

// The three misfire policies after three years of downtime, with simulated time:
//   coalesce        annual.tbd_reminder (June 1, 09:00 Europe/London) runs once, then is due on
//                   the next June 1 after the restart, not on a missed one;
//   skip_when_stale a meeting.reminder whose meeting started during the downtime is skipped;
//   run_late        a noop due during the downtime runs after the restart.
TEST_F(JobsE2E, MisfireAfterDowntimeWithTestClock) {
  const std::map<std::string, std::string> settings{{"CONVENE_ORGANISATION_TIME_ZONE", "Europe/London"},
                                                    {"CONVENE_JOB_CONCURRENCY", "4"}};
  const auto migrated = run_convened({"migrate"}, settings);
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  const std::string token = admin_token();
  ASSERT_FALSE(token.empty());

  auto& first = start_instance("before", {"serve", "--test-clock=2027-05-01T08:00:00Z"}, settings);
  ASSERT_TRUE(wait_ready(first)) << "convened not ready";
  auto r = call(first.port(), "POST", "/v1/communities", token, R"({"slug":"tbd","name":"Still TBD"})");
  ASSERT_EQ(r.status, 201) << describe(r);
  // The 2030 annual meeting exists (a TBD placeholder) before the downtime, so the reminder of
  // 2030 has something to remind of whichever yearly job runs first after the restart.
  r = call(first.port(), "GET", "/v1/annual-meetings/2030", token);
  ASSERT_EQ(r.status, 200) << describe(r);
  ASSERT_EQ(sql_count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND annual_year = 2030 AND status = 'tentative'"), 1);
  r = call(first.port(), "POST", "/v1/communities/tbd/meetings", token,
           R"({"title":"Planning","start":"2027-05-20T10:00","end":"2027-05-20T11:00","time_zone":"Europe/London"})");
  ASSERT_EQ(r.status, 201) << describe(r);
  const auto meeting_id = boost::json::parse(r.body).at("id").as_int64();
  // Fan-out of what the API did, at the same simulated instant.
  r = call(first.port(), "POST", "/v1/admin/clock", token, R"({"now":"2027-05-01T08:00:00Z"})", 70s);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_TRUE(contains(r.body, R"("still_due":0)")) << describe(r);

  const std::string tbd_row = "FROM jobs WHERE kind = 'annual.tbd_reminder' AND unique_key = 'schedule'";
  ASSERT_EQ(query("SELECT state || ' ' || " + utc("due_at") + " " + tbd_row), "pending 2027-06-01T08:00:00Z");
  // The reminder an hour before the meeting (10:00 BST = 09:00Z), as reminders.plan writes it.
  const std::string reminder_key = "meeting:" + std::to_string(meeting_id) + ":1810803600:3600";
  query("INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) VALUES ('meeting.reminder', '" +
      reminder_key + "', '{\"meeting_id\": " + std::to_string(meeting_id) +
      ", \"occurrence_start\": \"2027-05-20T09:00:00Z\", \"recurrence_id\": \"2027-05-20T09:00:00Z\", "
      "\"offset_seconds\": 3600}', '2027-05-20T08:00:00Z', now(), now())");
  query("INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) "
      "VALUES ('noop', 'late', '{\"sleep_ms\": 0}', '2028-03-01T12:00:00Z', now(), now())");
  // Nothing of it is due yet.
  EXPECT_EQ(query("SELECT string_agg(state, ',' ORDER BY kind) FROM jobs WHERE kind IN ('meeting.reminder', 'noop')"),
            "pending,pending");
  EXPECT_EQ(sql_count("SELECT count(*) FROM events WHERE kind = 'annual_meeting.tbd'"), 0);

  first.stop(SIGTERM);
  ASSERT_EQ(first.wait_for_exit(10s), 0) << "convened did not stop cleanly";

  // Three years later.
  constexpr const char* kRestart = "2030-05-01T08:00:00Z";
  auto& second = start_instance("after", {"serve", std::string("--test-clock=") + kRestart}, settings);
  ASSERT_TRUE(wait_ready(second)) << "convened not ready after the downtime";
  r = call(second.port(), "POST", "/v1/admin/clock", token, std::string(R"({"now":")") + kRestart + R"("})", 70s);
  ASSERT_EQ(r.status, 200) << describe(r);
  EXPECT_TRUE(contains(r.body, R"("still_due":0)")) << describe(r);

  // coalesce: one run for the missed 2027, 2028 and 2029 runs, then the next June 1.
  EXPECT_EQ(query("SELECT state || ' ' || " + utc("due_at") + " || ' ' || attempts || ' ' || " + utc("finished_at") + " " +
                tbd_row),
            "pending 2030-06-01T08:00:00Z 0 2030-05-01T08:00:00Z");
  EXPECT_EQ(query("SELECT count(*) || ' ' || coalesce(string_agg(payload->>'year', ','), '') FROM events "
                "WHERE kind = 'annual_meeting.tbd'"),
            "1 2030")
      << "the TBD reminder must run once for the missed years";
  EXPECT_EQ(sql_count("SELECT count(*) FROM events WHERE kind = 'annual_meeting.tbd' "
                      "AND payload->'communities' @> '[{\"slug\": \"tbd\"}]'"),
            1);

  // skip_when_stale: skipped by the engine's staleness rule, without running.
  EXPECT_EQ(query("SELECT state || ' ' || " + utc("started_at") + " FROM jobs WHERE kind = 'meeting.reminder' AND unique_key = '" +
                reminder_key + "'"),
            std::string("skipped ") + kRestart);
  EXPECT_EQ(query("SELECT last_error FROM jobs WHERE kind = 'meeting.reminder' AND unique_key = '" + reminder_key + "'"),
            "stale: due at 2027-05-20T08:00:00Z");
  EXPECT_EQ(sql_count("SELECT count(*) FROM events WHERE kind = 'meeting.reminder'"), 0);

  // run_late: runs at the restart, long after its due time.
  EXPECT_EQ(query("SELECT state || ' ' || attempts || ' ' || " + utc("started_at") +
                " || ' ' || (started_at > due_at) FROM jobs WHERE kind = 'noop' AND unique_key = 'late'"),
            std::string("done 1 ") + kRestart + " true");

  second.stop(SIGTERM);
  EXPECT_EQ(second.wait_for_exit(10s), 0) << "convened did not stop cleanly";
}

// Nothing due, nothing running: the engine waits on a timer (the 30 s fallback poll), it does
// not poll the database in a loop.
TEST_F(JobsE2E, IdleDaemonUsesNoCpu) {
  auto& daemon = start_instance("idle", {"serve", "--migrate"});
  ASSERT_TRUE(wait_ready(daemon)) << "convened not ready";
  // Idle: the start-up work (schedules written, first look at the queue) is over.
  ASSERT_TRUE(wait_for([&] { return contains(daemon.log(), "job engine started"); }, 10s)) << crashed();
  ASSERT_EQ(sql_count("SELECT count(*) FROM jobs WHERE state = 'running' OR (state = 'pending' AND due_at <= now())"), 0)
      << query("SELECT string_agg(kind || ' ' || state, ', ') FROM jobs");
  std::this_thread::sleep_for(1500ms);

  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  const auto before = cpu_ticks(daemon.pid());
  const auto switches_before = context_switches(daemon.pid());
  ASSERT_TRUE(before.has_value());
  std::this_thread::sleep_for(5s);  // no requests meanwhile: they would cost CPU themselves
  const auto after = cpu_ticks(daemon.pid());
  const auto switches = context_switches(daemon.pid()) - switches_before;
  ASSERT_TRUE(after.has_value());
  ASSERT_FALSE(daemon.wait_for_exit(0ms).has_value()) << "convened exited";
  const long long used = *after - *before;
  std::cout << "[          ] idle for 5 s: " << used << " clock ticks (" << ticks_per_second << " per second), " << switches << " context switches\n";
  EXPECT_LE(used, 10 * ticks_per_second / 100) << "an idle daemon used " << used << " ticks of CPU in 5 s";
  // A timer loop can stay under the CPU bound and still wake the machine 50 times a second; an
  // idle convened wakes about twice a second (a 20 ms loop measured 250 switches in 5 s).
  EXPECT_LE(switches, 100) << "an idle daemon woke up " << switches << " times in 5 s";
}

// SIGTERM while a job runs past the shutdown deadline: convened exits 0 in time and gives the
// job back, pending with its attempt uncounted, so another instance starts it at once rather
// than after the lease (60 s here).
TEST_F(JobsE2E, SigtermReleasesLeases) {
  const std::map<std::string, std::string> settings{
      {"CONVENE_SHUTDOWN_TIMEOUT", "2s"}, {"CONVENE_JOB_LEASE", "60s"}, {"CONVENE_JOB_CONCURRENCY", "2"}};
  auto& a = start_instance("a", {"serve", "--migrate"}, settings);
  ASSERT_TRUE(wait_ready(a)) << "instance A not ready";
  insert_noops("long", 1, 60000);
  ASSERT_TRUE(wait_for(
      [&] {
        return sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND state = 'running' AND attempts = 1 AND " +
                         owned_by(a)) == 1;
      },
      10s))
      << "A did not start the job. " << crashed();

  const auto signalled = std::chrono::steady_clock::now();
  a.stop(SIGTERM);
  const auto status = a.wait_for_exit(8s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - signalled);
  ASSERT_TRUE(status.has_value()) << "convened still running 8 s after SIGTERM";
  EXPECT_EQ(*status, 0);
  std::cout << "[          ] exited " << took.count() << " ms after SIGTERM\n";
  EXPECT_LE(took, 5000ms) << "shutdown took " << took.count() << " ms with shutdown_timeout = 2s";
  EXPECT_TRUE(contains(a.log(), "job leases given back")) << a.log();

  EXPECT_EQ(query("SELECT state || ' ' || attempts || ' ' || (lease_owner IS NULL) || ' ' || (lease_expires_at IS NULL) "
                "FROM jobs WHERE kind = 'noop'"),
            "pending 0 true true")
      << "the job must be pending again, unowned, its interrupted attempt not counted";

  // Another instance takes it at once (its lease of 60 s would otherwise hold it).
  auto& b = start_instance("b", {"serve"}, settings);
  const auto b_started = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_for(
      [&] {
        return sql_count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND state = 'running' AND attempts = 1 AND " +
                         owned_by(b)) == 1;
      },
      20s))
      << "B did not start the released job. " << crashed();
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - b_started);
  std::cout << "[          ] B started the job " << waited.count() << " ms after it was launched\n";
}

}  // namespace
}  // namespace convene::testing
