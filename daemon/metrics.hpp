#pragma once
// Prometheus text exposition (format 0.0.4) of the process, the pool and the HTTP server.
#include "store/database.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace convene::daemon {

// Appends metric families; HELP and TYPE are written once per name.
class PrometheusText {
 public:
  void gauge(const std::string& name, const std::string& help, double value, const std::string& labels = "");
  void counter(const std::string& name, const std::string& help, double value, const std::string& labels = "");
  // `cumulative[i]` counts observations <= bounds[i]; count and sum cover all of them.
  void histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                 const std::vector<std::uint64_t>& cumulative, std::uint64_t count, double sum);
  const std::string& str() const { return out_; }

 private:
  void sample(const std::string& name, const std::string& help, const char* type, double value,
              const std::string& labels);
  std::string out_;
  std::string last_family_;
};

// Escapes a label value ('\\', '"', newline) for use inside labels="...".
std::string label_value(std::string_view raw);

// Requests by route and status class, counted from the HTTP threads.
class HttpMetrics {
 public:
  void record(std::string_view route, int status, std::chrono::duration<double> elapsed);
  void render(PrometheusText& out) const;

 private:
  struct Counts {
    std::array<std::uint64_t, 6> by_class{};  // index = status / 100
    double seconds_total = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Counts, std::less<>> routes_;
};

struct ProcessMetrics {
  double cpu_seconds_total = 0;
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double threads = 0;
};

// Reads /proc/self; fields that cannot be read stay 0.
ProcessMetrics read_process_metrics();

void render_database_metrics(PrometheusText& out, const store::DatabaseStats& stats);
void render_process_metrics(PrometheusText& out, const ProcessMetrics& process, double start_time_seconds);

}  // namespace convene::daemon
