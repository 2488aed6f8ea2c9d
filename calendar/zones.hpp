#pragma once
// IANA time zones from the system's zone database (tzdata), through libical.
#include <string>
#include <string_view>
#include <vector>

namespace convene::calendar {

// True when `name` is a zone of the system's IANA database ("Europe/London", "UTC").
// Names are checked for shape first, so nothing like "../etc/passwd" reaches the file system.
bool is_known_zone(std::string_view name);

// Every zone is_known_zone accepts that libical lists ("Africa/Abidjan" ... "UTC"), sorted:
// the choices of a time-zone picker.
const std::vector<std::string>& zone_names();

// Loads libical's zone table up front. libical fills it lazily and not thread-safely, so the
// daemon calls this once on the main thread before worker threads use zones.
void preload_zones();

}  // namespace convene::calendar
