// The job engine against a real PostgreSQL: several engine instances (each with its own
// connections, owner and event loop, as separate processes would have) share one jobs table.
#include "jobs/engine.hpp"
#include "jobs/queue.hpp"
#include "store/listener.hpp"
#include "store/sql_time.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using convene::calendar::Instant;
using convene::calendar::ManualClock;
using convene::calendar::SystemClock;
using namespace convene::jobs;

namespace {

Instant utc(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  using namespace std::chrono;
  return Instant{sys_days{year{y} / mo / d}.time_since_epoch() + hours(h) + minutes(mi)};
}

// One engine on its own loop thread and connection pool.
class Instance {
 public:
  Instance(const std::string& url, const convene::calendar::Clock& clock, EngineOptions options,
           std::vector<KindSpec> kinds)
      : database_(pool_options(url, options.concurrency)) {
    if (options.owner.empty()) options.owner = default_owner();
    engine_ = std::make_unique<Engine>(io_.get_executor(), database_, clock, options, std::move(kinds));
    asio::co_spawn(io_, engine_->run(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Instance() { stop(5s); }

  Engine& engine() { return *engine_; }

  void stop(std::chrono::milliseconds deadline) {
    if (!thread_.joinable()) return;
    std::promise<void> stopped;
    asio::co_spawn(io_, engine_->stop(deadline), [&stopped](std::exception_ptr) { stopped.set_value(); });
    stopped.get_future().wait();
    io_.stop();
    thread_.join();
  }

 private:
  static convene::store::PoolOptions pool_options(const std::string& url, int concurrency) {
    convene::store::PoolOptions o;
    o.conninfo = url;
    o.max_size = static_cast<std::size_t>(concurrency) + 3;
    o.connect_timeout = 5s;
    o.acquire_timeout = 10s;
    return o;
  }

  asio::io_context io_{1};
  convene::store::Database database_;
  std::unique_ptr<Engine> engine_;
  std::thread thread_;
};

EngineOptions fast_options(int concurrency = 4) {
  EngineOptions o;
  o.concurrency = concurrency;
  o.lease = 10s;
  o.poll_interval = 200ms;
  o.retry_backoff = convene::store::Backoff{10ms, 40ms};
  return o;
}

// A kind whose runs are counted in job_runs, in the job's own transaction.
KindSpec counting(std::string kind = "count") {
  KindSpec k;
  k.kind = std::move(kind);
  k.run = [](JobRun& run) {
    run.tx.exec_params("INSERT INTO job_runs (job_id) VALUES ($1)", run.job.id);
    return Outcome::done();
  };
  return k;
}

class Engine_ : public convene::testing::MigratedDatabaseTest {
 protected:
  void SetUp() override {
    MigratedDatabaseTest::SetUp();
    sql("CREATE TABLE job_runs (job_id bigint NOT NULL, ran_at timestamptz NOT NULL DEFAULT clock_timestamp())");
  }


  void insert_job(const std::string& kind, const std::string& key, Instant due, const std::string& payload = "{}") {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at) VALUES ($1, $2, $3::jsonb, $4, $4, $4)",
        kind, key, payload, convene::store::sql_instant(due));
    tx.commit();
  }

  bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 30s) {
    return convene::testing::wait_until(condition, timeout);
  }
};

}  // namespace

KindSpec counting_in_batches(int batch = 16) {
  KindSpec k = counting("count.batched");
  k.batch = batch;
  return k;
}

TEST_F(Engine_, TwoInstancesDrainTenThousandJobsEachRunningExactlyOnce) {
  // Half run one per transaction, half in batches.
  sql("INSERT INTO jobs (kind, unique_key, due_at, created_at, updated_at) "
      "SELECT CASE WHEN n % 2 = 0 THEN 'count' ELSE 'count.batched' END, 'job:' || n, now(), now(), now() "
      "FROM generate_series(1, 10000) n");
  SystemClock clock;
  {
    Instance a(db.url(), clock, fast_options(), {counting(), counting_in_batches()});
    Instance b(db.url(), clock, fast_options(), {counting(), counting_in_batches()});
    ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'done'") == 10000; }, 180s))
        << scalar("SELECT count(*) FROM jobs WHERE state = 'done'") << " done";
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 10000);
  EXPECT_EQ(scalar("SELECT count(DISTINCT job_id) FROM job_runs"), 10000);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE attempts <> 1"), 0);
  // Both instances took part: the work is shared, not serialised on one.
  EXPECT_EQ(scalar("SELECT count(DISTINCT lease_owner) FROM jobs"), 2);
}

