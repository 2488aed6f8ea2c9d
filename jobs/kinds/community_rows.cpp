#include "jobs/kinds/community_rows.hpp"

#include "calendar/local_time.hpp"

namespace convene::jobs {

std::optional<CommunityRow> load_community(pqxx::transaction_base& tx, std::int64_t id) {
  const auto rows = tx.exec_params("SELECT slug, name, status FROM communities WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  return CommunityRow{id, rows[0][0].as<std::string>(), rows[0][1].as<std::string>(), rows[0][2].as<std::string>()};
}

std::vector<CommunityRow> annual_tbd_communities(pqxx::transaction_base& tx, int year) {
  std::vector<CommunityRow> out;
  for (const auto& r : tx.exec_params(
           "SELECT c.id, c.slug, c.name, c.status FROM communities c WHERE c.status = 'active' AND NOT EXISTS ("
           "  SELECT 1 FROM meetings m WHERE m.community_id = c.id AND m.kind = 'annual' AND m.annual_year = $1 "
           "  AND m.status <> 'tentative') "
           "ORDER BY c.slug",
           year))
    out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>()});
  return out;
}

std::string date_text(calendar::Instant now, std::string_view zone) {
  return calendar::format_date(calendar::local_date(now, zone));
}

std::string modes_sent_now(notifiers::EmailRoute (*route)(notifiers::DeliveryMode)) {
  using notifiers::DeliveryMode;
  std::string list = "{";
  for (const auto mode : {DeliveryMode::realtime, DeliveryMode::daily, DeliveryMode::weekly, DeliveryMode::none})
    if (route(mode) == notifiers::EmailRoute::send_now)
      list.append(list.size() > 1 ? "," : "").append(notifiers::to_string(mode));
  return list + "}";
}

}  // namespace convene::jobs
