// The crash suite: `convened serve` instances deliver thousands of notifications (emails to a
// real SMTP server, webhooks to a real HTTP receiver, both in this process) while one instance
// is SIGKILLed and restarted 20 times, while PostgreSQL is restarted twice, and while it is
// unreachable for 60 s. Every notification must arrive, the number that arrived twice must not
// exceed what was in flight at the crashes, nothing may be left queued, and an instance waiting
// for its database must not spin.
//
// Notifications are inserted with SQL (the INSERT trigger NOTIFYs every instance); emails are
// matched by their Message-ID, webhooks by their webhook-id header (both the notification id).
// The receivers answer slowly on purpose, so that deliveries are still under way when a crash
// comes. Each test prints its figures (for docs/reliability.md) and records them as properties.
//
// The cluster, databases and processes come from support/e2e_fixture.hpp.
#include "support/e2e_fixture.hpp"
#include "support/fake_smtp_server.hpp"
#include "support/http_receiver.hpp"
#include "support/scene.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

// How long the SMTP server waits before accepting a message, and the webhook receiver before
// answering: with 4 connections per instance to each, two instances deliver at most about 320
// notifications a second, so a crash always finds deliveries under way.
constexpr auto kSlowness = 50ms;
constexpr int kConnectionsPerReceiver = 4;
constexpr auto kLease = 3s;  // a killed instance's notifications are taken over after this