TEST_F(Engine_, FailuresRetryWithBackoffThenTheJobIsDeadAndAnAdminCanRetryIt) {
  KindSpec flaky;
  flaky.kind = "flaky";
  flaky.max_attempts = 3;
  flaky.run = [](JobRun& run) -> Outcome {
    run.tx.exec_params("INSERT INTO job_runs (job_id) VALUES ($1)", run.job.id);  // rolled back
    throw std::runtime_error("relay refused: 554 no");
  };
  SystemClock clock;
  insert_job("flaky", "f1", clock.now());
  Instance a(db.url(), clock, fast_options(), {flaky});
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'dead'") == 1; }));
  EXPECT_EQ(scalar("SELECT attempts FROM jobs WHERE kind = 'flaky'"), 3);
  EXPECT_EQ(sql("SELECT last_error FROM jobs")[0][0].as<std::string>(), "relay refused: 554 no");
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 0) << "a failed run's effects roll back";
  const auto stats = a.engine().stats();
  EXPECT_EQ(stats.kinds.at("flaky").failed, 3u);
  EXPECT_EQ(stats.kinds.at("flaky").dead, 1u);

  // Retried by an admin: three fresh attempts.
  {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    ASSERT_TRUE(retry(tx, sql("SELECT id FROM jobs")[0][0].as<std::int64_t>(), clock.now()));
    tx.commit();
  }
  a.engine().nudge();
  ASSERT_TRUE(eventually([&] { return a.engine().stats().kinds.at("flaky").dead == 2; }));
  EXPECT_EQ(scalar("SELECT attempts FROM jobs"), 3);
}

TEST_F(Engine_, AFailureInABatchRollsItBackAndEachJobRunsAlone) {
  KindSpec batched = counting_in_batches(8);
  batched.max_attempts = 2;
  const auto count_run = batched.run;
  batched.run = [count_run](JobRun& run) {
    auto outcome = count_run(run);
    if (run.job.unique_key == "bad") throw std::runtime_error("this one fails");
    return outcome;
  };
  SystemClock clock;
  sql("INSERT INTO jobs (kind, unique_key, due_at, created_at, updated_at) "
      "SELECT 'count.batched', CASE WHEN n = 4 THEN 'bad' ELSE 'ok:' || n END, now(), now(), now() FROM generate_series(1, 8) n");
  Instance a(db.url(), clock, fast_options(1), {batched});
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE state IN ('done', 'dead')") == 8; }));
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE state = 'done'"), 7);
  EXPECT_EQ(sql("SELECT state FROM jobs WHERE unique_key = 'bad'")[0][0].as<std::string>(), "dead");
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 7) << "the rolled-back batch left nothing behind";
  EXPECT_EQ(scalar("SELECT count(DISTINCT job_id) FROM job_runs"), 7);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE state = 'done' AND attempts <> 1"), 0);
}

TEST_F(Engine_, ATransientFailureIsRetriedUntilItSucceeds) {
  KindSpec recovering;
  recovering.kind = "recovering";
  recovering.run = [](JobRun& run) -> Outcome {
    if (run.job.attempts < 3) throw std::runtime_error("451 try later");
    run.tx.exec_params("INSERT INTO job_runs (job_id) VALUES ($1)", run.job.id);
    return Outcome::done();
  };
  SystemClock clock;
  insert_job("recovering", "r1", clock.now());
  Instance a(db.url(), clock, fast_options(), {recovering});
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'done'") == 1; }));
  EXPECT_EQ(scalar("SELECT attempts FROM jobs"), 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 1);
}

