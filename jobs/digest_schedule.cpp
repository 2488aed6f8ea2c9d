#include "jobs/digest_schedule.hpp"

#include "calendar/local_time.hpp"

#include <cstdio>
#include <limits>
#include <stdexcept>

namespace convene::jobs {
namespace {

using namespace std::chrono;

// A period as a number that grows with time: days since the epoch (daily), or ISO year * 100
// + ISO week (weekly), both of the local date in `zone`.
long period_number(Cadence cadence, std::string_view zone, calendar::Instant t) {
  const sys_days day{calendar::local_date(t, zone)};
  if (cadence == Cadence::daily) return day.time_since_epoch().count();
  // The ISO week's Thursday decides its year.
  const weekday wd{day};
  const auto thursday = day - days((wd.iso_encoding() + 6) % 7) + days(3);
  const year_month_day thursday_date{thursday};
  const auto first_of_year = sys_days{thursday_date.year() / January / 1};
  const long week = (thursday - first_of_year).count() / 7 + 1;
  return static_cast<int>(thursday_date.year()) * 100L + week;
}

// Plenty for any real schedule: each step moves to the next day or week.
constexpr int kMaxSteps = 16;
constexpr int kMaxCoalesceSteps = 400;

}  // namespace

std::string_view cadence_name(Cadence cadence) { return cadence == Cadence::daily ? "daily" : "weekly"; }

std::optional<Cadence> parse_cadence(std::string_view name) {
  if (name == "daily") return Cadence::daily;
  if (name == "weekly") return Cadence::weekly;
  return std::nullopt;
}

std::string digest_kind(Cadence cadence) { return "digest." + std::string(cadence_name(cadence)); }

Schedule digest_schedule(Cadence cadence, const DigestPreferences& p) {
  if (p.hour < 0 || p.hour > 23) throw std::invalid_argument("digest hour must be 0-23");
  const minutes at{p.hour * 60};
  return cadence == Cadence::daily ? daily_at(at, p.zone) : weekly_at(static_cast<unsigned>(p.weekly_day), at, p.zone);
}

std::vector<calendar::Instant> digest_instants_between(Cadence cadence, const DigestPreferences& preferences,
                                                       calendar::Instant from, calendar::Instant to) {
  return runs_between(digest_schedule(cadence, preferences), from, to, std::numeric_limits<std::size_t>::max());
}

std::string period_label(Cadence cadence, std::string_view zone, calendar::Instant digest_instant) {
  if (cadence == Cadence::daily) return calendar::format_date(calendar::local_date(digest_instant, zone));
  const long n = period_number(cadence, zone, digest_instant);
  char text[48];
  std::snprintf(text, sizeof text, "%04ld-W%02ld", n / 100, n % 100);
  return text;
}

std::optional<calendar::Instant> next_digest_due(Cadence cadence, const DigestPreferences& preferences,
                                                 const DigestState& state) {
  const auto schedule = digest_schedule(cadence, preferences);
  const std::optional<long> last =
      state.last_digest_at ? std::optional(period_number(cadence, preferences.zone, *state.last_digest_at)) : std::nullopt;
  auto t = next_run_after(schedule, state.covered_to);
  for (int step = 0; t && step < kMaxSteps; ++step) {
    if (!last || period_number(cadence, preferences.zone, *t) > *last) return t;
    t = next_run_after(schedule, *t);
  }
  return std::nullopt;
}

DigestState after_digest(calendar::Instant period_end) { return DigestState{period_end, period_end}; }

std::optional<DueDigest> due_digest(Cadence cadence, const DigestPreferences& preferences, const DigestState& state,
                                    calendar::Instant now) {
  const auto first = next_digest_due(cadence, preferences, state);
  if (!first || *first > now) return std::nullopt;
  DueDigest due{*first, 1, state.covered_to};
  // After a long outage, jump close to now rather than walk every missed period.
  const auto period = cadence == Cadence::daily ? hours(24) : hours(24 * 7);
  if (now - *first > kMaxCoalesceSteps * period) {
    const auto near = next_digest_due(cadence, preferences, after_digest(now - 3 * period));
    if (near && *near <= now) {
      due.periods_covered = static_cast<int>((*near - *first) / period) + 1;
      due.period_end = *near;
    }
  }
  for (int step = 0; step < kMaxCoalesceSteps + 8; ++step) {
    const auto next = next_digest_due(cadence, preferences, after_digest(due.period_end));
    if (!next || *next > now) break;
    due.period_end = *next;
    ++due.periods_covered;
  }
  return due;
}

DigestState state_at(Cadence cadence, const DigestPreferences& preferences, DigestState state, calendar::Instant later) {
  const auto first = next_digest_due(cadence, preferences, state);
  if (!first || *first >= later) return state;
  // The last one before `later` is within a week of it (the first already follows the periods rule).
  const auto recent = digest_instants_between(cadence, preferences, std::max(*first, later - days(8)), later);
  return after_digest(recent.empty() ? *first : recent.back());
}

std::vector<calendar::Instant> upcoming_digest_instants(Cadence cadence, const DigestPreferences& preferences,
                                                        DigestState state, calendar::Instant from,
                                                        calendar::Instant to) {
  std::vector<calendar::Instant> out;
  if (from >= to) return out;
  if (const auto owed = due_digest(cadence, preferences, state, from)) {
    out.push_back(from);
    state = after_digest(owed->period_end);
  }
  while (out.size() < 10000) {
    const auto t = next_digest_due(cadence, preferences, state);
    if (!t || *t >= to) break;
    out.push_back(*t);
    state = after_digest(*t);
  }
  return out;
}

}  // namespace convene::jobs
