#include "support/e2e_fixture.hpp"

#include <httplib.h>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

// What the tests of this process share. A function-local static: the cluster is stopped, then
// the directory removed, when the process exits.
struct ProcessState {
  TempDir dir{"convene-e2e"};
  std::unique_ptr<PgCluster> cluster;
  std::string cluster_error;  // why the cluster could not be started
};

ProcessState& process_state() {
  static ProcessState state;
  return state;
}

std::string lower_name(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  return out;
}

}  // namespace

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + needle.size())) ++n;
  return n;
}

std::optional<double> sample_value(const std::string& exposition, const std::string& series) {
  std::size_t pos = 0;
  while ((pos = exposition.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || exposition[pos - 1] == '\n') {
      const auto end = exposition.find('\n', pos);
      return std::stod(exposition.substr(pos + series.size() + 1, end - pos - series.size() - 1));
    }
    pos += series.size();
  }
  return std::nullopt;
}

std::string describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + ", output:\n" + r.output;
}

std::string lsan_options_with_suppressions() {
  const char* existing = std::getenv("LSAN_OPTIONS");
  const std::string options = existing != nullptr && *existing != '\0' ? std::string(existing) + ":" : "";
  return options + "suppressions=" CONVENE_SOURCE_DIR "/tests/lsan.supp:print_suppressions=0";
}

PgCluster& shared_cluster() {
  auto& state = process_state();
  if (!state.cluster && state.cluster_error.empty()) {
    try {
      state.cluster = std::make_unique<PgCluster>(state.dir.file("pg"));
    } catch (const std::exception& e) {
      state.cluster_error = e.what();
    }
  }
  if (!state.cluster) throw std::runtime_error(state.cluster_error);
  return *state.cluster;
}

HttpReply http_request(int port, const std::string& method, const std::string& path, const HttpOptions& options) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(static_cast<time_t>(options.connect_timeout.count()), 0);
  client.set_read_timeout(static_cast<time_t>(options.read_timeout.count()), 0);
  httplib::Headers headers;
  if (!options.token.empty()) headers.emplace("Authorization", "Bearer " + options.token);
  httplib::Result r{nullptr, httplib::Error::Unknown};
  if (method == "POST") r = client.Post(path.c_str(), headers, options.body, "application/json");
  else if (method == "PATCH") r = client.Patch(path.c_str(), headers, options.body, "application/json");
  else if (method == "GET") r = client.Get(path.c_str(), headers);
  else throw std::invalid_argument("http_request: unsupported method " + method);
  HttpReply out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.content_type = r->get_header_value("Content-Type");
  out.etag = r->get_header_value("ETag");
  out.body = r->body;
  return out;
}

std::string describe(const HttpReply& r) {
  return "HTTP " + std::to_string(r.status) + " [" + r.content_type + "] " + r.body + r.error;
}

Daemon::Daemon(std::string name, int port, std::string log_path, const std::vector<std::string>& argv,
               const std::map<std::string, std::string>& env)
    : name_(std::move(name)), port_(port), log_path_(std::move(log_path)), process_(argv, env, log_path_) {}

void Daemon::stop(int number) {
  stopped_ = true;
  process_.signal(number);
}

HttpReply Daemon::wait_ready(std::chrono::milliseconds timeout) {
  HttpReply last;
  wait_until(
      [&] {
        if (!running()) return true;  // exited: give up early
        // Short timeouts: a probe that hangs is retried rather than waited for.
        last = http_request(port_, "GET", "/readyz", {.connect_timeout = 1s, .read_timeout = 10s});
        return last.status == 200;
      },
      timeout, 100ms);
  return last;
}

bool Daemon::log_contains(const std::string& text, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return contains(log(), text); }, timeout);
}

