// What a member will receive (jobs/upcoming.hpp): digests and meeting reminders here, the
// messages of roles in upcoming_duties.cpp.
#include "jobs/upcoming.hpp"

#include "jobs/digests.hpp"
#include "jobs/kinds/community_rows.hpp"
#include "jobs/kinds/meeting_occurrences.hpp"
#include "jobs/upcoming_parts.hpp"
#include "notifiers/display_time.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <algorithm>

namespace convene::jobs {
namespace {

using std::chrono::seconds;

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

void add_digests(const UpcomingQuery& q, std::vector<UpcomingItem>& out) {
  const auto digests = upcoming_digests(q.tx, q.member_id, q.from, q.to, q.now);
  for (const auto cadence : {Cadence::daily, Cadence::weekly}) {
    std::vector<std::string> slugs;
    std::string label;
    for (const auto& d : digests) {
      if (d.cadence != cadence) continue;
      if (slugs.empty()) {
        for (const auto& r : q.tx.exec_params(
                 "SELECT c.slug FROM memberships ms JOIN communities c ON c.id = ms.community_id "
                 "WHERE ms.member_id = $1 AND ms.delivery = $2 AND c.status = 'active' ORDER BY c.slug",
                 q.member_id, std::string(cadence_name(cadence))))
          slugs.push_back(r[0].as<std::string>());
        label = (cadence == Cadence::daily ? "Daily digest of " : "Weekly digest of ") + joined(slugs) +
                " (sent only when there is news)";
      }
      out.push_back({d.kind, d.at, slugs, label, std::nullopt});
    }
  }
}

struct ReminderCommunities {
  std::vector<std::int64_t> ids;
  std::vector<seconds> offsets;  // the member's, positive, ascending
};

ReminderCommunities reminder_scope(const UpcomingQuery& q) {
  ReminderCommunities scope;
  for (const auto& r : q.tx.exec_params(
           "SELECT ms.community_id FROM memberships ms JOIN communities c ON c.id = ms.community_id "
           "WHERE ms.member_id = $1 AND ms.delivery = ANY ($2::text[]) AND c.status = 'active' ORDER BY 1",
           q.member_id, modes_sent_now(&notifiers::route_reminder_email)))
    scope.ids.push_back(r[0].as<std::int64_t>());
  for (const auto& r : q.tx.exec_params(
           "SELECT DISTINCT extract(epoch FROM o)::bigint FROM members m CROSS JOIN LATERAL unnest(m.reminder_offsets) o "
           "WHERE m.id = $1 AND o > interval '0' ORDER BY 1",
           q.member_id))
    scope.offsets.emplace_back(r[0].as<std::int64_t>());
  return scope;
}

// A reminder per occurrence and offset, as reminders.plan would plan them (jobs/kinds/reminders.cpp):
// cancelled meetings and occurrences, and TBD annual placeholders, have none.
void add_reminders(const UpcomingQuery& q, std::vector<UpcomingItem>& out) {
  const auto scope = reminder_scope(q);
  if (scope.ids.empty() || scope.offsets.empty()) return;
  // The occurrences whose reminders fall in [from, to).
  const auto first = q.from + scope.offsets.front(), last = q.to + scope.offsets.back();
  for (const auto& r : q.tx.exec_params(
           "SELECT m.id FROM meetings m WHERE m.community_id = ANY ($1::bigint[]) AND m.status <> 'cancelled' "
           "AND NOT (m.kind = 'annual' AND m.status = 'tentative') "
           "AND ((m.rrule IS NULL AND m.starts_at >= $2 AND m.starts_at < $3) OR (m.rrule IS NOT NULL AND m.starts_at < $3) "
           "     OR EXISTS (SELECT 1 FROM meeting_exceptions x WHERE x.meeting_id = m.id AND NOT x.cancelled "
           "                AND x.starts_at >= $2 AND x.starts_at < $3)) "
           "ORDER BY m.id",
           store::bigint_array(scope.ids), store::sql_instant(first), store::sql_instant(last))) {
    const auto meeting = load_meeting_series(q.tx, r[0].as<std::int64_t>());
    if (!meeting || meeting->is_placeholder() || meeting->status == "cancelled") continue;
    for (const auto& o : occurrences_starting_in(*meeting, first, last))
      for (const auto offset : scope.offsets) {
        const auto at = o.start - offset;
        if (at < q.from || at >= q.to) continue;
        out.push_back({"meeting.reminder", at, {meeting->community_slug},
                       "Reminder " + notifiers::duration_text(offset) + " before \"" + meeting->title + "\", " +
                           notifiers::time_point(o.start, q.zone),
                       meeting->id});
      }
  }
}

}  // namespace

std::optional<UpcomingList> upcoming_notifications(pqxx::transaction_base& tx, std::int64_t member_id,
                                                   calendar::Instant from, calendar::Instant to, calendar::Instant now,
                                                   const KindSettings& settings, std::size_t limit) {
  const auto member = tx.exec_params("SELECT email, time_zone FROM members WHERE id = $1", member_id);
  if (member.empty()) return std::nullopt;
  UpcomingList list;
  list.member_id = member_id;
  list.email = member[0][0].as<std::string>();
  list.time_zone = notifiers::usable_zone(member[0][1].as<std::string>());
  // Nothing more will be sent in the past.
  list.from = std::max(from, now);
  list.to = std::max(to, list.from);
  if (list.from == list.to) return list;
  const UpcomingQuery q{tx, member_id, list.time_zone, list.from, list.to, now, settings};
  add_digests(q, list.items);
  add_reminders(q, list.items);
  add_duty_messages(q, list.items);
  std::stable_sort(list.items.begin(), list.items.end(), [](const UpcomingItem& a, const UpcomingItem& b) {
    return a.at != b.at ? a.at < b.at : a.kind < b.kind;
  });
  if (list.items.size() > limit) {
    list.items.resize(limit);
    list.truncated = true;
  }
  return list;
}

}  // namespace convene::jobs
