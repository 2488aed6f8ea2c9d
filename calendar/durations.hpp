#pragma once
// ISO 8601 durations for reminder offsets and cadences ("P1D", "PT1H", "P1DT2H30M").
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace convene::calendar {

// The longest duration accepted: 400 days.
inline constexpr std::chrono::seconds kMaxIso8601Duration = std::chrono::days{400};

// "P[nW][nD][T[nH][nM][nS]]": weeks, days, hours, minutes and seconds only (months and years
// have no fixed length, so they are refused), designators upper-case and in that order, each
// at most once, whole non-negative numbers, at least one component, at least one after a 'T',
// no sign, at most 400 days in total. "P1D", "PT1H", "PT15M", "P1W", "P1DT2H", "PT30S", "PT0S".
// nullopt otherwise.
std::optional<std::chrono::seconds> parse_iso8601_duration(std::string_view text);

// Canonical form: days then hours, minutes, seconds, zero parts left out, weeks written as
// days (P7D), "PT0S" for zero: P1D, PT1H, P1DT2H30M, PT45S. A negative duration gets a leading
// '-' (RFC 5545 style, "-PT15M"); parse_iso8601_duration never produces one.
std::string format_iso8601_duration(std::chrono::seconds duration);

}  // namespace convene::calendar