ConvenedTest::ConvenedTest() {
  clear_convene_environment();
  // Suite and test name: unique within the process, so tests of several suites can share
  // the directory when the binary runs them all.
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  work_ = process_state().dir.file(std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::create_directories(work_ + "/state");
  config_path_ = work_ + "/convened.toml";
  write_file(config_path_, "");
}

void ConvenedTest::TearDown() {
  if (HasFailure()) {
    for (const auto& daemon : daemons_)
      std::cerr << "---- convened " << daemon->name() << " (pid " << daemon->pid() << ", " << daemon->log_path()
                << ") ----\n"
                << daemon->log() << "---- end of log ----\n";
  }
  daemons_.clear();  // SIGKILL whatever still runs
}

void ConvenedTest::create_database() {
  // A counter keeps the names unique across suites; PostgreSQL cuts identifiers at 63 bytes.
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "e2e_" + std::to_string(counter++) + "_" + lower_name(info->name());
  name.resize(std::min<std::size_t>(name.size(), 63));
  try {
    cluster().createdb(name);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  database_ = name;
}

void ConvenedTest::migrate(const std::map<std::string, std::string>& extra_env) {
  const auto r = run_convened({"migrate"}, extra_env);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
}

std::string ConvenedTest::admin_token(const std::string& email) {
  const auto r = run_convened({"token", "create", "--email", email, "--role", "admin"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  std::istringstream lines(r.output);  // stdout and stderr merged: the token line starts "cvn_"
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("cvn_", 0) == 0) return line;
  ADD_FAILURE() << "no token in: " << r.output;
  return "";
}

std::map<std::string, std::string> ConvenedTest::environment() const {
  // Commands that never connect still need a syntactically valid URL.
  const std::string url =
      database_.empty() ? "postgresql://convene@127.0.0.1:1/no_database_needed" : cluster().url(database_);
  std::map<std::string, std::string> env{{"CONVENE_DATABASE_URL", url},
                                         {"CONVENE_STATE_DIRECTORY", work_ + "/state"},
                                         {"CONVENE_HTTP_LISTEN", "127.0.0.1:" + std::to_string(free_port())}};
  for (const auto& [k, v] : settings_) env[k] = v;
  return env;
}

std::vector<std::string> ConvenedTest::command(const std::vector<std::string>& args) const {
  const char* other = std::getenv("CONVENE_TEST_BINARY");
  std::vector<std::string> argv{other != nullptr && *other != '\0' ? other : CONVENE_BINARY, "--config", config_path_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

CommandResult ConvenedTest::run_convened(const std::vector<std::string>& args,
                                         const std::map<std::string, std::string>& extra_env) const {
  auto env = environment();
  for (const auto& [k, v] : extra_env) env[k] = v;
  return run_command_with_timeout(command(args), env, command_timeout_);
}

Daemon& ConvenedTest::start_daemon(const std::string& name, const std::vector<std::string>& args,
                                   const std::map<std::string, std::string>& extra_env, int port) {
  if (port == 0) port = free_port();
  auto env = environment();
  env["CONVENE_HTTP_LISTEN"] = "127.0.0.1:" + std::to_string(port);
  for (const auto& [k, v] : extra_env) env[k] = v;
  daemons_.push_back(std::make_unique<Daemon>(name, port, work_ + "/" + name + ".log", command(args), env));
  return *daemons_.back();
}

void TwoInstancesTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(create_database());
  settings_ = {{"CONVENE_ORGANISATION_TIME_ZONE", "Europe/London"}, {"LSAN_OPTIONS", lsan_options_with_suppressions()}};
  ASSERT_NO_FATAL_FAILURE(migrate());
  token_ = admin_token();
  ASSERT_FALSE(token_.empty());
  start_daemon("a", {"serve"});
  start_daemon("b", {"serve"});
  for (const auto& instance : daemons_) ASSERT_EQ(instance->wait_ready().status, 200) << instance->log();
}

void TwoInstancesTest::TearDown() {
  for (const auto& instance : daemons_) {
    instance->signal(SIGTERM);
    EXPECT_EQ(instance->wait_for_exit(10s), 0) << instance->log();
  }
  ConvenedTest::TearDown();
}

}  // namespace convene::testing
