#include "calendar/zones.hpp"

#include <libical/ical.h>

#include <mutex>
#include <string>

namespace convene::calendar {
namespace {

bool plausible_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
                    c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

std::mutex& libical_zone_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

bool is_known_zone(std::string_view name) {
  if (!plausible_zone_name(name)) return false;
  const std::string zone(name);
  std::lock_guard lock(libical_zone_mutex());
  return icaltimezone_get_builtin_timezone(zone.c_str()) != nullptr;
}

void preload_zones() {
  std::lock_guard lock(libical_zone_mutex());
  icaltimezone_get_builtin_timezones();
}

}  // namespace convene::calendar
