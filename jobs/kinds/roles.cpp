// Ending roles: `role.ending.check` (daily) finds roles that end within the notice period;
// `role.ending` tells the holder and the committee, once per role and end date.
#include "jobs/kinds/duty_keys.hpp"
#include "jobs/kinds/community_rows.hpp"
#include "jobs/kinds/families.hpp"
#include "jobs/kinds/outbox.hpp"
#include "jobs/kinds/payload_fields.hpp"
#include "jobs/queue.hpp"

namespace convene::jobs {
namespace {

boost::json::value nullable_text(const pqxx::field& f) {
  return f.is_null() ? boost::json::value(nullptr) : boost::json::value(f.c_str());
}

Outcome check(JobRun& run, const std::string& zone, int notice_days) {
  for (const auto& r : run.tx.exec_params(
           "SELECT r.id, r.ends_on::text FROM roles r LEFT JOIN communities c ON c.id = r.community_id "
           "WHERE r.ends_on >= $1::date AND r.ends_on <= $1::date + $2::int "
           "AND (r.community_id IS NULL OR c.status = 'active') ORDER BY r.id",
           date_text(run.now, zone), notice_days)) {
    const auto role_id = r[0].as<std::int64_t>();
    const std::string ends_on = r[1].c_str();
    enqueue(run.tx,
            NewJob{"role.ending", role_ending_key(role_id, ends_on),
                   {{"role_id", role_id}, {"ends_on", ends_on}}, run.now},
            run.now, OnConflict::keep);
  }
  return Outcome::done();
}

Outcome notify(JobRun& run, const std::string& zone) {
  const auto role_id = integer_field(run.job.payload, "role_id");
  const auto rows = run.tx.exec_params(
      "SELECT r.member_id, m.name, r.role, r.community_id, c.slug, c.name, c.status, r.ends_on::text "
      "FROM roles r JOIN members m ON m.id = r.member_id LEFT JOIN communities c ON c.id = r.community_id "
      "WHERE r.id = $1",
      role_id);
  if (rows.empty()) return Outcome::skipped("the role no longer exists");
  const auto& r = rows[0];
  if (r[7].is_null() || r[7].c_str() != text_field(run.job.payload, "ends_on"))
    return Outcome::skipped("the role's end date changed");
  if (r[7].c_str() < date_text(run.now, zone)) return Outcome::skipped("the role has already ended");
  if (!r[6].is_null() && r[6].c_str() != std::string_view("active")) return Outcome::skipped("the community is archived");
  const auto community_id = r[3].is_null() ? std::nullopt : std::optional<std::int64_t>(r[3].as<std::int64_t>());
  emit_event(run.tx, "role.ending", community_id,
             {{"role_id", role_id},
              {"member_id", r[0].as<std::int64_t>()},
              {"member_name", r[1].c_str()},
              {"role", r[2].c_str()},
              {"community", nullable_text(r[4])},
              {"community_name", nullable_text(r[5])},
              {"ends_on", r[7].c_str()}},
             run.now);
  return Outcome::done();
}

}  // namespace

std::vector<KindSpec> role_kinds(const KindSettings& settings) {
  const auto& zone = settings.organisation_time_zone;
  KindSpec check_spec{.kind = "role.ending.check",
                      .run = [zone, days = settings.role_ending_notice_days](JobRun& run) { return check(run, zone, days); },
                      .misfire = Misfire::coalesce,
                      .schedule = daily_at(settings.daily_checks_time, zone)};
  KindSpec notify_spec{.kind = "role.ending", .run = [zone](JobRun& run) { return notify(run, zone); }};
  return {std::move(check_spec), std::move(notify_spec)};
}

}  // namespace convene::jobs
