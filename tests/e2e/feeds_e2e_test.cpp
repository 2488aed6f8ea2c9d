// Feed caches across instances: two `convened serve` processes on one database. Instance B
// caches a public community feed; a change made through instance A reaches B within seconds
// through NOTIFY convene_feeds (schema/003) and B's LISTEN (store/listener.cpp), also after
// PostgreSQL restarted (the listener reconnects).
#include "support/process.hpp"

#include <boost/json.hpp>
#include <httplib.h>

#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <sstream>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

struct Reply {
  int status = 0;  // 0: no answer
  std::string body, etag;
};

Reply call(int port, const std::string& method, const std::string& path, const std::string& token = "",
           const std::string& body = "") {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(30, 0);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  httplib::Result r{nullptr, httplib::Error::Unknown};
  if (method == "POST") r = client.Post(path.c_str(), headers, body, "application/json");
  else if (method == "PATCH") r = client.Patch(path.c_str(), headers, body, "application/json");
  else r = client.Get(path.c_str(), headers);
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  out.etag = r->get_header_value("ETag");
  return out;
}

// A sample of the Prometheus exposition ("name value" at the start of a line).
std::optional<double> sample(const std::string& exposition, const std::string& series) {
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

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class FeedsAcrossInstances : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_convene_environment();
    dir_ = std::make_unique<TempDir>("convene-e2e-feeds");
    cluster_ = std::make_unique<PgCluster>(dir_->file("pg"));
    cluster_->createdb("feeds");
    env_ = {{"CONVENE_DATABASE_URL", cluster_->url("feeds")},
            {"CONVENE_STATE_DIRECTORY", dir_->path()},
            {"CONVENE_ORGANISATION_TIME_ZONE", "Europe/London"},
            {"LSAN_OPTIONS", "suppressions=" CONVENE_SOURCE_DIR "/tests/lsan.supp:print_suppressions=0"}};
    write_file(dir_->file("convened.toml"), "");
    const auto migrated =
        run_command_with_timeout({CONVENE_BINARY, "--config", dir_->file("convened.toml"), "migrate"}, env_, 60s);
    ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
    const auto token = run_command_with_timeout({CONVENE_BINARY, "--config", dir_->file("convened.toml"), "token", "create",
                                                 "--email", "admin@example.org", "--role", "admin"},
                                                env_, 60s);
    ASSERT_EQ(token.exit_code, 0) << token.output;
    std::istringstream lines(token.output);  // stdout and stderr merged: the token line starts "cvn_"
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("cvn_", 0) == 0) token_ = line;
    ASSERT_FALSE(token_.empty()) << token.output;
    for (int i = 0; i < 2; ++i) {
      ports_[i] = free_port();
      auto env = env_;
      env["CONVENE_HTTP_LISTEN"] = "127.0.0.1:" + std::to_string(ports_[i]);
      processes_[i] = std::make_unique<ChildProcess>(
          std::vector<std::string>{CONVENE_BINARY, "--config", dir_->file("convened.toml"), "serve"}, env,
          dir_->file("convened-" + std::string(1, static_cast<char>('a' + i)) + ".log"));
    }
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(wait_until([&] { return call(ports_[i], "GET", "/readyz").status == 200; }, 30s))
          << processes_[i]->log();
      ASSERT_TRUE(wait_until([&] { return listening(ports_[i]); }, 15s))
          << "instance " << i << " never reported LISTEN connected\n" << processes_[i]->log();
    }
  }

  void TearDown() override {
    for (auto& p : processes_) {
      if (!p) continue;
      p->signal(SIGTERM);
      EXPECT_EQ(p->wait_for_exit(10s), 0) << p->log();
    }
  }

  std::string metrics(int port) { return call(port, "GET", "/metrics").body; }
  bool listening(int port) { return sample(metrics(port), "convene_notification_listener_connected") == 1.0; }
  double cache_hits(int port) { return sample(metrics(port), "convene_feed_cache_hits_total").value_or(-1); }
  std::string logs() { return "--- A ---\n" + processes_[0]->log() + "\n--- B ---\n" + processes_[1]->log(); }

  // Fetches the feed from B until B answers it from its cache (the cache-hit counter rises on a
  // repeated request), so that seeing new content later proves the cached copy was dropped, not
  // that B never caches. (Notifications of the set-up's own changes may still arrive just after
  // B's first build and drop that copy: that is correct, so retry.)
  Reply cached_on_b(const std::string& path) {
    Reply first, second;
    double hits = 0;
    const bool cached = wait_until(
        [&] {
          first = call(b(), "GET", path);
          hits = cache_hits(b());
          second = call(b(), "GET", path);
          return first.status == 200 && second.status == 200 && second.etag == first.etag && cache_hits(b()) > hits;
        },
        10s, 200ms);
    EXPECT_EQ(second.status, 200) << second.body;
    EXPECT_TRUE(cached) << "instance B does not keep the feed cached, so the test would prove nothing";
    return second;
  }
  // Polls B until its feed shows `text` with an ETag other than `old_etag`.
  bool b_serves(const std::string& path, const std::string& text, const std::string& old_etag,
                std::chrono::milliseconds timeout, Reply* last) {
    return wait_until(
        [&] {
          *last = call(b(), "GET", path);
          return last->status == 200 && last->etag != old_etag && contains(last->body, text);
        },
        timeout, 100ms);
  }
  // Renames the meeting through A; retries while A's pool reconnects after a restart.
  bool rename_through_a(std::int64_t meeting, const std::string& title, std::chrono::milliseconds timeout) {
    Reply r;
    const bool ok = wait_until(
        [&] {
          r = call(a(), "PATCH", "/v1/meetings/" + std::to_string(meeting), token_,
                   boost::json::serialize(boost::json::object{{"title", title}}));
          return r.status == 200;
        },
        timeout, 250ms);
    EXPECT_TRUE(ok) << "PATCH through A: " << r.status << " " << r.body;
    return ok;
  }

  int a() const { return ports_[0]; }
  int b() const { return ports_[1]; }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<PgCluster> cluster_;
  std::map<std::string, std::string> env_;
  std::string token_;
  int ports_[2] = {0, 0};
  std::unique_ptr<ChildProcess> processes_[2];
};

