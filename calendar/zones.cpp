#include "calendar/zones.hpp"

#include <libical/ical.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "calendar/libical_lock.hpp"

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

}  // namespace

std::mutex& libical_mutex() {
  static std::mutex m;
  return m;
}

icaltimezone* detail::find_zone_locked(std::string_view name) {
  // libical's lookup costs microseconds, and conversions look zones up all the time. Builtin
  // zones live until the process ends, so known ones are remembered (a few hundred at most;
  // unknown names are not, so untrusted input cannot grow the map).
  static std::map<std::string, icaltimezone*, std::less<>> known;
  if (const auto it = known.find(name); it != known.end()) return it->second;
  if (!plausible_zone_name(name)) return nullptr;
  std::string zone(name);
  icaltimezone* found = icaltimezone_get_builtin_timezone(zone.c_str());
  if (found != nullptr) known.emplace(std::move(zone), found);
  return found;
}

bool is_known_zone(std::string_view name) {
  std::lock_guard lock(libical_mutex());
  return detail::find_zone_locked(name) != nullptr;
}

const std::vector<std::string>& zone_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out{"UTC"};
    std::lock_guard lock(libical_mutex());
    icalarray* zones = icaltimezone_get_builtin_timezones();
    for (size_t i = 0; zones != nullptr && i < zones->num_elements; ++i) {
      const char* location = icaltimezone_get_location(static_cast<icaltimezone*>(icalarray_element_at(zones, i)));
      if (location != nullptr && plausible_zone_name(location)) out.emplace_back(location);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }();
  return names;
}

void preload_zones() {
  std::lock_guard lock(libical_mutex());
  icaltimezone_get_builtin_timezones();
}

}  // namespace convene::calendar
