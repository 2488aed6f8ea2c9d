// The yearly annual-meeting jobs (DESIGN §2): `annual.placeholders` makes sure every active
// community has its TBD placeholders; `annual.tbd_reminder` tells the committee which annual
// meetings of the year still have no date.
#include "calendar/local_time.hpp"
#include "jobs/annual_placeholders.hpp"
#include "jobs/kinds/community_rows.hpp"
#include "jobs/kinds/families.hpp"
#include "jobs/kinds/outbox.hpp"

#include <boost/json/array.hpp>

namespace convene::jobs {
namespace {

PlaceholderSettings placeholder_settings(const KindSettings& s) {
  return {s.organisation_time_zone, s.uid_domain,
          {s.annual_window_month, s.annual_window_first_day, s.annual_window_days}};
}

Outcome remind_tbd(JobRun& run, const std::string& zone) {
  const int year = static_cast<int>(calendar::local_date(run.now, zone).year());
  boost::json::array communities;
  for (const auto& c : annual_tbd_communities(run.tx, year))
    communities.push_back(boost::json::object{{"slug", c.slug}, {"name", c.name}});
  if (communities.empty()) return Outcome::done();
  emit_event(run.tx, "annual_meeting.tbd", std::nullopt, {{"year", year}, {"communities", std::move(communities)}},
             run.now);
  return Outcome::done();
}

}  // namespace

std::vector<KindSpec> annual_kinds(const KindSettings& settings) {
  const auto& zone = settings.organisation_time_zone;
  KindSpec placeholders{
      .kind = "annual.placeholders",
      .run = [placeholders = placeholder_settings(settings)](JobRun& run) {
        ensure_upcoming_annual_placeholders(run.tx, std::nullopt, placeholders, run.now);
        return Outcome::done();
      },
      .misfire = Misfire::coalesce,
      .schedule = yearly_at(settings.placeholders_month, settings.placeholders_day, settings.placeholders_time, zone)};
  KindSpec tbd_reminder{
      .kind = "annual.tbd_reminder",
      .run = [zone](JobRun& run) { return remind_tbd(run, zone); },
      .misfire = Misfire::coalesce,
      .schedule = yearly_at(settings.tbd_reminder_month, settings.tbd_reminder_day, settings.tbd_reminder_time, zone)};
  return {std::move(placeholders), std::move(tbd_reminder)};
}

}  // namespace convene::jobs