// CPU time a process has spent, in seconds (support/process.hpp's cpu_ticks).
std::optional<double> cpu_seconds(pid_t pid) {
  const auto ticks = cpu_ticks(pid);
  if (!ticks) return std::nullopt;
  return static_cast<double>(*ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// SQL condition: the row's lease_owner is this instance ("host:pid:random", jobs::default_owner()).
std::string owned_by(const Daemon& instance) {
  return "lease_owner LIKE '%:" + std::to_string(instance.pid()) + ":%'";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What a test found, printed and recorded as properties.
struct Figures {
  std::size_t notifications = 0, delivered = 0, duplicates = 0, missing = 0, unknown = 0, not_sent = 0;
};

class CrashSuite : public ConvenedTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(create_database());
    FakeSmtpServer::Options smtp_options;
    smtp_options.final_reply_delay = kSlowness;
    smtp_ = std::make_unique<FakeSmtpServer>(smtp_options);
    // Enough threads for every instance's connections, and for those of killed instances
    // until their sockets are closed.
    receiver_ = std::make_unique<Receiver>(
        [this](const httplib::Request& req, httplib::Response& res) {
          std::this_thread::sleep_for(kSlowness);
          {
            std::lock_guard lock(received_mutex_);
            ++received_[req.get_header_value("webhook-id")];
          }
          res.status = 204;
        },
        16);
    settings_ = {{"CONVENE_LOG_LEVEL", "info"},
                 {"CONVENE_SHUTDOWN_TIMEOUT", "5s"},
                 {"CONVENE_PUBLIC_URL", "https://convene.example.org"},
                 {"CONVENE_SMTP_URL", smtp_->url()},
                 {"CONVENE_SMTP_MAX_CONNECTIONS", std::to_string(kConnectionsPerReceiver)},
                 {"CONVENE_WEBHOOK_ALLOWLIST", "127.0.0.0/8"},
                 {"CONVENE_WEBHOOK_MAX_HOST_CONNECTIONS", std::to_string(kConnectionsPerReceiver)},
                 {"CONVENE_DELIVERY_CONCURRENCY", "200"},
                 {"CONVENE_DELIVERY_LEASE", std::to_string(std::chrono::seconds(kLease).count()) + "s"},
                 // libpqxx 6.4 leaks a PGresult on a dead connection (tests/lsan.supp).
                 {"LSAN_OPTIONS", lsan_options_with_suppressions()}};
    ASSERT_NO_FATAL_FAILURE(migrate());
    query(scene::kInsertCommunity);
    query(scene::kInsertAda);
    query("INSERT INTO webhook_endpoints (member_id, url, secret, created_by, created_at, updated_at) "
          "SELECT id, '" + receiver_->url() + "', 'whsec_' || encode(decode(md5('a') || md5('b'), 'hex'), 'base64'), id, "
          "now(), now() FROM members");
  }

  void TearDown() override {
    // The instances still running end as an operator would end them: SIGTERM, exit 0.
    for (const auto& instance : daemons_) {
      if (instance->stopped() || !instance->running()) continue;
      instance->stop(SIGTERM);
      EXPECT_EQ(instance->wait_for_exit(20s), 0) << "convened " << instance->name() << " did not stop cleanly";
    }
    if (HasFailure()) {
      try {
        std::cerr << "---- notifications by state ----\n" << states() << "\n---- end ----\n";
      } catch (const std::exception& e) {
        std::cerr << "notifications not listed: " << e.what() << "\n";
      }
    }
    ConvenedTest::TearDown();  // on failure the instances' logs
  }

  Daemon& start_instance(const std::string& name) { return start_daemon(name, {"serve"}); }
  // Instances `a_name` and "b", both ready (a fatal failure otherwise).
  void start_two(Daemon*& a, Daemon*& b, const std::string& a_name = "a") {
    a = &start_instance(a_name);
    b = &start_instance("b");
    ASSERT_TRUE(wait_ready(*a)) << "instance A not ready";
    ASSERT_TRUE(wait_ready(*b)) << "instance B not ready";
  }

  std::string states() const {
    return query("SELECT coalesce(string_agg(state || ': ' || n, ', ' ORDER BY state), 'none') "
                 "FROM (SELECT state, count(*) n FROM notifications GROUP BY state) s");
  }
  std::set<std::string> ids(const std::string& sql) const {
    std::set<std::string> out;
    std::istringstream lines(query(sql));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) out.insert(line);
    return out;
  }

  // `each` emails and `each` webhooks for Ada, due now, in one transaction (one wake-up).
  void insert_wave(const std::string& wave, int each) const {
    const std::string n = std::to_string(each);
    query("INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, payload, "
          "due_at, created_at) "
          "SELECT notification_id(k.key), k.key, m.id, c.id, 'email', 'topic.posted', m.email, '" +
          std::string(scene::kTopicPayload) + "', now(), now() "
          "FROM members m CROSS JOIN communities c CROSS JOIN generate_series(1, " + n + ") g "
          "CROSS JOIN LATERAL (SELECT 'crash:" + wave + ":email:' || g AS key) k; "
          "INSERT INTO notifications (id, dedupe_key, member_id, community_id, endpoint_id, channel, kind, recipient, "
          "payload, due_at, created_at) "
          "SELECT notification_id(k.key), k.key, w.member_id, c.id, w.id, 'webhook', 'topic.posted', w.url, "
          "'{\"title\": \"What are you reading?\"}', now(), now() "
          "FROM webhook_endpoints w CROSS JOIN communities c CROSS JOIN generate_series(1, " + n + ") g "
          "CROSS JOIN LATERAL (SELECT 'crash:" + wave + ":webhook:' || g AS key) k");
  }

  // Until at least `count` notifications are recorded sent.
  bool wait_for_sent(long long count, std::chrono::milliseconds timeout) const {
    return wait_for([&] { return sql_count("SELECT count(*) FROM notifications WHERE state = 'sent'") >= count; }, timeout,
                    200ms);
  }
  // Until nothing is queued: every notification finished.
  bool wait_until_drained(std::chrono::milliseconds timeout) const {
    return wait_for([&] { return sql_count("SELECT count(*) FROM notifications WHERE queued") == 0; }, timeout, 200ms);
  }

  // Stops PostgreSQL and returns how many notifications were in flight when it went down.
  // Nothing changes between the count and the stop: a session locks the notifications against
  // writes (the instances' claims and outcomes wait for it), lists those being sent, and holds
  // the lock until the stop ends the session.
  std::size_t stop_postgres() {
    static int stops = 0;
    ChildProcess session({"/usr/bin/psql", cluster().url(database_), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                          "-c", "BEGIN", "-c", "LOCK TABLE notifications IN EXCLUSIVE MODE", "-c",
                          "SELECT count(*) || ' sending' FROM notifications WHERE state = 'sending'", "-c",
                          "SELECT pg_sleep(600)"},
                         {{"PGCONNECT_TIMEOUT", "10"}}, work_ + "/freeze-" + std::to_string(++stops) + ".log");
    std::size_t sending = 0;
    const bool counted = wait_until(
        [&] {
          std::istringstream lines(session.log());
          for (std::string line; std::getline(lines, line);)
            if (line.size() > 8 && line.compare(line.size() - 8, 8, " sending") == 0) {
              sending = std::stoul(line);
              return true;
            }
          return session.wait_for_exit(0ms).has_value();  // psql failed: its output says why
        },
        60s, 10ms);
    if (!counted || session.wait_for_exit(0ms).has_value())
      throw std::runtime_error("could not count the notifications in flight: " + session.log());
    cluster().stop();
    return sending;
  }

  // Every notification sent, each arrived at least once, and duplicates at most `in_flight`.
  Figures check_deliveries(long long in_flight) {
    Figures f;
    const auto all = ids("SELECT id FROM notifications");
    f.notifications = all.size();
    f.not_sent = static_cast<std::size_t>(sql_count("SELECT count(*) FROM notifications WHERE state <> 'sent'"));
    std::map<std::string, int> received = webhooks_received();
    for (const auto& message : smtp_->messages()) {
      const std::string id = message.notification_id();
      ++received[id.empty() ? std::string("(no Message-ID)") : id];
    }
    std::string missing_ids, unknown_ids;
    for (const auto& id : all) {
      const auto found = received.find(id);
      if (found == received.end()) {
        if (++f.missing <= 10) missing_ids += " " + id;
      }
    }
    for (const auto& [id, times] : received) {
      if (all.count(id) == 0) {
        if (++f.unknown <= 10) unknown_ids += " " + id;
        continue;
      }
      ++f.delivered;
      f.duplicates += static_cast<std::size_t>(times - 1);
    }
    EXPECT_EQ(f.not_sent, 0u) << "notifications not sent: " << states();
    EXPECT_EQ(f.missing, 0u) << "notifications that never arrived (at most ten):" << missing_ids;
    EXPECT_EQ(f.unknown, 0u) << "deliveries of unknown notifications (at most ten):" << unknown_ids;
    EXPECT_EQ(f.delivered, f.notifications);
    EXPECT_LE(static_cast<long long>(f.duplicates), in_flight)
        << "more notifications arrived twice than were in flight at the crashes";
    if (f.duplicates > 0) {
      // Which ones, for the report: their attempts and who held them.
      std::string twice;
      for (const auto& [id, times] : received)
        if (times > 1 && twice.size() < 2000) twice += (twice.empty() ? "'" : ",'") + id + "'";
      std::cout << "[          ] arrived more than once (some): "
                << query("SELECT string_agg(id || ' attempts ' || attempts || ' ' || attempt_log::text, E'\\n') FROM "
                         "(SELECT * FROM notifications WHERE id IN (" + twice + ") LIMIT 5) n")
                << "\n";
    }
    return f;
  }

  void report(const std::string& name, const std::string& value) {
    std::cout << "[ figures  ] " << name << ": " << value << "\n";
    RecordProperty(name, value);
  }
  void report(const Figures& f) {
    report("notifications", std::to_string(f.notifications));
    report("delivered", std::to_string(f.delivered));
    report("lost", std::to_string(f.notifications - f.delivered));
    report("duplicates", std::to_string(f.duplicates));
  }

  std::map<std::string, int> webhooks_received() const {
    std::lock_guard lock(received_mutex_);
    return received_;
  }

  std::unique_ptr<FakeSmtpServer> smtp_;
  mutable std::mutex received_mutex_;
  std::map<std::string, int> received_;  // webhook deliveries by webhook-id (the notification id)
  std::unique_ptr<Receiver> receiver_;   // last: destroyed first, while what its handler uses lives
};

