#pragma once
// Reading the fields of a job's payload. A missing or malformed field is a broken invariant
// (the payload was written by this code): it throws std::invalid_argument, the engine retries
// and finally marks the job dead, where admins see the message.
#include "calendar/clock.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace convene::jobs {

std::int64_t integer_field(const boost::json::object& payload, std::string_view key);
std::string text_field(const boost::json::object& payload, std::string_view key);
// RFC 3339 in UTC, as calendar::format_rfc3339_utc writes it ("2027-11-04T14:00:00Z").
calendar::Instant instant_field(const boost::json::object& payload, std::string_view key);

// The inverse of format_rfc3339_utc; throws std::invalid_argument.
calendar::Instant parse_rfc3339_utc(std::string_view text);

}  // namespace convene::jobs
