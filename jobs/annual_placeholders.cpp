#include "jobs/annual_placeholders.hpp"

#include "calendar/local_time.hpp"
#include "store/sql_time.hpp"

namespace convene::jobs {
namespace {

calendar::LocalDateTime midnight(std::chrono::year_month_day d) {
  return calendar::LocalDateTime{std::chrono::local_days{d}.time_since_epoch()};
}

}  // namespace

void ensure_annual_placeholders(pqxx::work& tx, int year, std::optional<std::int64_t> community_id,
                                const PlaceholderSettings& settings, calendar::Instant now) {
  const auto& zone = settings.organisation_time_zone;
  const auto window = calendar::annual_window(year, settings.window);
  const auto start_local = midnight(window.first), end_local = midnight(calendar::exclusive_end(window));
  const auto start = calendar::to_instant(start_local, zone), end = calendar::to_instant(end_local, zone);
  tx.exec_params(
      "INSERT INTO meetings (uid, community_id, kind, title, time_zone, all_day, start_local, end_local, starts_at, "
      "ends_at, status, annual_year, created_at, updated_at) "
      "SELECT 'annual-' || $1::int || '-' || gen_random_uuid()::text || '@' || $2, c.id, 'annual', "
      "c.name || ' annual meeting (date and time TBD)', $3, true, $4, $5, $6, $7, 'tentative', $1::int, $8, $8 "
      "FROM communities c WHERE c.status = 'active' AND ($9::bigint IS NULL OR c.id = $9) "
      "ON CONFLICT (community_id, annual_year) WHERE kind = 'annual' DO NOTHING",
      year, settings.uid_domain, zone, store::sql_local(start_local), store::sql_local(end_local),
      store::sql_instant(start), store::sql_instant(end), store::sql_instant(now), community_id);
}

void ensure_upcoming_annual_placeholders(pqxx::work& tx, std::optional<std::int64_t> community_id,
                                         const PlaceholderSettings& settings, calendar::Instant now) {
  const auto today = calendar::local_date(now, settings.organisation_time_zone);
  const int year = static_cast<int>(today.year());
  if (today <= calendar::annual_window(year, settings.window).last)
    ensure_annual_placeholders(tx, year, community_id, settings, now);
  ensure_annual_placeholders(tx, year + 1, community_id, settings, now);
}

}  // namespace convene::jobs
