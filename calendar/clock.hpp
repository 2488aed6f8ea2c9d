#pragma once
// The one source of "now". Scheduling code receives a Clock (or an Instant) and never reads
// the system clock itself, so tests and the --test-clock mode can move time.
#include <chrono>
#include <mutex>
#include <string>

namespace convene::calendar {

// Microseconds: the precision of PostgreSQL's timestamptz.
using Instant = std::chrono::sys_time<std::chrono::microseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Instant now() const override;
};

// A clock that only moves when told to; thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Instant start) : now_(start) {}
  Instant now() const override;
  void set(Instant t);
  void advance(std::chrono::microseconds by);

 private:
  mutable std::mutex mutex_;
  Instant now_;
};

// RFC 3339 in UTC with microseconds trimmed when zero: "2026-07-08T13:00:00Z".
std::string format_rfc3339_utc(Instant t);

// The same UTC time of day `months` calendar months later; a day the month does not have
// becomes its last day (Jan 31 + 1 month = Feb 28/29). The booking horizon.
Instant months_later(Instant t, int months);

}  // namespace convene::calendar