// The pauses between kills: random, reproducible with CONVENE_TEST_CRASH_SEED.
std::mt19937 pause_generator(unsigned& seed) {
  const char* given = std::getenv("CONVENE_TEST_CRASH_SEED");
  seed = given != nullptr && *given != '\0' ? static_cast<unsigned>(std::stoul(given)) : std::random_device{}();
  return std::mt19937(seed);
}

// Two instances deliver 10,000 notifications, inserted in 20 waves; after each wave instance A
// is SIGKILLed 200-800 ms later, mid-delivery, and restarted. Its notifications in flight
// are taken over when their leases (3 s) run out, by B or by the next A.
TEST_F(CrashSuite, TwoInstancesSurviveTwentyKillsLosingNothing) {
  constexpr int kKills = 20;
  constexpr int kPerWave = 10'000 / kKills / 2;  // emails, and as many webhooks
  unsigned seed = 0;
  auto generator = pause_generator(seed);
  std::uniform_int_distribution<int> pause_ms(200, 800);
  const auto started = std::chrono::steady_clock::now();

  Daemon* a = nullptr;
  Daemon* b = nullptr;
  ASSERT_NO_FATAL_FAILURE(start_two(a, b, "a-0"));

  long long in_flight_at_kills = 0;
  int kills_mid_delivery = 0;
  for (int kill = 1; kill <= kKills; ++kill) {
    insert_wave(std::to_string(kill), kPerWave);
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(generator)));
    ASSERT_EQ(crashed(), "");
    a->stop(SIGKILL);
    ASSERT_EQ(a->wait_for_exit(10s), -1) << "A survived SIGKILL";
    // A is dead: what it held stays as it was until its leases run out.
    const long long held = sql_count("SELECT count(*) FROM notifications WHERE state = 'sending' AND " + owned_by(*a));
    in_flight_at_kills += held;
    if (held > 0) ++kills_mid_delivery;
    a = &start_instance("a-" + std::to_string(kill));
    ASSERT_TRUE(wait_ready(*a)) << "instance A not ready after kill " << kill;
  }
  const double killing = seconds_since(started);
  ASSERT_TRUE(wait_until_drained(180s)) << "still queued 180 s after the last kill. " << crashed() << " " << states();
  const double elapsed = seconds_since(started);

  const auto f = check_deliveries(in_flight_at_kills);
  // Otherwise the kills found nothing to lose and the test proved nothing.
  EXPECT_GE(kills_mid_delivery, kKills / 2) << "most kills should find A delivering";
  report("seed", std::to_string(seed));
  report("kills", std::to_string(kKills));
  report("kills_mid_delivery", std::to_string(kills_mid_delivery));
  report("in_flight_at_kills", std::to_string(in_flight_at_kills));
  report(f);
  report("seconds_killing", std::to_string(killing));
  report("seconds_elapsed", std::to_string(elapsed));
}

