#pragma once
// The TBD annual-meeting placeholders of DESIGN §2: all-day over the window, tentative,
// "(date and time TBD)". One implementation, used by the API (community creation, the
// annual-meeting routes) and by the yearly `annual.placeholders` job.
#include "calendar/annual.hpp"
#include "calendar/clock.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>

namespace convene::jobs {

struct PlaceholderSettings {
  std::string organisation_time_zone = "UTC";  // the window's days are the committee's calendar
  std::string uid_domain = "localhost";        // right-hand side of the placeholders' UIDs
  calendar::AnnualWindowRule window;
};

// Creates the placeholder of `year` for one community, or for every active community when
// `community_id` is empty; communities that already have an annual meeting of `year` keep it.
void ensure_annual_placeholders(pqxx::work& tx, int year, std::optional<std::int64_t> community_id,
                                const PlaceholderSettings& settings, calendar::Instant now);

// This year's placeholders while this year's window is not over yet (organisation's calendar),
// and next year's.
void ensure_upcoming_annual_placeholders(pqxx::work& tx, std::optional<std::int64_t> community_id,
                                         const PlaceholderSettings& settings, calendar::Instant now);

}  // namespace convene::jobs