TEST_F(FeedsAcrossInstances, AChangeThroughOneInstanceReachesTheOthersCachedFeed) {
  auto r = call(a(), "POST", "/v1/communities", token_, R"({"slug":"pub","name":"Pub"})");
  ASSERT_EQ(r.status, 201) << r.body;
  r = call(a(), "POST", "/v1/communities/pub/meetings", token_,
           R"({"title":"Original title","start":"2027-03-01T18:00","end":"2027-03-01T19:00","time_zone":"Europe/London"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const auto meeting = boost::json::parse(r.body).at("id").as_int64();
  const std::string path = "/feeds/communities/pub.ics";

  const Reply before = cached_on_b(path);
  ASSERT_TRUE(contains(before.body, "SUMMARY:Original title")) << before.body;
  ASSERT_FALSE(before.etag.empty());

  ASSERT_TRUE(rename_through_a(meeting, "Renamed through A", 10s));
  Reply last;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(b_serves(path, "SUMMARY:Renamed through A", before.etag, 5s, &last))
      << "B still serves " << last.status << " " << last.etag << " (was " << before.etag << ")\n" << last.body << logs();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  RecordProperty("notify_ms", static_cast<int>(took.count()));
  // A's own copy agrees with B's.
  EXPECT_EQ(call(a(), "GET", path).etag, last.etag);
}

TEST_F(FeedsAcrossInstances, InvalidationStillReachesTheOtherInstanceAfterPostgresRestarts) {
  auto r = call(a(), "POST", "/v1/communities", token_, R"({"slug":"pub","name":"Pub"})");
  ASSERT_EQ(r.status, 201) << r.body;
  r = call(a(), "POST", "/v1/communities/pub/meetings", token_,
           R"({"title":"Before the restart","start":"2027-03-01T18:00","end":"2027-03-01T19:00"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const auto meeting = boost::json::parse(r.body).at("id").as_int64();
  const std::string path = "/feeds/communities/pub.ics";
  const Reply before = cached_on_b(path);
  ASSERT_TRUE(contains(before.body, "SUMMARY:Before the restart"));

  ASSERT_NO_THROW(cluster_->stop());
  // Feeds are answered from memory: B keeps serving its cached copy while the database is down.
  const auto while_down = call(b(), "GET", path);
  const bool b_noticed = wait_until([&] { return !listening(b()); }, 15s, 100ms);
  ASSERT_NO_THROW(cluster_->start());
  EXPECT_EQ(while_down.status, 200) << while_down.body;
  EXPECT_EQ(while_down.etag, before.etag);
  EXPECT_TRUE(b_noticed) << "B's listener did not notice that PostgreSQL went away\n" << logs();

  // A change through A reaches B (whether through the reconnected LISTEN or the reconnect's
  // "drop everything").
  ASSERT_TRUE(rename_through_a(meeting, "After the restart", 30s));
  Reply last;
  EXPECT_TRUE(b_serves(path, "SUMMARY:After the restart", before.etag, 15s, &last))
      << "B still serves " << last.status << " " << last.etag << "\n" << last.body << logs();

  // And the reconnected LISTEN itself delivers: with B's listener back and the feed cached on B
  // again, the next change through A shows on B within seconds.
  ASSERT_TRUE(wait_until([&] { return listening(b()); }, 15s, 100ms)) << "B's listener did not reconnect\n" << logs();
  const Reply cached = cached_on_b(path);
  ASSERT_TRUE(contains(cached.body, "SUMMARY:After the restart")) << cached.body;
  ASSERT_TRUE(rename_through_a(meeting, "Second change after the restart", 10s));
  EXPECT_TRUE(b_serves(path, "SUMMARY:Second change after the restart", cached.etag, 5s, &last))
      << "B still serves " << last.status << " " << last.etag << "\n" << last.body << logs();
}

}  // namespace
}  // namespace convene::testing
