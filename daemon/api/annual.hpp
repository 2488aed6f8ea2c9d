#pragma once
// Annual-meeting placeholders, shared by community creation and the annual-meeting routes.
#include "calendar/annual.hpp"
#include "daemon/api/api.hpp"

#include <cstdint>
#include <optional>

namespace convene::api {

// Creates the TBD placeholder of `year` for one community, or for every active community
// when `community_id` is empty. Idempotent.
void ensure_annual_placeholders(Call& call, int year, std::optional<std::int64_t> community_id = std::nullopt);

// The current year in the organisation's zone.
int current_year(const Call& call);

// The annual-meeting window of `year` under the configured rule.
calendar::DateWindow configured_window(const Call& call, int year);

}  // namespace convene::api
