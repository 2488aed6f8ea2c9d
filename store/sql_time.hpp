#pragma once
// Instants and local times to and from PostgreSQL text. Pooled sessions run with
// TimeZone=UTC, so timestamptz comes back as "2027-07-12 13:00:00+00".
#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"

#include <string>
#include <string_view>

namespace convene::store {

std::string sql_instant(calendar::Instant t);                 // "2027-07-12T13:00:00Z" (a timestamptz literal)
calendar::Instant parse_sql_instant(std::string_view text);   // throws std::invalid_argument
std::string sql_local(calendar::LocalDateTime t);              // "2027-07-12 14:00:00" (a timestamp literal)
calendar::LocalDateTime parse_sql_local(std::string_view text);

}  // namespace convene::store
