#pragma once
// sd_notify(3) for Type=notify units; harmless no-ops when not run by systemd.
#include <chrono>
#include <optional>
#include <string_view>

namespace convene::daemon::systemd {

void notify(std::string_view state);  // "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=..."

// The WatchdogSec= interval when systemd expects pings from this process.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace convene::daemon::systemd
