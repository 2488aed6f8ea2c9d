#include "calendar/clock.hpp"

#include <cstdio>

namespace convene::calendar {

Instant SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

Instant ManualClock::now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

void ManualClock::set(Instant t) {
  std::lock_guard lock(mutex_);
  now_ = t;
}

void ManualClock::advance(std::chrono::microseconds by) {
  std::lock_guard lock(mutex_);
  now_ += by;
}

std::string format_rfc3339_utc(Instant t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> tod{t - day};
  char buf[40];
  const auto micros = tod.subseconds().count();
  if (micros == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02lldZ", int(ymd.year()), unsigned(ymd.month()),
                  unsigned(ymd.day()), long(tod.hours().count()), long(tod.minutes().count()),
                  static_cast<long long>(tod.seconds().count()));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02lld.%06lldZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), long(tod.hours().count()),
                  long(tod.minutes().count()), static_cast<long long>(tod.seconds().count()),
                  static_cast<long long>(micros));
  }
  return buf;
}

Instant months_later(Instant t, int months) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  auto later = year_month_day{day} + std::chrono::months{months};
  if (!later.ok()) later = year_month_day{later.year() / later.month() / last};
  return Instant{sys_days{later}.time_since_epoch() + (t - day)};
}

}  // namespace convene::calendar
