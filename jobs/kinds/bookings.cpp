// `bookings.extend` (daily): as time passes, occurrences of recurring meetings enter the
// booking horizon; this books their rooms. The API books every occurrence inside the horizon
// when a meeting is created or changed; this job keeps the horizon rolling.
#include "jobs/kinds/families.hpp"
#include "jobs/kinds/meeting_occurrences.hpp"
#include "store/sql_time.hpp"

#include "base/log.hpp"

#include <pqxx/pqxx>

#include <set>

namespace convene::jobs {
namespace {

// Books one occurrence; false when the room is taken (by a booking made while this
// occurrence was still beyond the horizon).
bool book(pqxx::work& tx, std::int64_t meeting_id, std::int64_t room_id, const ActualOccurrence& o) {
  tx.exec("SAVEPOINT extend_booking");
  try {
    tx.exec_params(
        "INSERT INTO room_bookings (meeting_id, recurrence_id, room_id, during) VALUES ($1, $2, $3, tstzrange($4, $5)) "
        "ON CONFLICT (meeting_id, recurrence_id) DO NOTHING",
        meeting_id, store::sql_instant(o.recurrence_id), room_id, store::sql_instant(o.start), store::sql_instant(o.end));
    tx.exec("RELEASE SAVEPOINT extend_booking");
    return true;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != "23P01") throw;  // only the exclusion constraint is expected
  }
  tx.exec("ROLLBACK TO SAVEPOINT extend_booking");
  return false;
}

Outcome extend(JobRun& run, int horizon_months) {
  const auto horizon = calendar::months_later(run.now, horizon_months);
  std::size_t booked = 0;
  std::string refused;
  for (const auto& row : run.tx.exec(
           "SELECT m.id, m.room_id FROM meetings m JOIN communities c ON c.id = m.community_id "
           "WHERE m.rrule IS NOT NULL AND m.room_id IS NOT NULL AND m.status <> 'cancelled' AND c.status = 'active' "
           "ORDER BY m.id")) {
    const auto meeting_id = row[0].as<std::int64_t>();
    const auto room_id = row[1].as<std::int64_t>();
    const auto meeting = load_meeting_series(run.tx, meeting_id);
    if (!meeting) continue;
    std::set<std::string> already;
    for (const auto& b : run.tx.exec_params("SELECT recurrence_id FROM room_bookings WHERE meeting_id = $1", meeting_id))
      already.insert(calendar::format_rfc3339_utc(store::parse_sql_instant(b[0].c_str())));
    for (const auto& o : occurrences_starting_in(*meeting, run.now, horizon)) {
      if (already.count(calendar::format_rfc3339_utc(o.recurrence_id))) continue;
      if (book(run.tx, meeting_id, room_id, o)) {
        ++booked;
        continue;
      }
      log::warn("room already taken for an occurrence entering the booking horizon; left unbooked",
                {{"meeting", static_cast<long long>(meeting_id)}, {"start", calendar::format_rfc3339_utc(o.start)}});
      if (refused.size() < 1500)
        refused += (refused.empty() ? "" : "; ") + ("meeting " + std::to_string(meeting_id) + " at " +
                                                     calendar::format_rfc3339_utc(o.start));
    }
  }
  if (booked > 0) log::info("room bookings extended", {{"occurrences", static_cast<unsigned long>(booked)}});
  Outcome outcome = Outcome::done();
  if (!refused.empty()) outcome.note = "room taken, occurrence left unbooked: " + refused;
  return outcome;
}

}  // namespace

KindSpec booking_kind(const KindSettings& settings) {
  return KindSpec{.kind = "bookings.extend",
                  .run = [months = settings.booking_horizon_months](JobRun& run) { return extend(run, months); },
                  .misfire = Misfire::coalesce,
                  .schedule = daily_at(settings.daily_checks_time, settings.organisation_time_zone)};
}

}  // namespace convene::jobs
