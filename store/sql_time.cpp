#include "store/sql_time.hpp"

#include <cstdio>
#include <stdexcept>

namespace convene::store {
namespace {

struct Parts {
  int y, mo, d, h, mi, s;
  long micros;
  int offset_seconds;
};

// "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]"
Parts parse(std::string_view text, bool with_offset) {
  Parts p{};
  int consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%n", &p.y, &p.mo, &p.d, &p.h, &p.mi, &p.s, &consumed) != 6)
    throw std::invalid_argument("unexpected timestamp from PostgreSQL: " + s);
  std::size_t i = static_cast<std::size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    ++i;
    long scale = 100000;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      p.micros += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  if (with_offset) {
    if (i >= s.size() || (s[i] != '+' && s[i] != '-')) throw std::invalid_argument("timestamp without offset: " + s);
    const int sign = s[i] == '-' ? -1 : 1;
    int oh = 0, om = 0, os = 0;
    std::sscanf(s.c_str() + i + 1, "%2d:%2d:%2d", &oh, &om, &os);
    p.offset_seconds = sign * (oh * 3600 + om * 60 + os);
  }
  return p;
}

template <class Clock>
std::chrono::time_point<Clock, std::chrono::microseconds> to_point(const Parts& p) {
  using namespace std::chrono;
  const auto day = year_month_day{year{p.y}, month{static_cast<unsigned>(p.mo)}, std::chrono::day{static_cast<unsigned>(p.d)}};
  return time_point<Clock, microseconds>{duration_cast<microseconds>(
      (local_days{day}.time_since_epoch()) + hours{p.h} + minutes{p.mi} + seconds{p.s} + microseconds{p.micros})};
}

}  // namespace

std::string sql_instant(calendar::Instant t) { return calendar::format_rfc3339_utc(t); }

calendar::Instant parse_sql_instant(std::string_view text) {
  const Parts p = parse(text, true);
  using namespace std::chrono;
  const auto local = to_point<local_t>(p);
  return calendar::Instant{local.time_since_epoch() - seconds{p.offset_seconds}};
}

std::string sql_local(calendar::LocalDateTime t) {
  std::string s = calendar::format_local_datetime(t);
  s[10] = ' ';
  return s;
}

calendar::LocalDateTime parse_sql_local(std::string_view text) {
  const Parts p = parse(text, false);
  return std::chrono::time_point_cast<std::chrono::seconds>(to_point<std::chrono::local_t>(p));
}

}  // namespace convene::store
