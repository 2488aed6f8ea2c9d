#include "calendar/durations.hpp"

#include <cstdint>

namespace convene::calendar {

std::optional<std::chrono::seconds> parse_iso8601_duration(std::string_view text) {
  if (text.size() < 3 || text.size() > 40 || text.front() != 'P') return std::nullopt;
  // Designators in the order they must appear, with their length in seconds.
  struct Unit {
    char designator;
    bool time_part;
    std::int64_t seconds;
  };
  static constexpr Unit kUnits[] = {
      {'W', false, 7 * 86400}, {'D', false, 86400}, {'H', true, 3600}, {'M', true, 60}, {'S', true, 1}};
  std::size_t next_unit = 0;  // units before this one are used up (order and uniqueness)
  bool in_time = false;
  bool any = false, any_time = false;
  std::int64_t total = 0;
  std::size_t i = 1;
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (in_time) return std::nullopt;
      in_time = true;
      ++i;
      continue;
    }
    std::int64_t n = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (++digits > 12) return std::nullopt;
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    if (digits == 0 || i == text.size()) return std::nullopt;
    const char designator = text[i++];
    std::size_t u = next_unit;
    while (u < std::size(kUnits) && (kUnits[u].designator != designator || kUnits[u].time_part != in_time)) ++u;
    if (u == std::size(kUnits)) return std::nullopt;  // unknown, out of order, repeated or misplaced
    next_unit = u + 1;
    total += n * kUnits[u].seconds;
    if (total > kMaxIso8601Duration.count()) return std::nullopt;
    any = true;
    if (in_time) any_time = true;
  }
  if (!any || (in_time && !any_time)) return std::nullopt;
  return std::chrono::seconds{total};
}

std::string format_iso8601_duration(std::chrono::seconds duration) {
  const std::int64_t signed_count = duration.count();
  std::string out;
  if (signed_count < 0) out += '-';
  // Magnitude in unsigned arithmetic, so even the most negative count has one.
  const std::uint64_t s =
      signed_count < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(signed_count) : std::uint64_t(signed_count);
  out += 'P';
  if (s == 0) return out + "T0S";
  const std::uint64_t days = s / 86400, hours = s % 86400 / 3600, minutes = s % 3600 / 60, secs = s % 60;
  if (days != 0) out += std::to_string(days) + 'D';
  if (hours != 0 || minutes != 0 || secs != 0) {
    out += 'T';
    if (hours != 0) out += std::to_string(hours) + 'H';
    if (minutes != 0) out += std::to_string(minutes) + 'M';
    if (secs != 0) out += std::to_string(secs) + 'S';
  }
  return out;
}

}  // namespace convene::calendar
