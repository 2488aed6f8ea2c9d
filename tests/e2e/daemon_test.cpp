// End-to-end tests of `convened serve`: the built binary as a child process, against a private
// PostgreSQL cluster that the tests may stop and start (support/e2e_fixture.hpp).
#include "support/e2e_fixture.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kStopTimeout = 5s;

// Short timeouts: the tests poll, and a hanging request should count as no answer.
HttpReply http_get(int port, const std::string& path) {
  return http_request(port, "GET", path, {.connect_timeout = 1s, .read_timeout = 10s});
}

// One daemon per test, on a port chosen before it starts (PortInUse occupies it first).
class DaemonTest : public ConvenedTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(create_database());
    settings_["CONVENE_SHUTDOWN_TIMEOUT"] = "3s";
    port_ = free_port();
  }

  Daemon& start_daemon(const std::vector<std::string>& args = {"serve", "--migrate"},
                       const std::map<std::string, std::string>& extra_env = {}) {
    daemon_ = &ConvenedTest::start_daemon("convened", args, extra_env, port_);
    return *daemon_;
  }

  // Waits for GET /readyz 200 while the daemon runs; returns the last answer.
  HttpReply wait_ready() { return daemon_->wait_ready(); }
  bool log_contains(const std::string& text) { return daemon_->log_contains(text); }

  int port_ = 0;
  Daemon* daemon_ = nullptr;  // owned by daemons_
};

// libpqxx 6.4 leaks a PGresult when a statement finds its connection dead (tests/lsan.supp
// says where); in sanitizer builds LeakSanitizer would turn that into exit status 1 after
// PostgreSQL went away. The daemon gets the project's suppression file.
std::map<std::string, std::string> suppress_libpqxx_broken_connection_leak() {
  return {{"LSAN_OPTIONS", lsan_options_with_suppressions()}};
}

TEST_F(DaemonTest, PostgresRestart) {
  auto& daemon = start_daemon({"serve", "--migrate"}, suppress_libpqxx_broken_connection_leak());
  const auto ready = wait_ready();
  ASSERT_EQ(ready.status, 200) << describe(ready);
  EXPECT_TRUE(contains(ready.body, R"("status":"ready")")) << describe(ready);
  const auto health = http_get(port_, "/healthz");
  EXPECT_EQ(health.status, 200) << describe(health);

  ASSERT_NO_THROW(cluster().stop());
  HttpReply unready;
  const bool went_unready = wait_until(
      [&] {
        unready = http_get(port_, "/readyz");
        return unready.status == 503;
      },
      20s, 100ms);
  const bool still_running_while_down = !daemon.wait_for_exit(0ms).has_value();
  HttpReply health_down;
  if (went_unready) health_down = http_get(port_, "/healthz");
  // Start the cluster again before asserting, so a failure does not leave it down for the
  // other tests of this process.
  ASSERT_NO_THROW(cluster().start());

  ASSERT_TRUE(went_unready) << "/readyz did not turn 503 with PostgreSQL stopped: " << describe(unready);
  EXPECT_EQ(unready.content_type.rfind("application/problem+json", 0), 0u) << describe(unready);
  const auto problems = unready.body.find(R"("problems":[)");
  ASSERT_NE(problems, std::string::npos) << describe(unready);
  EXPECT_TRUE(contains(unready.body.substr(problems), "database")) << describe(unready);
  EXPECT_FALSE(contains(unready.body, cluster().password())) << "the password leaked: " << describe(unready);
  EXPECT_TRUE(still_running_while_down) << "convened exited while PostgreSQL was down";
  EXPECT_EQ(health_down.status, 200) << "/healthz with PostgreSQL down: " << describe(health_down);

  // Back without a restart of the daemon: the same process answers 200 again.
  HttpReply again;
  const bool recovered = wait_until(
      [&] {
        again = http_get(port_, "/readyz");
        return again.status == 200 || daemon.wait_for_exit(0ms).has_value();
      },
      30s, 200ms);
  ASSERT_TRUE(recovered && again.status == 200) << "/readyz after PostgreSQL came back: " << describe(again);
  ASSERT_FALSE(daemon.wait_for_exit(0ms).has_value()) << "convened exited";
  EXPECT_EQ(::kill(daemon.pid(), 0), 0);

  daemon.signal(SIGTERM);
  const auto status = daemon.wait_for_exit(kStopTimeout);
  ASSERT_TRUE(status.has_value()) << "convened did not exit within 5 s of SIGTERM";
  EXPECT_EQ(*status, 0);
  const auto log = daemon.log();
  EXPECT_TRUE(contains(log, R"(msg="stopping")")) << log;
  EXPECT_TRUE(contains(log, R"(msg="stopped")")) << log;
}