// Two instances deliver 10,000 notifications; PostgreSQL is stopped (fast shutdown: every
// connection cut) and started again 2 s later, once a quarter of them are sent and again
// past 60 %.
TEST_F(CrashSuite, PostgresRestartedTwiceLosesNothing) {
  constexpr int kEach = 5'000;
  const auto started = std::chrono::steady_clock::now();
  Daemon* a = nullptr;
  Daemon* b = nullptr;
  ASSERT_NO_FATAL_FAILURE(start_two(a, b));
  insert_wave("all", kEach);

  long long in_flight_at_restarts = 0;
  int restart = 0;
  for (const long long sent : {2 * kEach / 4, 2 * kEach * 6 / 10}) {
    ++restart;
    ASSERT_TRUE(wait_for_sent(sent, 180s)) << "fewer than " << sent << " sent before restart " << restart << ". "
                                           << crashed() << " " << states();
    const auto in_flight = stop_postgres();
    std::this_thread::sleep_for(2s);
    cluster().start();
    std::cout << "[          ] restart " << restart << ": " << in_flight << " in flight\n";
    in_flight_at_restarts += static_cast<long long>(in_flight);
  }
  ASSERT_TRUE(wait_until_drained(180s)) << "still queued 180 s after the last restart. " << crashed() << " " << states();
  const double elapsed = seconds_since(started);
  EXPECT_EQ(crashed(), "");

  const auto f = check_deliveries(in_flight_at_restarts);
  report("postgres_restarts", std::to_string(restart));
  report("in_flight_at_restarts", std::to_string(in_flight_at_restarts));
  report(f);
  report("seconds_elapsed", std::to_string(elapsed));
}