TEST_F(Engine_, AJobWhoseLeaseRanOutIsTakenOver) {
  SystemClock clock;
  insert_job("count", "orphan", clock.now() - 1min);
  // An instance claimed it and died: its lease ran out a second ago.
  sql("UPDATE jobs SET state = 'running', attempts = 1, lease_owner = 'crashed:1:dead', "
      "lease_expires_at = now() - interval '1 second'");
  Instance a(db.url(), clock, fast_options(), {counting()});
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'done'") == 1; }));
  EXPECT_EQ(scalar("SELECT attempts FROM jobs"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 1);
  EXPECT_EQ(a.engine().stats().kinds.at("count").lease_expiries, 1u);
}

TEST_F(Engine_, ARunningLeaseThatHasNotRunOutIsLeftAlone) {
  SystemClock clock;
  insert_job("count", "busy", clock.now() - 1min);
  sql("UPDATE jobs SET state = 'running', attempts = 1, lease_owner = 'alive:1:x', "
      "lease_expires_at = now() + interval '1 hour'");
  Instance a(db.url(), clock, fast_options(), {counting()});
  std::this_thread::sleep_for(600ms);  // three fallback polls
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 0);
  EXPECT_EQ(sql("SELECT lease_owner FROM jobs")[0][0].as<std::string>(), "alive:1:x");
}

TEST_F(Engine_, ARunWhoseLeaseWasTakenOverRollsBack) {
  const std::string url = db.url();
  KindSpec slow;
  slow.kind = "slow";
  slow.run = [url](JobRun& run) {
    run.tx.exec_params("INSERT INTO job_runs (job_id) VALUES ($1)", run.job.id);
    // Meanwhile another instance took the job over (as after a long freeze).
    pqxx::connection other(url);
    pqxx::work tx(other);
    tx.exec_params("UPDATE jobs SET lease_owner = 'other:2:y' WHERE id = $1", run.job.id);
    tx.commit();
    return Outcome::done();
  };
  SystemClock clock;
  insert_job("slow", "s1", clock.now());
  Instance a(db.url(), clock, fast_options(), {slow});
  ASSERT_TRUE(eventually([&] { return a.engine().stats().kinds["slow"].lease_lost == 1; }));
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 0) << "the run's effects must roll back";
  EXPECT_EQ(sql("SELECT state FROM jobs")[0][0].as<std::string>(), "running");
}

TEST_F(Engine_, RecurringJobsFollowTheirMisfirePolicyAfterDowntime) {
  ManualClock clock(utc(2027, 1, 10, 12));
  auto recurring = [](std::string kind, Misfire misfire) {
    KindSpec k = counting(std::move(kind));
    k.misfire = misfire;
    k.schedule = daily_at(std::chrono::hours(8), "Europe/London");
    return k;
  };
  {
    Instance a(db.url(), clock, fast_options(),
               {recurring("daily.coalesce", Misfire::coalesce), recurring("daily.late", Misfire::run_late)});
    ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE unique_key = 'schedule'") == 2; }));
    EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE due_at = '2027-01-11T08:00Z'"), 2);
  }
  // Down from Jan 10 to Jan 14 09:00: four 08:00 runs were missed.
  clock.set(utc(2027, 1, 14, 9));
  {
    Instance a(db.url(), clock, fast_options(),
               {recurring("daily.coalesce", Misfire::coalesce), recurring("daily.late", Misfire::run_late)});
    ASSERT_TRUE(eventually([&] {
      return scalar("SELECT count(*) FROM jobs WHERE state = 'pending' AND due_at = '2027-01-15T08:00Z'") == 2;
    }));
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs r JOIN jobs j ON j.id = r.job_id WHERE j.kind = 'daily.coalesce'"), 1)
      << "coalesce: one run for the missed periods";
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs r JOIN jobs j ON j.id = r.job_id WHERE j.kind = 'daily.late'"), 4)
      << "run late: one run per missed period";
}

TEST_F(Engine_, AStaleJobIsSkippedNotRun) {
  KindSpec reminder = counting("reminder");
  reminder.misfire = Misfire::skip_when_stale;
  reminder.stale_after = std::chrono::hours(1);
  ManualClock clock(utc(2027, 3, 1, 12));
  insert_job("reminder", "stale", utc(2027, 3, 1, 9));
  insert_job("reminder", "fresh", utc(2027, 3, 1, 11, 30));
  Instance a(db.url(), clock, fast_options(), {reminder});
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE state IN ('done', 'skipped')") == 2; }));
  EXPECT_EQ(sql("SELECT state FROM jobs WHERE unique_key = 'stale'")[0][0].as<std::string>(), "skipped");
  EXPECT_EQ(sql("SELECT state FROM jobs WHERE unique_key = 'fresh'")[0][0].as<std::string>(), "done");
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 1);
}

