#include "daemon/metrics.hpp"

#include <gtest/gtest.h>

using namespace convene::daemon;

TEST(PrometheusText, WritesHelpAndTypeOncePerFamily) {
  PrometheusText out;
  out.gauge("convene_db_pool_connections", "Connections.", 2, "state=\"in_use\"");
  out.gauge("convene_db_pool_connections", "Connections.", 3, "state=\"idle\"");
  out.counter("convene_db_connects_total", "Opened.", 7);
  out.gauge("process_start_time_seconds", "Start.", 1795876790.25);
  EXPECT_EQ(out.str(),
            "# HELP convene_db_pool_connections Connections.\n"
            "# TYPE convene_db_pool_connections gauge\n"
            "convene_db_pool_connections{state=\"in_use\"} 2\n"
            "convene_db_pool_connections{state=\"idle\"} 3\n"
            "# HELP convene_db_connects_total Opened.\n"
            "# TYPE convene_db_connects_total counter\n"
            "convene_db_connects_total 7\n"
            "# HELP process_start_time_seconds Start.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds 1795876790.25\n");
}

TEST(PrometheusText, EscapesLabelValues) { EXPECT_EQ(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd"); }

TEST(HttpMetrics, CountsByRouteAndStatusClass) {
  HttpMetrics metrics;
  metrics.record("/readyz", 200, std::chrono::milliseconds(5));
  metrics.record("/readyz", 503, std::chrono::milliseconds(5));
  metrics.record("/readyz", 200, std::chrono::milliseconds(5));
  PrometheusText out;
  metrics.render(out);
  EXPECT_NE(out.str().find("convene_http_requests_total{route=\"/readyz\",code=\"2xx\"} 2\n"), std::string::npos);
  EXPECT_NE(out.str().find("convene_http_requests_total{route=\"/readyz\",code=\"5xx\"} 1\n"), std::string::npos);
  EXPECT_NE(out.str().find("convene_http_request_seconds_total{route=\"/readyz\"} 0.015"), std::string::npos);
}

TEST(ProcessMetrics, ReadsThisProcess) {
  const auto m = read_process_metrics();
  EXPECT_GT(m.resident_memory_bytes, 1e5);
  EXPECT_GE(m.virtual_memory_bytes, m.resident_memory_bytes);
  EXPECT_GE(m.open_fds, 3);
  EXPECT_GE(m.threads, 1);
}