// Two instances deliver 3,000 notifications; PostgreSQL is down for 60 s once some are sent.
// Meanwhile the instances stay up and spend little CPU (a loop retrying without pause would
// spend about a core); once it is back, everything is delivered.
TEST_F(CrashSuite, PostgresUnreachableForSixtySecondsNothingLostAndNoBusyLoop) {
  constexpr int kEach = 1'500;
  constexpr auto kOutage = 60s;
  // CPU seconds one instance may spend during the outage: a busy loop spends about 60.
  constexpr double kMaxCpu = 6.0;
  constexpr auto kSettle = 10s;
  constexpr double kMaxCpuSettled = 5.0;  // of the last 50 s
  const auto started = std::chrono::steady_clock::now();
  Daemon* a = nullptr;
  Daemon* b = nullptr;
  ASSERT_NO_FATAL_FAILURE(start_two(a, b));
  insert_wave("all", kEach);
  ASSERT_TRUE(wait_for_sent(500, 120s)) << "fewer than 500 sent. " << crashed() << " " << states();

  const auto cpu_a = cpu_seconds(a->pid()), cpu_b = cpu_seconds(b->pid());
  ASSERT_TRUE(cpu_a && cpu_b);
  const auto in_flight = static_cast<long long>(stop_postgres());
  const auto outage_started = std::chrono::steady_clock::now();
  // The messages in flight at the stop are still being sent for a second or two; from then on
  // the instances have nothing to do but wait for PostgreSQL.
  std::this_thread::sleep_for(kSettle);
  const auto settled_a = cpu_seconds(a->pid()), settled_b = cpu_seconds(b->pid());
  std::this_thread::sleep_for(kOutage / 2 - kSettle);
  // Alive, and saying it cannot serve.
  const auto ready_a = http_request(a->port(), "GET", "/readyz", {.connect_timeout = 2s, .read_timeout = 10s});
  const auto ready_b = http_request(b->port(), "GET", "/readyz", {.connect_timeout = 2s, .read_timeout = 10s});
  std::this_thread::sleep_until(outage_started + kOutage);
  const auto used_a = cpu_seconds(a->pid()), used_b = cpu_seconds(b->pid());
  const double outage = seconds_since(outage_started);
  cluster().start();  // before any assertion: the tests after this one in the process need it
  ASSERT_EQ(crashed(), "") << "an instance died while PostgreSQL was down";
  ASSERT_TRUE(used_a && used_b && settled_a && settled_b);

  EXPECT_EQ(ready_a.status, 503) << describe(ready_a);
  EXPECT_EQ(ready_b.status, 503) << describe(ready_b);
  EXPECT_LT(*used_a - *cpu_a, kMaxCpu) << "instance A spent " << *used_a - *cpu_a << " s of CPU in " << outage << " s";
  EXPECT_LT(*used_b - *cpu_b, kMaxCpu) << "instance B spent " << *used_b - *cpu_b << " s of CPU in " << outage << " s";
  EXPECT_LT(*used_a - *settled_a, kMaxCpuSettled) << "instance A spent " << *used_a - *settled_a << " s of CPU waiting";
  EXPECT_LT(*used_b - *settled_b, kMaxCpuSettled) << "instance B spent " << *used_b - *settled_b << " s of CPU waiting";

  ASSERT_TRUE(wait_until_drained(180s)) << "still queued 180 s after PostgreSQL came back. " << crashed() << " " << states();
  const double elapsed = seconds_since(started);
  const auto f = check_deliveries(in_flight);
  report("outage_seconds", std::to_string(outage));
  report("cpu_seconds_during_outage_a", std::to_string(*used_a - *cpu_a));
  report("cpu_seconds_during_outage_b", std::to_string(*used_b - *cpu_b));
  report("cpu_seconds_waiting_a", std::to_string(*used_a - *settled_a));  // the outage's last 50 s
  report("cpu_seconds_waiting_b", std::to_string(*used_b - *settled_b));
  report("readyz_during_outage", std::to_string(ready_a.status) + " " + std::to_string(ready_b.status));
  report("in_flight_at_stop", std::to_string(in_flight));
  report(f);
  report("seconds_elapsed", std::to_string(elapsed));
}

}  // namespace
}  // namespace convene::testing
