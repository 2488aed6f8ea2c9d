// The messages a member gets for their roles (jobs/upcoming.hpp), derived from the schedules of
// the jobs that send them: annual.tbd_reminder and annual.review (the committee, yearly),
// role.ending.check and topic.overdue.check (daily). The same conditions as those jobs
// (jobs/kinds/annual.cpp, review.cpp, roles.cpp, topics.cpp), assuming nothing else changes.
#include "calendar/local_time.hpp"
#include "jobs/kinds/duty_keys.hpp"
#include "jobs/kinds/community_rows.hpp"
#include "jobs/schedule.hpp"
#include "jobs/upcoming_parts.hpp"
#include "notifiers/display_time.hpp"
#include "store/sql_time.hpp"

namespace convene::jobs {
namespace {

using std::chrono::days;
using std::chrono::microseconds;
using std::chrono::seconds;

// The dates on which a member holds a role ("YYYY-MM-DD" compares as dates).
struct RoleDates {
  std::vector<std::pair<std::string, std::optional<std::string>>> periods;  // starts_on, ends_on
  bool on(const std::string& date) const {
    for (const auto& [starts, ends] : periods)
      if (starts <= date && (!ends || date <= *ends)) return true;
    return false;
  }
  bool empty() const { return periods.empty(); }
};

RoleDates role_dates(const UpcomingQuery& q, const std::string& role, std::optional<std::int64_t> community_id) {
  RoleDates out;
  for (const auto& r : q.tx.exec_params(
           "SELECT starts_on::text, ends_on::text FROM roles WHERE member_id = $1 AND role = $2 "
           "AND community_id IS NOT DISTINCT FROM $3",
           q.member_id, role, community_id))
    out.periods.emplace_back(r[0].as<std::string>(),
                             r[1].is_null() ? std::nullopt : std::optional<std::string>(r[1].as<std::string>()));
  return out;
}

// A job of that kind and key already exists: done, or pending (when).
struct ExistingJob {
  bool pending = false;
  calendar::Instant due;
};
std::optional<ExistingJob> existing_job(const UpcomingQuery& q, const std::string& kind, const std::string& key) {
  const auto rows = q.tx.exec_params("SELECT state IN ('pending', 'running'), due_at FROM jobs WHERE kind = $1 AND unique_key = $2",
                                     kind, key);
  if (rows.empty()) return std::nullopt;
  return ExistingJob{rows[0][0].as<bool>(), store::parse_sql_instant(rows[0][1].c_str())};
}

// When the message goes: at its planned job's time (at once when overdue), or at `at` when
// none is planned yet; nullopt when it was sent already or goes before the range.
std::optional<calendar::Instant> unless_sent(const UpcomingQuery& q, const std::string& kind, const std::string& key,
                                             calendar::Instant at) {
  const auto job = existing_job(q, kind, key);
  if (job && !job->pending) return std::nullopt;
  if (job) at = std::max(job->due, q.now);
  if (at < q.from || at >= q.to) return std::nullopt;
  return at;
}

const std::string& org_zone(const UpcomingQuery& q) { return q.settings.organisation_time_zone; }

void add_annual_tbd(const UpcomingQuery& q, const RoleDates& committee, std::vector<UpcomingItem>& out) {
  const auto& s = q.settings;
  for (const auto at : runs_between(yearly_at(s.tbd_reminder_month, s.tbd_reminder_day, s.tbd_reminder_time, org_zone(q)),
                                    q.from, q.to)) {
    if (!committee.on(date_text(at, org_zone(q)))) continue;
    const int year = static_cast<int>(calendar::local_date(at, org_zone(q)).year());
    std::vector<std::string> slugs;
    for (auto& c : annual_tbd_communities(q.tx, year)) slugs.push_back(std::move(c.slug));
    if (slugs.empty()) continue;
    const auto count = slugs.size();
    out.push_back({"annual_meeting.tbd", at, std::move(slugs),
                   "Annual meetings of " + std::to_string(year) + " without a date: " + std::to_string(count) +
                       (count == 1 ? " community" : " communities") + " (if still so then)",
                   std::nullopt});
  }
}

void add_reviews(const UpcomingQuery& q, const RoleDates& committee, std::vector<UpcomingItem>& out) {
  const auto& s = q.settings;
  const auto runs = runs_between(yearly_at(s.review_month, s.review_day, s.review_time, org_zone(q)), q.from, q.to);
  if (runs.empty()) return;
  const auto communities = q.tx.exec("SELECT slug, name FROM communities WHERE status = 'active' ORDER BY slug");
  for (const auto at : runs) {
    if (!committee.on(date_text(at, org_zone(q)))) continue;
    const int year = static_cast<int>(calendar::local_date(at, org_zone(q)).year());
    for (const auto& c : communities)
      out.push_back({"review.due", at, {c[0].as<std::string>()},
                     "Yearly review of " + c[1].as<std::string>() + " (" + std::to_string(year) + ")", std::nullopt});
  }
}

// role.ending.check runs daily and plans the message on the first day within the notice period.
void add_role_endings(const UpcomingQuery& q, const RoleDates& committee, std::vector<UpcomingItem>& out) {
  const auto& s = q.settings;
  const auto checks = daily_at(s.daily_checks_time, org_zone(q));
  const auto last_day = calendar::local_date(q.to, org_zone(q));
  for (const auto& r : q.tx.exec_params(
           "SELECT r.id, r.member_id, m.name, r.role, c.slug, c.name, r.ends_on::text FROM roles r "
           "JOIN members m ON m.id = r.member_id LEFT JOIN communities c ON c.id = r.community_id "
           "WHERE r.ends_on >= $2::date AND r.ends_on <= $3::date + $4::int "
           "AND (r.community_id IS NULL OR c.status = 'active') AND (r.member_id = $1 OR $5) ORDER BY r.ends_on, r.id",
           q.member_id, date_text(q.from, org_zone(q)), calendar::format_date(last_day), s.role_ending_notice_days,
           !committee.empty())) {
    const auto ends_on = calendar::parse_date(r[6].c_str());
    if (!ends_on) continue;
    // The first check from now on that sees the role within its notice period (one before the
    // range would have told them already).
    const auto first_day = std::chrono::local_days{*ends_on} - days(s.role_ending_notice_days);
    const auto earliest = calendar::to_instant(calendar::LocalDateTime{first_day.time_since_epoch()}, org_zone(q));
    auto at = next_run_after(checks, std::max(earliest, q.now) - microseconds(1));
    if (!at || calendar::local_date(*at, org_zone(q)) > *ends_on) continue;
    at = unless_sent(q, "role.ending", role_ending_key(r[0].as<std::int64_t>(), r[6].c_str()), *at);
    if (!at) continue;
    const bool own = r[1].as<std::int64_t>() == q.member_id;
    if (!own && !committee.on(date_text(*at, org_zone(q)))) continue;
    std::vector<std::string> slugs;
    if (!r[4].is_null()) slugs.push_back(r[4].as<std::string>());
    const std::string where = r[5].is_null() ? "" : " in " + r[5].as<std::string>();
    out.push_back({"role.ending", *at, std::move(slugs),
                   (own ? std::string("Your role ") : r[2].as<std::string>() + "'s role ") + r[3].as<std::string>() + where +
                       " ends on " + notifiers::long_date(*ends_on),
                   std::nullopt});
  }
}

// topic.overdue.check: once per missed cadence period, while no topic is posted.
void add_overdue_topics(const UpcomingQuery& q, std::vector<UpcomingItem>& out) {
  const auto rows = q.tx.exec_params(
      "SELECT DISTINCT c.id, c.slug, c.name, extract(epoch FROM c.topic_cadence)::bigint, "
      "coalesce((SELECT max(t.posted_at) FROM topics t WHERE t.community_id = c.id), c.created_at) "
      "FROM communities c JOIN roles r ON r.community_id = c.id AND r.member_id = $1 AND r.role = 'discussion_monitor' "
      "WHERE c.status = 'active' AND c.topic_cadence IS NOT NULL ORDER BY c.id",
      q.member_id);
  if (rows.empty()) return;
  const auto schedule = daily_at(q.settings.daily_checks_time, org_zone(q));
  const auto checks = runs_between(schedule, q.from, q.to);
  // The check before the range, when it is still to come: a period it reminds of is not
  // reminded of again.
  const auto before = runs_between(schedule, q.from - days(2), q.from);
  // (A flag and a value rather than an optional: GCC 12 at -O2 wrongly warns the optional's
  // value may be used uninitialized.)
  const bool has_previous_check = !before.empty() && before.back() >= q.now;
  const calendar::Instant previous_check = has_previous_check ? before.back() : calendar::Instant{};
  for (const auto& r : rows) {
    const auto community_id = r[0].as<std::int64_t>();
    const auto monitor = role_dates(q, "discussion_monitor", community_id);
    const seconds cadence{r[3].as<std::int64_t>()};
    const auto since = store::parse_sql_instant(r[4].c_str());
    const auto period_of = [&](calendar::Instant t) { return overdue_period_end(since, cadence, t); };
    std::optional<calendar::Instant> reminded_period;
    if (has_previous_check && since + cadence <= previous_check) reminded_period = period_of(previous_check);
    for (const auto check : checks) {
      if (since + cadence > check) continue;
      const auto period_end = period_of(check);
      if (period_end == reminded_period) continue;
      reminded_period = period_end;
      const auto at = unless_sent(q, "topic.overdue", topic_overdue_key(community_id, period_end), check);
      if (!at || !monitor.on(date_text(*at, org_zone(q)))) continue;
      out.push_back({"topic.overdue", *at, {r[1].as<std::string>()},
                     "No topic in " + r[2].as<std::string>() + " for " + notifiers::duration_text(cadence) +
                         " (unless one is posted)",
                     std::nullopt});
    }
  }
}

}  // namespace

void add_duty_messages(const UpcomingQuery& q, std::vector<UpcomingItem>& out) {
  const auto committee = role_dates(q, "committee", std::nullopt);
  if (!committee.empty()) {
    add_annual_tbd(q, committee, out);
    add_reviews(q, committee, out);
  }
  add_role_endings(q, committee, out);
  add_overdue_topics(q, out);
}

}  // namespace convene::jobs
