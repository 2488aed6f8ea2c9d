#include "daemon/http_server.hpp"
#include "support/loop_thread.hpp"
#include "support/test_database.hpp"

#include <httplib.h>

#include <gtest/gtest.h>

using namespace convene;
using convene::testing::DatabaseTest;
using convene::testing::project_migrations;

namespace {

class HttpServerTest : public DatabaseTest {
 protected:
  HttpServerTest()
      : database_([this] {
          store::PoolOptions o;
          o.conninfo = db.url();
          o.max_size = 2;
          return o;
        }()),
        readiness_(database_, project_migrations()) {
    config_.http_listen = {"127.0.0.1", 0};
    config_.http_threads = 2;
    config_.http_max_body = 4096;
    server_ = std::make_unique<daemon::HttpServer>(
        loop_.context(), config_, daemon::HttpServer::Services{readiness_, metrics_, [] { return std::string("up 1\n"); }});
    server_->start();
    loop_.start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(10, 0);
  }
  ~HttpServerTest() override {
    client_.reset();
    loop_.run([this] { server_->stop(); });
    loop_.stop();
  }

  convene::testing::LoopThread loop_;
  daemon::Config config_;
  store::Database database_;
  daemon::Readiness readiness_;
  daemon::HttpMetrics metrics_;
  std::unique_ptr<daemon::HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace

TEST_F(HttpServerTest, ReadyzFollowsTheDatabase) {
  auto res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json");
  EXPECT_NE(res->body.find("\"status\":503"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("migrations pending: 001_core"), std::string::npos) << res->body;

  db.migrate();
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"status":"ready"})");
}

TEST_F(HttpServerTest, HealthzAnswersWithoutTheDatabase) {
  auto res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
}

TEST_F(HttpServerTest, MetricsAreServedAsPrometheusText) {
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, "up 1\n");
}

TEST_F(HttpServerTest, UnknownRoutesAnswerProblemJson) {
  auto res = client_->Get("/v1/nothing-here");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json");
  EXPECT_NE(res->body.find("\"title\":\"Not Found\""), std::string::npos);
}

TEST_F(HttpServerTest, CountsRequestsByRoute) {
  client_->Get("/healthz");
  client_->Get("/healthz");
  client_->Get("/missing");
  daemon::PrometheusText out;
  metrics_.render(out);
  EXPECT_NE(out.str().find("convene_http_requests_total{route=\"/healthz\",code=\"2xx\"} 2"), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("convene_http_requests_total{route=\"unmatched\",code=\"4xx\"} 1"), std::string::npos)
      << out.str();
}

TEST_F(HttpServerTest, StopEndsServingAndIsIdempotent) {
  loop_.run([this] { server_->stop(); });
  loop_.run([this] { server_->stop(); });
  httplib::Client fresh("127.0.0.1", server_->port());
  fresh.set_connection_timeout(1, 0);
  EXPECT_FALSE(fresh.Get("/healthz"));
}
