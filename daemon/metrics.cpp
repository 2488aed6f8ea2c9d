#include "daemon/metrics.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace convene::daemon {

void PrometheusText::sample(const std::string& name, const std::string& help, const char* type, double value,
                            const std::string& labels) {
  if (name != last_family_) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    last_family_ = name;
  }
  out_ += name;
  if (!labels.empty()) out_ += "{" + labels + "}";
  char buf[64];
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, " %.0f\n", value);
  } else {
    std::snprintf(buf, sizeof buf, " %.15g\n", value);
  }
  out_ += buf;
}

void PrometheusText::histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                               const std::vector<std::uint64_t>& cumulative, std::uint64_t count, double sum) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  last_family_ = name;
  char le[32];
  for (std::size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
    std::snprintf(le, sizeof le, "%g", bounds[i]);
    out_ += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative[i]) + "\n";
  }
  out_ += name + "_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  char total[64];
  std::snprintf(total, sizeof total, "%.9g", sum);
  out_ += name + "_sum " + total + "\n" + name + "_count " + std::to_string(count) + "\n";
}

void PrometheusText::gauge(const std::string& name, const std::string& help, double value, const std::string& labels) {
  sample(name, help, "gauge", value, labels);
}

void PrometheusText::counter(const std::string& name, const std::string& help, double value,
                             const std::string& labels) {
  sample(name, help, "counter", value, labels);
}

std::string label_value(std::string_view raw) {
  std::string out;
  for (char c : raw) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void HttpMetrics::record(std::string_view route, int status, std::chrono::duration<double> elapsed) {
  const std::size_t cls = status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100) : 0;
  std::lock_guard lock(mutex_);
  // A route's name is copied once, the first time it is answered.
  auto found = routes_.find(route);
  if (found == routes_.end()) found = routes_.emplace(std::string(route), Counts{}).first;
  auto& counts = found->second;
  ++counts.by_class[cls];
  counts.seconds_total += elapsed.count();
}

void HttpMetrics::render(PrometheusText& out) const {
  std::lock_guard lock(mutex_);
  for (const auto& [route, counts] : routes_)
    for (std::size_t cls = 1; cls < counts.by_class.size(); ++cls)
      if (counts.by_class[cls] != 0)
        out.counter("convene_http_requests_total", "HTTP requests answered, by route and status class.",
                    static_cast<double>(counts.by_class[cls]),
                    "route=\"" + label_value(route) + "\",code=\"" + std::to_string(cls) + "xx\"");
  for (const auto& [route, counts] : routes_)
    out.counter("convene_http_request_seconds_total", "Time spent answering HTTP requests, by route.",
                counts.seconds_total, "route=\"" + label_value(route) + "\"");
}

ProcessMetrics read_process_metrics() {
  ProcessMetrics m;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (std::ifstream stat("/proc/self/stat"); stat) {
    std::string line;
    std::getline(stat, line);
    // Fields after the command name, which is in parentheses and may hold spaces.
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields(line.substr(close + 2));
      std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
      // f[0] is field 3 (state): utime=14, stime=15, num_threads=20, vsize=23, rss=24.
      if (f.size() > 22) {
        m.cpu_seconds_total = (std::stod(f[11]) + std::stod(f[12])) / ticks;
        m.threads = std::stod(f[17]);
        m.virtual_memory_bytes = std::stod(f[20]);
        m.resident_memory_bytes = std::stod(f[21]) * page;
      }
    }
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++fds;
  m.open_fds = fds;
  m.max_fds = static_cast<double>(sysconf(_SC_OPEN_MAX));
  return m;
}

void render_process_metrics(PrometheusText& out, const ProcessMetrics& p, double start_time_seconds) {
  out.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", p.cpu_seconds_total);
  out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_memory_bytes);
  out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_memory_bytes);
  out.gauge("process_open_fds", "Number of open file descriptors.", p.open_fds);
  out.gauge("process_max_fds", "Maximum number of open file descriptors.", p.max_fds);
  out.gauge("process_threads", "Number of OS threads in the process.", p.threads);
  out.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.",
            start_time_seconds);
}

void render_database_metrics(PrometheusText& out, const store::DatabaseStats& s) {
  out.gauge("convene_db_pool_max_connections", "Configured size of the PostgreSQL connection pool.",
            static_cast<double>(s.pool.max_size));
  out.gauge("convene_db_pool_connections", "PostgreSQL connections held by the pool, by state.",
            static_cast<double>(s.pool.in_use), "state=\"in_use\"");
  out.gauge("convene_db_pool_connections", "PostgreSQL connections held by the pool, by state.",
            static_cast<double>(s.pool.open - s.pool.in_use), "state=\"idle\"");
  out.counter("convene_db_connects_total", "PostgreSQL connections opened.", static_cast<double>(s.pool.connects_total));
  out.counter("convene_db_connect_failures_total", "Failed attempts to open a PostgreSQL connection.",
              static_cast<double>(s.pool.connect_failures_total));
  out.counter("convene_db_broken_connections_total", "Connections dropped because they broke.",
              static_cast<double>(s.pool.broken_total));
  out.counter("convene_db_pool_acquisitions_total", "Connections handed out by the pool.",
              static_cast<double>(s.pool.acquisitions_total));
  out.counter("convene_db_pool_acquire_timeouts_total", "Waits for a free connection that timed out.",
              static_cast<double>(s.pool.acquire_timeouts_total));
  out.counter("convene_db_pool_acquire_wait_seconds_total", "Time spent waiting for a pooled connection.",
              s.pool.acquire_wait_seconds_total);
  out.counter("convene_db_transactions_total", "Transactions started through the retrying helper.",
              static_cast<double>(s.transactions_total));
  out.counter("convene_db_transaction_retries_total",
              "Transactions replayed after a serialization failure, deadlock or broken connection.",
              static_cast<double>(s.transaction_retries_total));
  out.counter("convene_db_transaction_failures_total", "Transactions that failed for good.",
              static_cast<double>(s.transaction_failures_total));
}

}  // namespace convene::daemon
