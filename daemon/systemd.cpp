#include "daemon/systemd.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace convene::daemon::systemd {

void notify(std::string_view state) {
  const std::string message(state);
  sd_notify(0, message.c_str());
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
  return std::nullopt;
}

}  // namespace convene::daemon::systemd
