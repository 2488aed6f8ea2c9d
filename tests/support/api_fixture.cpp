#include "support/api_fixture.hpp"

#include "daemon/pages/unsubscribe.hpp"

#include "store/sql_time.hpp"
#include "store/tokens.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pqxx/pqxx>

namespace convene::testing {

std::string ApiResponse::describe() const { return std::to_string(status) + " " + body; }

void ApiTest::SetUp() {
  MigratedDatabaseTest::SetUp();
  using namespace std::chrono;
  clock.set(calendar::Instant{sys_days{2026y / November / 28}.time_since_epoch() + 12h});
  config.http_listen = {"127.0.0.1", 0};
  config.http_threads = 4;
  // Tests make hundreds of requests (and many failed authentications) from one address; the
  // limits have tests of their own (tests/e2e/hostile_http_test.cpp, rate_limit_test.cpp).
  for (auto* limit : {&config.rate_limit_api, &config.rate_limit_token, &config.rate_limit_auth_failures,
                      &config.rate_limit_links, &config.rate_limit_feeds})
    *limit = daemon::RateLimit{0, 0};
  config.organisation_time_zone = "Europe/London";
  config.public_url = "https://convene.example.org";
  store::PoolOptions pool;
  pool.conninfo = db.url();
  pool.max_size = 4;
  database_ = std::make_unique<store::Database>(pool);
  templates_ = std::make_unique<notifiers::Templates>(notifiers::Templates::load(CONVENE_TEMPLATES_DIR));
  api_ = std::make_unique<api::Api>(
      api::v1_api(api::Services{*database_, config, clock, nullptr, [] {}, templates_.get()}));
  feed_cache_ = std::make_unique<feeds::FeedCache>();
  feeds_ = std::make_unique<feeds::FeedService>(*database_, config, clock, *feed_cache_);
  link_key_ = std::make_unique<daemon::LinkKey>(*database_, clock);
  unsubscribe_ = std::make_unique<daemon::UnsubscribeService>(*database_, clock, *link_key_);
  preferences_ = std::make_unique<daemon::PreferencesService>(*database_, config, clock, *link_key_);
  metrics_ = std::make_unique<daemon::HttpMetrics>();
  readiness_ = std::make_unique<daemon::Readiness>(*database_, project_migrations());
  loop_ = std::make_unique<LoopThread>();
  server_ = std::make_unique<daemon::HttpServer>(
      loop_->context(), config, daemon::HttpServer::Services{*readiness_, *metrics_, [] { return std::string(); },
                                                            [this](daemon::http::Router& router) {
                                                              api_->install(router);
                                                              feeds_->install(router);
                                                              unsubscribe_->install(router);
                                                              preferences_->install(router);
                                                            }});
  server_->start();
  loop_->start();
  client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  client_->set_read_timeout(30, 0);
  const auto admin = make_member("admin@example.org");
  grant_global(admin, "admin");
  admin_token = token_for(admin);
}

void ApiTest::TearDown() {
  client_.reset();
  if (server_) loop_->run([this] { server_->stop(); });
  if (loop_) loop_->stop();
  server_.reset();
  loop_.reset();
  api_.reset();
  feeds_.reset();
  feed_cache_.reset();
  database_.reset();
}

ApiResponse ApiTest::request(const std::string& method, const std::string& path, const std::string& token,
                             const std::string& body, const std::string& content_type,
                             const httplib::Headers& extra_headers) {
  httplib::Headers headers = extra_headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  httplib::Result result{nullptr, httplib::Error::Unknown};
  if (method == "GET") result = client_->Get(path.c_str(), headers);
  else if (method == "POST") result = client_->Post(path.c_str(), headers, body, content_type.c_str());
  else if (method == "PUT") result = client_->Put(path.c_str(), headers, body, content_type.c_str());
  else if (method == "PATCH") result = client_->Patch(path.c_str(), headers, body, content_type.c_str());
  else if (method == "DELETE") result = client_->Delete(path.c_str(), headers, body, content_type.c_str());
  ApiResponse r;
  if (!result) return r;
  r.status = result->status;
  r.body = result->body;
  r.content_type = result->get_header_value("Content-Type");
  r.headers = result->headers;
  if (r.content_type.find("json") != std::string::npos && !r.body.empty()) {
    boost::system::error_code ec;
    r.json = boost::json::parse(r.body, ec);
  }
  return r;
}

std::int64_t ApiTest::make_member(const std::string& email, const std::string& time_zone) {
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  const auto id = tx.exec_params(
                        "INSERT INTO members (email, name, time_zone, created_at, updated_at) VALUES ($1, $2, $3, now(), now()) "
                        "RETURNING id",
                        email, email.substr(0, email.find('@')), time_zone)[0][0]
                      .as<std::int64_t>();
  tx.commit();
  return id;
}

std::string ApiTest::token_for(std::int64_t member_id) {
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  const std::string token = store::generate_token(store::TokenPurpose::api);
  store::insert_token(tx, member_id, store::TokenPurpose::api, token, "test", store::sql_instant(clock.now()));
  tx.commit();
  return token;
}

void ApiTest::grant_global(std::int64_t member_id, const std::string& role) {
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  tx.exec_params("INSERT INTO roles (member_id, role, starts_on, created_at) VALUES ($1, $2, '2026-01-01', now())",
                 member_id, role);
  tx.commit();
}

void ApiTest::grant(std::int64_t member_id, const std::string& slug, const std::string& role,
                    const std::string& starts_on, const std::string& ends_on) {
  pqxx::connection c(db.url());
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO roles (member_id, community_id, role, starts_on, ends_on, created_at) "
      "SELECT $1, id, $3, $4::date, nullif($5, '')::date, now() FROM communities WHERE slug = $2",
      member_id, slug, role, starts_on, ends_on);
  tx.commit();
}

std::int64_t ApiTest::make_community(const std::string& slug, const std::string& name) {
  const auto r = post("/v1/communities", admin_token,
                      boost::json::serialize(boost::json::object{{"slug", slug}, {"name", name.empty() ? slug : name}}));
  if (r.status != 201) throw std::runtime_error("make_community: " + r.describe());
  return r.json.at("id").as_int64();
}

std::int64_t ApiTest::make_room(const std::string& name) {
  const auto r = post("/v1/rooms", admin_token,
                      boost::json::serialize(boost::json::object{
                          {"name", name}, {"join_url", "https://meet.example.org/" + name}, {"capacity", 20}}));
  if (r.status != 201) throw std::runtime_error("make_room: " + r.describe());
  return r.json.at("id").as_int64();
}

long long ApiTest::count(const std::string& sql) {
  pqxx::connection c(db.url());
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<long long>();
}

}  // namespace convene::testing
