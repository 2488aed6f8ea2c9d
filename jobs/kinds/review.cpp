// `annual.review` (yearly): one review.due event per active community for the committee, with
// the community's year since the previous review: members now, joins and leaves, meetings
// held and topics posted.
#include "calendar/local_time.hpp"
#include "jobs/kinds/families.hpp"
#include "jobs/kinds/meeting_occurrences.hpp"
#include "jobs/kinds/outbox.hpp"
#include "store/sql_time.hpp"

#include <algorithm>

namespace convene::jobs {
namespace {

using namespace std::chrono;

struct ReviewDate {
  unsigned month_number, day_number;
  minutes time_of_day;
  std::string zone;

  // The review of `y` as an instant; February 29 falls back to the 28th in common years.
  calendar::Instant in_year(int y) const {
    const auto m = month{month_number};
    year_month_day date{year{y}, m, day{day_number}};
    if (!date.ok()) date = year_month_day{year_month_day_last{year{y}, month_day_last{m}}};
    return calendar::to_instant(calendar::LocalDateTime{local_days{date}.time_since_epoch() + time_of_day}, zone);
  }
};

// Occurrences of the community's meetings that started in [from, to) and were held: not
// cancelled, and before the series itself was cancelled.
std::int64_t meetings_held(pqxx::work& tx, std::int64_t community_id, calendar::Instant from, calendar::Instant to) {
  std::int64_t held = 0;
  for (const auto& r : tx.exec_params(
           "SELECT m.id FROM meetings m WHERE m.community_id = $1 AND NOT (m.kind = 'annual' AND m.status = 'tentative') "
           "AND (m.cancelled_at IS NULL OR m.cancelled_at > $2) "
           "AND (m.starts_at < $3 OR EXISTS (SELECT 1 FROM meeting_exceptions x WHERE x.meeting_id = m.id AND x.starts_at < $3)) "
           "ORDER BY m.id",
           community_id, store::sql_instant(from), store::sql_instant(to))) {
    const auto meeting = load_meeting_series(tx, r[0].as<std::int64_t>());
    if (!meeting) continue;
    const auto until = meeting->cancelled_at ? std::min(to, *meeting->cancelled_at) : to;
    if (until > from) held += static_cast<std::int64_t>(occurrences_starting_in(*meeting, from, until).size());
  }
  return held;
}

Outcome review(JobRun& run, const ReviewDate& date) {
  const int this_year = static_cast<int>(calendar::local_date(run.now, date.zone).year());
  // The period ends now and starts at the review date before the latest one that has passed.
  const int latest = date.in_year(this_year) <= run.now ? this_year : this_year - 1;
  const auto from = date.in_year(latest - 1), to = run.now;
  for (const auto& r : run.tx.exec_params(
           "SELECT c.id, c.slug, c.name, "
           "(SELECT count(*) FROM memberships ms WHERE ms.community_id = c.id), "
           "(SELECT count(*) FROM events e WHERE e.community_id = c.id AND e.kind = 'member.joined' "
           "   AND e.occurred_at >= $1 AND e.occurred_at < $2), "
           "(SELECT count(*) FROM events e WHERE e.community_id = c.id AND e.kind = 'member.left' "
           "   AND e.occurred_at >= $1 AND e.occurred_at < $2), "
           "(SELECT count(*) FROM topics t WHERE t.community_id = c.id AND t.posted_at >= $1 AND t.posted_at < $2) "
           "FROM communities c WHERE c.status = 'active' ORDER BY c.slug",
           store::sql_instant(from), store::sql_instant(to))) {
    const auto community_id = r[0].as<std::int64_t>();
    emit_event(run.tx, "review.due", community_id,
               {{"year", latest},
                {"community", r[1].c_str()},
                {"community_name", r[2].c_str()},
                {"period_start", calendar::format_rfc3339_utc(from)},
                {"period_end", calendar::format_rfc3339_utc(to)},
                {"member_count", r[3].as<std::int64_t>()},
                {"joins", r[4].as<std::int64_t>()},
                {"leaves", r[5].as<std::int64_t>()},
                {"meetings_held", meetings_held(run.tx, community_id, from, to)},
                {"topics_posted", r[6].as<std::int64_t>()}},
               run.now);
  }
  return Outcome::done();
}

}  // namespace

KindSpec review_kind(const KindSettings& settings) {
  const ReviewDate date{settings.review_month, settings.review_day, settings.review_time, settings.organisation_time_zone};
  return KindSpec{.kind = "annual.review",
                  .run = [date](JobRun& run) { return review(run, date); },
                  .misfire = Misfire::coalesce,
                  .schedule = yearly_at(settings.review_month, settings.review_day, settings.review_time,
                                        settings.organisation_time_zone)};
}

}  // namespace convene::jobs