// Receives datagrams on an AF_UNIX socket bound to `path`, as systemd does for sd_notify.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot bind " + path);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // Receives until `done(messages)` holds or `timeout` passes; returns done's last answer.
  bool receive_until(const std::function<bool(const std::vector<std::string>&)>& done,
                     std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(messages_)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) messages_.emplace_back(buffer, static_cast<std::size_t>(n));
    }
    return true;
  }
  const std::vector<std::string>& messages() const { return messages_; }
  std::string all() const {
    std::string out;
    for (const auto& m : messages_) out += "[" + m + "] ";
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

std::size_t messages_with(const std::vector<std::string>& messages, const std::string& line) {
  std::size_t n = 0;
  for (const auto& m : messages) {
    // sd_notify messages are newline-separated assignments.
    std::size_t start = 0;
    while (start <= m.size()) {
      auto end = m.find('\n', start);
      if (end == std::string::npos) end = m.size();
      if (m.compare(start, end - start, line) == 0) {
        ++n;
        break;
      }
      start = end + 1;
    }
  }
  return n;
}

TEST_F(DaemonTest, SystemdNotify) {
  NotifySocket socket(work_ + "/notify.sock");
  auto& daemon = start_daemon({"serve", "--migrate"},
                              {{"NOTIFY_SOCKET", work_ + "/notify.sock"}, {"WATCHDOG_USEC", "400000"}});

  ASSERT_TRUE(socket.receive_until([](const auto& m) { return messages_with(m, "READY=1") >= 1; }, kStartTimeout))
      << "no READY=1; received: " << socket.all();
  // READY=1 promises a listening daemon.
  const auto health = http_get(port_, "/healthz");
  EXPECT_EQ(health.status, 200) << describe(health);

  // Pings every 200 ms (half of WATCHDOG_USEC); allow a slow sanitizer build plenty of time.
  ASSERT_TRUE(socket.receive_until([](const auto& m) { return messages_with(m, "WATCHDOG=1") >= 2; }, 10s))
      << "fewer than two WATCHDOG=1; received: " << socket.all();
  EXPECT_EQ(messages_with(socket.messages(), "STOPPING=1"), 0u) << socket.all();

  daemon.signal(SIGTERM);
  EXPECT_TRUE(socket.receive_until([](const auto& m) { return messages_with(m, "STOPPING=1") >= 1; }, kStopTimeout))
      << "no STOPPING=1; received: " << socket.all();
  const auto status = daemon.wait_for_exit(kStopTimeout);
  ASSERT_TRUE(status.has_value()) << "convened did not exit within 5 s of SIGTERM";
  EXPECT_EQ(*status, 0);
  // The order systemd relies on: READY first, STOPPING last of the state changes.
  const auto& m = socket.messages();
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(messages_with({m.front()}, "READY=1"), 1u) << socket.all();
  std::size_t stopping_at = m.size();
  for (std::size_t i = 0; i < m.size(); ++i)
    if (messages_with({m[i]}, "STOPPING=1") != 0) stopping_at = i;
  for (std::size_t i = stopping_at + 1; i < m.size(); ++i)
    EXPECT_EQ(messages_with({m[i]}, "WATCHDOG=1"), 0u) << "watchdog ping after STOPPING=1: " << socket.all();
}

TEST_F(DaemonTest, SighupReload) {
  write_file(config_path_, "log_level = \"info\"\n");
  auto& daemon = start_daemon();
  const auto ready = wait_ready();
  ASSERT_EQ(ready.status, 200) << describe(ready);

  // At info, requests are not logged.
  ASSERT_EQ(http_get(port_, "/healthz").status, 200);
  EXPECT_FALSE(contains(daemon.log(), R"(msg="http request")")) << daemon.log();

  write_file(config_path_, "log_level = \"debug\"\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(log_contains(R"(msg="configuration reloaded")")) << daemon.log();
  EXPECT_FALSE(contains(daemon.log(), "need a restart")) << "nothing but log_level changed: " << daemon.log();

  ASSERT_EQ(http_get(port_, "/healthz").status, 200);
  EXPECT_TRUE(log_contains(R"(msg="http request")")) << "no debug line for a request after the reload:\n"
                                                      << daemon.log();
  EXPECT_TRUE(contains(daemon.log(), "path=/healthz")) << daemon.log();

  // A broken file is refused and the running configuration stays.
  write_file(config_path_, "log_level = \"loud\"\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(log_contains("configuration not reloaded")) << daemon.log();
  EXPECT_TRUE(contains(daemon.log(), "log_level")) << "the error should name the key: " << daemon.log();
  EXPECT_FALSE(daemon.wait_for_exit(0ms).has_value()) << "convened exited after a bad reload";
  const auto before = count_of(daemon.log(), R"(msg="http request")");
  const auto health = http_get(port_, "/healthz");
  EXPECT_EQ(health.status, 200) << describe(health);
  EXPECT_TRUE(wait_until([&] { return count_of(daemon.log(), R"(msg="http request")") > before; }, 10s))
      << "the debug level should have stayed after a refused reload:\n"
      << daemon.log();

  daemon.signal(SIGTERM);
  const auto status = daemon.wait_for_exit(kStopTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
}

TEST_F(DaemonTest, MetricsExposition) {
  auto& daemon = start_daemon({"serve", "--migrate"}, {{"CONVENE_DATABASE_POOL_SIZE", "3"}});
  const auto ready = wait_ready();
  ASSERT_EQ(ready.status, 200) << describe(ready);
  ASSERT_EQ(http_get(port_, "/readyz").status, 200);

  const auto metrics = http_get(port_, "/metrics");
  ASSERT_EQ(metrics.status, 200) << describe(metrics);
  EXPECT_EQ(metrics.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << metrics.content_type;
  EXPECT_EQ(sample_value(metrics.body, "convene_db_pool_max_connections"), 3.0) << metrics.body;
  const auto rss = sample_value(metrics.body, "process_resident_memory_bytes");
  ASSERT_TRUE(rss.has_value()) << metrics.body;
  EXPECT_GT(*rss, 0.0);
  EXPECT_TRUE(contains(metrics.body, "# TYPE convene_http_requests_total counter")) << metrics.body;
  const auto readyz = sample_value(metrics.body, R"(convene_http_requests_total{route="/readyz",code="2xx"})");
  ASSERT_TRUE(readyz.has_value()) << metrics.body;
  EXPECT_GE(*readyz, 2.0) << metrics.body;  // wait_ready's 200 and the one above

  const auto missing = http_get(port_, "/no/such/thing");
  EXPECT_EQ(missing.status, 404) << describe(missing);
  EXPECT_EQ(missing.content_type.rfind("application/problem+json", 0), 0u) << describe(missing);
  EXPECT_TRUE(contains(missing.body, R"("status":404)")) << describe(missing);
  const auto after = http_get(port_, "/metrics");
  EXPECT_TRUE(contains(after.body, R"(convene_http_requests_total{route="unmatched",code="4xx"} 1)")) << after.body;
  EXPECT_FALSE(contains(after.body, "/no/such/thing")) << "raw paths must not become labels: " << after.body;

  daemon.signal(SIGTERM);
  const auto status = daemon.wait_for_exit(kStopTimeout);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
}

TEST_F(DaemonTest, PortInUse) {
  // Another listener holds the port.
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(holder, 8), 0);

  auto& daemon = start_daemon({"serve"});
  const auto status = daemon.wait_for_exit(20s);
  ::close(holder);
  ASSERT_TRUE(status.has_value()) << "convened kept running with its port taken";
  EXPECT_EQ(*status, 1);
  const auto log = daemon.log();
  EXPECT_TRUE(contains(log, "127.0.0.1:" + std::to_string(port_))) << log;
  EXPECT_TRUE(contains(log, "cannot listen")) << log;
  EXPECT_FALSE(contains(log, R"(msg="ready")")) << log;
}

}  // namespace
}  // namespace convene::testing