TEST_F(Engine_, AFutureJobRunsWhenTheClockReachesIt) {
  ManualClock clock(utc(2027, 3, 1, 12));
  insert_job("count", "later", utc(2027, 3, 1, 13));
  Instance a(db.url(), clock, fast_options(), {counting()});
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 0) << "not due yet";
  clock.set(utc(2027, 3, 1, 13));
  a.engine().nudge();
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM job_runs") == 1; }));
}

TEST_F(Engine_, ANotifyFromAnotherSessionWakesTheEngineDespiteAnHourLongPoll) {
  SystemClock clock;
  auto options = fast_options();
  options.poll_interval = std::chrono::hours(1);
  Instance a(db.url(), clock, options, {counting()});
  // The daemon's wiring: LISTEN convene_jobs -> nudge.
  asio::io_context io;
  asio::thread_pool blocking(1);
  convene::store::ListenerOptions listen;
  listen.conninfo = db.url();
  listen.channels = {"convene_jobs"};
  convene::store::Listener listener(listen, blocking.get_executor(), [&](const std::string&, const std::string&) { a.engine().nudge(); },
                                    [] {});
  asio::cancellation_signal cancel;
  asio::co_spawn(io, listener.run(), asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  std::thread loop([&] { io.run(); });
  ASSERT_TRUE(eventually([&] { return listener.connected(); }, 10s));
  std::this_thread::sleep_for(300ms);  // the engine's first look is over; it now sleeps for an hour
  insert_job("count", "now", clock.now());
  EXPECT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM job_runs") == 1; }, 10s));
  asio::post(io, [&] { cancel.emit(asio::cancellation_type::terminal); });
  loop.join();
  blocking.join();
}

TEST_F(Engine_, StopLetsRunningJobsFinishAndGivesBackTheRest) {
  KindSpec slow = counting("slow");
  slow.run = [](JobRun& run) {
    std::this_thread::sleep_for(400ms);
    run.tx.exec_params("INSERT INTO job_runs (job_id) VALUES ($1)", run.job.id);
    return Outcome::done();
  };
  SystemClock clock;
  insert_job("slow", "first", clock.now() - 2s);
  insert_job("slow", "second", clock.now() - 1s);
  Instance a(db.url(), clock, fast_options(1), {slow});
  ASSERT_TRUE(eventually([&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'running'") == 2; }));
  a.stop(5s);
  EXPECT_EQ(sql("SELECT state FROM jobs WHERE unique_key = 'first'")[0][0].as<std::string>(), "done");
  const auto second = sql("SELECT state, lease_owner IS NULL, attempts FROM jobs WHERE unique_key = 'second'");
  EXPECT_EQ(second[0][0].as<std::string>(), "pending");
  EXPECT_TRUE(second[0][1].as<bool>());
  EXPECT_EQ(second[0][2].as<int>(), 0) << "a job given back unstarted did not use an attempt";
}

// A stop that arrives while the engine's loop waits on the database ends as soon as that wait
// ends, not after the next poll (an hour here) or at the shutdown deadline. The wait here is a
// lease renewal stuck behind the running job's own row lock; the job finishes meanwhile.
TEST_F(Engine_, AStopArrivingWhileTheLoopWaitsOnTheDatabaseEndsWhenThatWaitEnds) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  KindSpec holding = counting("holding");
  holding.run = [released](JobRun& run) {
    run.tx.exec_params("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", run.job.id);
    released.wait();
    run.tx.exec_params("INSERT INTO job_runs (job_id) VALUES ($1)", run.job.id);
    return Outcome::done();
  };
  SystemClock clock;
  insert_job("holding", "one", clock.now() - 1s);
  auto options = fast_options(1);
  options.poll_interval = 1h;
  options.lease = 30s;  // renewals 10 s apart: the first, at once, is the one that waits
  Instance a(db.url(), clock, options, {holding});
  ASSERT_TRUE(eventually([&] {
    return scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 1;
  })) << "the lease renewal never waited on the job's row";
  const auto started = std::chrono::steady_clock::now();
  std::thread stopper([&] { a.stop(20s); });
  std::this_thread::sleep_for(300ms);  // stop() has begun: the loop thread is idle, so it runs at once
  release.set_value();
  stopper.join();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 10s) << "stop() waited for its deadline instead of ending with the loop";
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs"), 1);
  EXPECT_EQ(sql("SELECT state FROM jobs WHERE unique_key = 'one'")[0][0].as<std::string>(), "done");
}

TEST_F(Engine_, PlanningTwiceMakesOneJobAndReplanningMovesOnlyPendingOnes) {
  pqxx::connection c(db.url());
  const auto now = utc(2027, 3, 1, 12);
  {
    pqxx::work tx(c);
    EXPECT_TRUE(enqueue(tx, NewJob{"r", "m:1", {{"a", 1}}, utc(2027, 3, 2, 9)}, now));
    EXPECT_FALSE(enqueue(tx, NewJob{"r", "m:1", {{"a", 2}}, utc(2027, 3, 2, 10)}, now));
    EXPECT_FALSE(enqueue(tx, NewJob{"r", "m:1", {{"a", 1}}, utc(2027, 3, 2, 9)}, now, OnConflict::replan))
        << "re-planning the same thing changes nothing";
    EXPECT_TRUE(enqueue(tx, NewJob{"r", "m:1", {{"a", 3}}, utc(2027, 3, 2, 11)}, now, OnConflict::replan));
    EXPECT_TRUE(enqueue(tx, NewJob{"r", "m:2", {}, utc(2027, 3, 2, 9)}, now));
    tx.commit();
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs"), 2);
  EXPECT_EQ(sql("SELECT due_at = '2027-03-02T11:00Z', payload->>'a' FROM jobs WHERE unique_key = 'm:1'")[0][1].as<std::string>(), "3");
  sql("UPDATE jobs SET state = 'done' WHERE unique_key = 'm:1'");
  {
    pqxx::work tx(c);
    EXPECT_FALSE(enqueue(tx, NewJob{"r", "m:1", {}, utc(2027, 3, 5, 9)}, now, OnConflict::replan))
        << "a job that already ran is not planned again";
    EXPECT_EQ(drop_pending(tx, "r", "m:", {"m:9"}), 1u);
    tx.commit();
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs"), 1);
}

TEST_F(Engine_, RerunMakesAFinishedJobPendingAgainButLeavesARunningOneAlone) {
  pqxx::connection c(db.url());
  const auto now = utc(2027, 3, 1, 12);
  {
    pqxx::work tx(c);
    enqueue(tx, NewJob{"plan", "m:1", {}, now}, now);
    enqueue(tx, NewJob{"plan", "m:2", {}, now}, now);
    tx.commit();
  }
  sql("UPDATE jobs SET state = 'done', attempts = 1, finished_at = now() WHERE unique_key = 'm:1'");
  sql("UPDATE jobs SET state = 'running', attempts = 1, lease_owner = 'x' WHERE unique_key = 'm:2'");
  {
    pqxx::work tx(c);
    EXPECT_TRUE(enqueue(tx, NewJob{"plan", "m:1", {}, utc(2027, 3, 1, 13)}, now, OnConflict::rerun));
    EXPECT_FALSE(enqueue(tx, NewJob{"plan", "m:2", {}, utc(2027, 3, 1, 13)}, now, OnConflict::rerun));
    tx.commit();
  }
  EXPECT_EQ(sql("SELECT state || ' ' || attempts FROM jobs WHERE unique_key = 'm:1'")[0][0].as<std::string>(), "pending 0");
  EXPECT_EQ(sql("SELECT state FROM jobs WHERE unique_key = 'm:2'")[0][0].as<std::string>(), "running");
}
