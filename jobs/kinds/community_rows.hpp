#pragma once
// Small lookups several kinds share: a community's names, the organisation's date today, and
// the delivery modes a routing rule sends email to now.
#include "calendar/clock.hpp"
#include "notifiers/routing.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convene::jobs {

struct CommunityRow {
  std::int64_t id = 0;
  std::string slug, name, status;
  bool active() const { return status == "active"; }
};

std::optional<CommunityRow> load_community(pqxx::transaction_base& tx, std::int64_t id);

// Active communities whose annual meeting of `year` has no date: a placeholder still
// tentative, or none yet (a community newer than the year's placeholders). The committee's TBD
// reminder lists them; "what will they receive" predicts it from the same rule. By slug.
std::vector<CommunityRow> annual_tbd_communities(pqxx::transaction_base& tx, int year);

// "YYYY-MM-DD": the date in `zone` at `now` (dated roles, yearly windows).
std::string date_text(calendar::Instant now, std::string_view zone);

// The delivery modes `route` sends an email to at once, as an SQL text[] literal
// ("{realtime}"), so the SQL that picks recipients follows notifiers' rules.
std::string modes_sent_now(notifiers::EmailRoute (*route)(notifiers::DeliveryMode));

}  // namespace convene::jobs
