// Feed caches across instances: two `convened serve` processes on one database. Instance B
// caches a public community feed; a change made through instance A reaches B within seconds
// through NOTIFY convene_feeds (schema/003) and B's LISTEN (store/listener.cpp), also after
// PostgreSQL restarted (the listener reconnects). Cluster, database and processes come from
// support/e2e_fixture.hpp.
#include "support/e2e_fixture.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;

HttpReply call(int port, const std::string& method, const std::string& path, const std::string& token = "",
               const std::string& body = "") {
  return http_request(port, method, path, {.token = token, .body = body});
}

class FeedsAcrossInstances : public TwoInstancesTest {
 protected:
  // Both instances also listen for notifications before a test starts.
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(TwoInstancesTest::SetUp());
    for (std::size_t i = 0; i < 2; ++i)
      ASSERT_TRUE(wait_until([&] { return listening(port(i)); }, 15s))
          << "instance " << i << " never reported LISTEN connected\n" << daemons_[i]->log();
  }

  std::string metrics(int port) { return call(port, "GET", "/metrics").body; }
  bool listening(int port) { return sample_value(metrics(port), "convene_notification_listener_connected") == 1.0; }
  double cache_hits(int port) { return sample_value(metrics(port), "convene_feed_cache_hits_total").value_or(-1); }
  std::string logs() { return "--- A ---\n" + daemons_[0]->log() + "\n--- B ---\n" + daemons_[1]->log(); }

  // Fetches the feed from B until B answers it from its cache (the cache-hit counter rises on a
  // repeated request), so that seeing new content later proves the cached copy was dropped, not
  // that B never caches. (Notifications of the set-up's own changes may still arrive just after
  // B's first build and drop that copy: that is correct, so retry.)
  HttpReply cached_on_b(const std::string& path) {
    HttpReply first, second;
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
                std::chrono::milliseconds timeout, HttpReply* last) {
    return wait_until(
        [&] {
          *last = call(b(), "GET", path);
          return last->status == 200 && last->etag != old_etag && contains(last->body, text);
        },
        timeout, 100ms);
  }
  // Renames the meeting through A; retries while A's pool reconnects after a restart.
  bool rename_through_a(std::int64_t meeting, const std::string& title, std::chrono::milliseconds timeout) {
    HttpReply r;
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

  int a() const { return port(0); }
  int b() const { return port(1); }
};

TEST_F(FeedsAcrossInstances, AChangeThroughOneInstanceReachesTheOthersCachedFeed) {
  auto r = call(a(), "POST", "/v1/communities", token_, R"({"slug":"pub","name":"Pub"})");
  ASSERT_EQ(r.status, 201) << r.body;
  r = call(a(), "POST", "/v1/communities/pub/meetings", token_,
           R"({"title":"Original title","start":"2027-03-01T18:00","end":"2027-03-01T19:00","time_zone":"Europe/London"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const auto meeting = boost::json::parse(r.body).at("id").as_int64();
  const std::string path = "/feeds/communities/pub.ics";

  const HttpReply before = cached_on_b(path);
  ASSERT_TRUE(contains(before.body, "SUMMARY:Original title")) << before.body;
  ASSERT_FALSE(before.etag.empty());

  ASSERT_TRUE(rename_through_a(meeting, "Renamed through A", 10s));
  HttpReply last;
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
  const HttpReply before = cached_on_b(path);
  ASSERT_TRUE(contains(before.body, "SUMMARY:Before the restart"));

  ASSERT_NO_THROW(cluster().stop());
  // Feeds are answered from memory: B keeps serving its cached copy while the database is down.
  const auto while_down = call(b(), "GET", path);
  const bool b_noticed = wait_until([&] { return !listening(b()); }, 15s, 100ms);
  ASSERT_NO_THROW(cluster().start());
  EXPECT_EQ(while_down.status, 200) << while_down.body;
  EXPECT_EQ(while_down.etag, before.etag);
  EXPECT_TRUE(b_noticed) << "B's listener did not notice that PostgreSQL went away\n" << logs();

  // A change through A reaches B (whether through the reconnected LISTEN or the reconnect's
  // "drop everything").
  ASSERT_TRUE(rename_through_a(meeting, "After the restart", 30s));
  HttpReply last;
  EXPECT_TRUE(b_serves(path, "SUMMARY:After the restart", before.etag, 15s, &last))
      << "B still serves " << last.status << " " << last.etag << "\n" << last.body << logs();

  // And the reconnected LISTEN itself delivers: with B's listener back and the feed cached on B
  // again, the next change through A shows on B within seconds.
  ASSERT_TRUE(wait_until([&] { return listening(b()); }, 15s, 100ms)) << "B's listener did not reconnect\n" << logs();
  const HttpReply cached = cached_on_b(path);
  ASSERT_TRUE(contains(cached.body, "SUMMARY:After the restart")) << cached.body;
  ASSERT_TRUE(rename_through_a(meeting, "Second change after the restart", 10s));
  EXPECT_TRUE(b_serves(path, "SUMMARY:Second change after the restart", cached.etag, 5s, &last))
      << "B still serves " << last.status << " " << last.etag << "\n" << last.body << logs();
}

}  // namespace
}  // namespace convene::testing
