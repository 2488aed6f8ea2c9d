#pragma once
#include "daemon/pages/preferences.hpp"
#include "daemon/pages/unsubscribe.hpp"
// An in-process convened HTTP server (the real v1 API over real HTTP) on a fresh, migrated
// database, with a manual clock and helpers to make members with roles and tokens.
#include "calendar/clock.hpp"
#include "daemon/api/api.hpp"
#include "daemon/feeds/feed_routes.hpp"
#include "daemon/http_server.hpp"
#include "notifiers/templates.hpp"
#include "support/loop_thread.hpp"
#include "support/test_database.hpp"

#include <boost/json/value.hpp>
#include <httplib.h>

#include <memory>
#include <string>

namespace convene::testing {

struct ApiResponse {
  int status = 0;  // 0 when no response arrived
  std::string body;
  std::string content_type;
  boost::json::value json;  // parsed body when it is JSON, null otherwise
  httplib::Headers headers;
  std::string describe() const;  // "409 {...}" for assertion messages
};

class ApiTest : public MigratedDatabaseTest {
 protected:
  // The clock starts at 2026-11-28T12:00:00Z unless a test sets it.
  void SetUp() override;
  void TearDown() override;

  ApiResponse request(const std::string& method, const std::string& path, const std::string& token = "",
                      const std::string& body = "", const std::string& content_type = "application/json",
                      const httplib::Headers& extra_headers = {});
  ApiResponse get(const std::string& path, const std::string& token) { return request("GET", path, token); }
  ApiResponse post(const std::string& path, const std::string& token, const std::string& body = "") {
    return request("POST", path, token, body);
  }

  // Direct database helpers (bypassing the API) to set up a scene quickly.
  std::int64_t make_member(const std::string& email, const std::string& time_zone = "Europe/London");
  std::string token_for(std::int64_t member_id);
  // An address suppressed as a relay's 550 to RCPT leaves it (schema 014), refused at
  // `refused_at` (a timestamptz; PostgreSQL reads "now" as the current time).
  void suppress(const std::string& address, const std::string& refused_at = "now") {
    sql("INSERT INTO suppressions (address, code, reason, notification_id, first_refused_at, last_refused_at) "
        "VALUES ($1, 550, 'SMTP 550: 5.1.1 no such user', notification_id($1), $2::timestamptz, $2::timestamptz)",
        address, refused_at);
  }
  void grant_global(std::int64_t member_id, const std::string& role);  // admin, committee
  void grant(std::int64_t member_id, const std::string& community_slug, const std::string& role,
             const std::string& starts_on = "2026-01-01", const std::string& ends_on = "");
  std::int64_t make_community(const std::string& slug, const std::string& name = "");  // through the API, as admin
  std::int64_t make_room(const std::string& name);                                       // through the API, as admin
  long long count(const std::string& sql);  // SELECT count(*) ... in the test database

  // The feed cache of the in-process server (no LISTEN here: tests invalidate it themselves
  // or rely on it being empty).
  feeds::FeedCache& feed_cache() { return *feed_cache_; }

  // The loop the fixture's server runs on, for servers a test builds itself; stop those with
  // stop_server before destroying them.
  boost::asio::io_context& loop() { return loop_->context(); }
  void stop_server(daemon::HttpServer& server) {
    loop_->run([&] { server.stop(); });
  }

  // The repository's email templates (for servers a test builds itself).
  const notifiers::Templates* templates() const { return templates_.get(); }

  std::string admin_token;  // a member with the admin role, made in SetUp
  calendar::ManualClock clock{calendar::Instant{}};
  daemon::Config config;

 private:
  // Declared first: the server's connections live on this loop until the end.
  std::unique_ptr<LoopThread> loop_;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<notifiers::Templates> templates_;  // the repository's templates/ (digest previews)
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<feeds::FeedCache> feed_cache_;
  std::unique_ptr<feeds::FeedService> feeds_;
  std::unique_ptr<daemon::LinkKey> link_key_;
  std::unique_ptr<daemon::UnsubscribeService> unsubscribe_;
  std::unique_ptr<daemon::PreferencesService> preferences_;
  std::unique_ptr<daemon::HttpMetrics> metrics_;
  std::unique_ptr<daemon::Readiness> readiness_;
  std::unique_ptr<daemon::HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace convene::testing
