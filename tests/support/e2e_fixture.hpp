#pragma once
// What the end-to-end tests (tests/e2e) share: one private PostgreSQL cluster per test
// process, and per test a work directory, a database on that cluster, the CONVENE_*
// environment, `convened` commands run to completion and `convened serve` children.
//
// ctest runs every test in a process of its own, so there a test has the cluster to itself;
// run directly, all the tests of the binary share one cluster, each with its own database.
#include "support/process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace convene::testing {

// Sanitizer builds start slowly: an upper bound, never an expected duration.
inline constexpr std::chrono::seconds kStartTimeout{30};

bool contains(const std::string& haystack, const std::string& needle);
std::size_t count_of(const std::string& haystack, const std::string& needle);

// The value of the sample `series` (name with labels, exactly as exposed) in a Prometheus
// exposition, if present.
std::optional<double> sample_value(const std::string& exposition, const std::string& series);

// "exit N, output:\n..." for failure messages.
std::string describe(const CommandResult& r);

// LSAN_OPTIONS (the inherited ones plus tests/lsan.supp) for a convened that may see
// PostgreSQL go away: libpqxx 6.4 leaks a PGresult when a statement finds its connection
// dead, and in sanitizer builds LeakSanitizer would turn that into exit status 1.
std::string lsan_options_with_suppressions();

// The cluster this process's tests share, started by the first caller (several tests never
// connect, so none is started for them). Throws std::runtime_error when it cannot be started,
// again for every later caller: a second attempt would not fare better.
PgCluster& shared_cluster();

// ---- HTTP to a convened on 127.0.0.1 ----

struct HttpOptions {
  std::string token;  // sent as "Authorization: Bearer TOKEN" unless empty
  std::string body;   // JSON, for POST and PATCH
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds read_timeout{30};
};

struct HttpReply {
  int status = 0;  // 0: no answer (connection refused, timeout); `error` says which
  std::string content_type;
  std::string etag;
  std::string body;
  std::string error;
};

// GET, POST or PATCH.
HttpReply http_request(int port, const std::string& method, const std::string& path, const HttpOptions& options = {});
// "HTTP 200 [content type] body" for failure messages.
std::string describe(const HttpReply& r);

// ---- convened children ----

// A long-running convened (usually `serve`) that a ConvenedTest started; SIGKILLed if still
// running when destroyed.
class Daemon {
 public:
  Daemon(std::string name, int port, std::string log_path, const std::vector<std::string>& argv,
         const std::map<std::string, std::string>& env);

  const std::string& name() const { return name_; }
  int port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  pid_t pid() const { return process_.pid(); }
  std::string log() const { return process_.log(); }  // what it printed so far

  void signal(int number) const { process_.signal(number); }
  // signal(), and remember that the test ended it on purpose: its exit is no crash.
  void stop(int number);
  bool stopped() const { return stopped_; }
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout) { return process_.wait_for_exit(timeout); }
  bool running() { return !process_.wait_for_exit(std::chrono::milliseconds(0)).has_value(); }

  // Polls GET /readyz until it answers 200, the process exits or `timeout` passes; returns the
  // last answer (status 0 when there was none).
  HttpReply wait_ready(std::chrono::milliseconds timeout = kStartTimeout);
  bool log_contains(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  std::string name_;
  int port_;
  std::string log_path_;
  ChildProcess process_;
  bool stopped_ = false;
};

// Fixture for the end-to-end tests. The constructor gives the test a fresh work directory
// (with state/ and an empty convened.toml) and removes CONVENE_* settings a developer's
// shell would otherwise leak into the children.
class ConvenedTest : public ::testing::Test {
 protected:
  ConvenedTest();
  // On failure prints the log of every daemon the test started; then SIGKILLs those still
  // running. A derived TearDown must call it.
  void TearDown() override;

  // A fresh database on the shared cluster (started by the first test that needs one); a
  // fatal failure when that fails, so call it inside ASSERT_NO_FATAL_FAILURE.
  void create_database();
  // `convened migrate` on the test's database; a fatal failure unless it exits 0.
  void migrate(const std::map<std::string, std::string>& extra_env = {});
  // An admin's API token for `email`, made with `convened token create` (not through the API,
  // so tests with low rate limits do not spend them on the set-up); "" (and a failure) when none.
  std::string admin_token(const std::string& email = "admin@example.org");

  static PgCluster& cluster() { return shared_cluster(); }
  // psql against the test's database; throws when psql fails.
  std::string query(const std::string& sql) const { return cluster().query(database_, sql); }

  // What every convened of the test gets: the database (a URL to nowhere before
  // create_database), CONVENE_STATE_DIRECTORY=work_/state, a free CONVENE_HTTP_LISTEN port,
  // then settings_.
  std::map<std::string, std::string> environment() const;
  // CONVENE_BINARY --config config_path_ ARGS..., with the binary CONVENE_TEST_BINARY names
  // instead when it is set (to attack another build, such as one without a defence).
  std::vector<std::string> command(const std::vector<std::string>& args) const;
  // `convened ARGS...` to completion (killed after command_timeout_), with environment() plus
  // `extra_env`.
  CommandResult run_convened(const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& extra_env = {}) const;
  // Starts `convened ARGS...` listening on `port` (0: a free one), logging to work_/NAME.log,
  // with environment() plus `extra_env`. The test owns it until TearDown.
  Daemon& start_daemon(const std::string& name, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& extra_env = {}, int port = 0);

  std::string work_;         // this test's directory: config, state, logs
  std::string config_path_;  // work_/convened.toml
  std::string database_;     // empty until create_database()
  std::map<std::string, std::string> settings_;  // added to environment() for every command and daemon
  std::chrono::seconds command_timeout_{60};
  std::vector<std::unique_ptr<Daemon>> daemons_;  // in start order

  // "" while every daemon the test did not stop runs; otherwise which one exited.
  std::string crashed() const {
    for (const auto& daemon : daemons_)
      if (!daemon->stopped() && !daemon->running())
        return "convened " + daemon->name() + " exited unexpectedly (its log follows)";
    return "";
  }
  // wait_until, giving up as soon as a daemon crashed (false then).
  bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(100)) const {
    return wait_until([&] { return !crashed().empty() || condition(); }, timeout, interval) && crashed().empty();
  }
  // GET /readyz answers 200 (false when the process exited or the timeout passed).
  static bool wait_ready(Daemon& instance) { return instance.wait_ready().status == 200 && instance.running(); }
  // A query whose answer is one number, such as SELECT count(*).
  long long sql_count(const std::string& sql) const { return std::stoll(query(sql)); }
};

// Two `convened serve` instances, "a" and "b", on one migrated database and with one state
// directory, both ready, and an admin's token: tests of what one instance sees of the other's
// work. TearDown stops them with SIGTERM; each must exit 0.
class TwoInstancesTest : public ConvenedTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  int port(std::size_t instance) const { return daemons_[instance]->port(); }

  std::string token_;
};

}  // namespace convene::testing
