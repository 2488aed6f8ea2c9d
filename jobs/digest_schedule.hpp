#pragma once
// When a member's digests fall (DESIGN §3, §4): daily at the member's digest hour in their
// zone, weekly on their weekday too, expanded by the one recurrence engine (jobs/schedule.hpp),
// so a digest hour in a spring-forward gap runs at the transition and one that happens twice
// runs the first time. Pure: "now" and the member's state are arguments.
#include "calendar/clock.hpp"
#include "jobs/schedule.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convene::jobs {

enum class Cadence { daily, weekly };

std::string_view cadence_name(Cadence cadence);                   // "daily", "weekly"
std::optional<Cadence> parse_cadence(std::string_view name);      // nullopt for anything else
std::string digest_kind(Cadence cadence);                         // "digest.daily", "digest.weekly"

// The member's settings that place digests (members.time_zone, digest_hour, weekly_day).
struct DigestPreferences {
  std::string zone;         // IANA
  int hour = 7;             // 0-23, local
  int weekly_day = 1;       // ISO: 1 = Monday ... 7 = Sunday
};

// The recurring schedule of the member's digests of this cadence.
Schedule digest_schedule(Cadence cadence, const DigestPreferences& preferences);

// The scheduled digest instants t with from <= t < to, in order, regardless of what was sent
// (the plain schedule). Throws calendar::UnknownZone for a bad zone.
std::vector<calendar::Instant> digest_instants_between(Cadence cadence, const DigestPreferences& preferences,
                                                       calendar::Instant from, calendar::Instant to);

// What the member's digests of one cadence have covered (digest_schedules, schema 007).
struct DigestState {
  calendar::Instant covered_to;                     // events up to here were in a digest
  std::optional<calendar::Instant> last_digest_at;  // the last period's scheduled instant
};

// The period a digest instant belongs to, in the member's zone: its local date ("2027-03-14")
// for daily digests, its ISO week ("2027-W11") for weekly ones.
std::string period_label(Cadence cadence, std::string_view zone, calendar::Instant digest_instant);

// The first digest the member is owed: the first scheduled instant after state.covered_to
// that falls in a later period (local day or ISO week, in the member's *current* zone) than
// state.last_digest_at. So a changed hour or zone moves the next digest without a second one
// on a day that had one, and without skipping a day. nullopt only for a schedule that ended.
std::optional<calendar::Instant> next_digest_due(Cadence cadence, const DigestPreferences& preferences,
                                                 const DigestState& state);

// A digest that is due at `now`: the latest owed instant at or before now closes it; earlier
// owed instants (downtime) coalesce into it.
struct DueDigest {
  calendar::Instant period_end;   // the latest owed scheduled instant <= now
  int periods_covered = 1;        // how many owed instants (periods) it stands for
  calendar::Instant covered_from; // state.covered_to
};

// nullopt when nothing is owed by `now`.
std::optional<DueDigest> due_digest(Cadence cadence, const DigestPreferences& preferences, const DigestState& state,
                                    calendar::Instant now);

// The state after a digest (sent or empty) closing at `period_end`.
DigestState after_digest(calendar::Instant period_end);

// The state at `later` if every digest owed after `state` and before `later` went out on time:
// where `upcoming` starts when asked about a period after now.
DigestState state_at(Cadence cadence, const DigestPreferences& preferences, DigestState state, calendar::Instant later);

// The instants at which digests would go out in [from, to), following `state` (what was
// covered so far) and assuming each one is sent: what `upcoming` and `simulate` list. A digest
// already owed before `from` is listed at `from` (the sweep sends it at once).
std::vector<calendar::Instant> upcoming_digest_instants(Cadence cadence, const DigestPreferences& preferences,
                                                        DigestState state, calendar::Instant from,
                                                        calendar::Instant to);

}  // namespace convene::jobs
