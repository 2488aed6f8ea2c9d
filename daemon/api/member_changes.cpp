#include "daemon/api/member_changes.hpp"

#include "calendar/durations.hpp"
#include "store/tokens.hpp"

#include <boost/json/serialize.hpp>

namespace convene::api {
namespace {

constexpr std::string_view kDays[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

}  // namespace

std::optional<int> parse_weekday(std::string_view name) {
  for (int i = 0; i < 7; ++i)
    if (name == kDays[i]) return i + 1;
  return std::nullopt;
}

std::string_view weekday_name(int iso_weekday) { return kDays[(iso_weekday - 1) % 7]; }

std::optional<std::chrono::seconds> parse_reminder_offset(std::string_view iso8601) {
  const auto d = calendar::parse_iso8601_duration(iso8601);
  if (!d || *d < std::chrono::minutes(1) || *d > std::chrono::days(60)) return std::nullopt;
  return *d;
}

std::string interval_array_sql(const std::vector<std::chrono::seconds>& offsets) {
  std::string sql = "{";
  for (const auto offset : offsets)
    sql.append(sql.size() > 1 ? "," : "").append("\"").append(std::to_string(offset.count())).append(" seconds\"");
  return sql + "}";
}

void update_member_settings(pqxx::transaction_base& tx, std::int64_t member_id, const MemberSettings& s,
                            const std::string& now_sql) {
  // A new address starts afresh: the suppression of the old one (and any of the new one, which
  // the member now vouches for) goes (schema 014).
  if (s.email)
    tx.exec_params(
        "DELETE FROM suppressions s USING members m WHERE m.id = $1 AND lower(m.email) <> lower($2) "
        "AND s.address IN (lower(m.email), lower($2))",
        member_id, *s.email);
  tx.exec_params(
      "UPDATE members SET email = coalesce($2, email), name = coalesce($3, name), "
      "time_zone = coalesce($4, time_zone), digest_hour = coalesce($5, digest_hour), "
      "weekly_day = coalesce($6, weekly_day), reminder_offsets = coalesce($7::interval[], reminder_offsets), "
      "updated_at = $8 WHERE id = $1",
      member_id, s.email, s.name, s.time_zone, s.digest_hour, s.weekly_day, s.reminder_offsets_sql, now_sql);
}

void insert_event(pqxx::transaction_base& tx, std::string_view kind, std::optional<std::int64_t> community_id,
                  boost::json::object payload, std::optional<std::int64_t> actor_id, const std::string& now_sql) {
  if (actor_id) payload["actor_id"] = *actor_id;
  const std::string json = boost::json::serialize(payload);
  if (community_id) {
    tx.exec_params("INSERT INTO events (kind, community_id, payload, occurred_at) VALUES ($1, $2, $3::jsonb, $4)",
                   std::string(kind), *community_id, json, now_sql);
  } else {
    tx.exec_params("INSERT INTO events (kind, payload, occurred_at) VALUES ($1, $2::jsonb, $3)", std::string(kind),
                   json, now_sql);
  }
}

MembershipChange set_membership(pqxx::transaction_base& tx, std::int64_t member_id, const CommunityRef& c,
                                const std::string& delivery, std::optional<std::int64_t> actor_id,
                                const std::string& now_sql) {
  const auto existing = tx.exec_params(
      "SELECT delivery FROM memberships WHERE member_id = $1 AND community_id = $2 FOR UPDATE", member_id, c.id);
  if (!existing.empty()) {
    tx.exec_params("UPDATE memberships SET delivery = $3, updated_at = $4 WHERE member_id = $1 AND community_id = $2",
                   member_id, c.id, delivery, now_sql);
    return existing[0][0].as<std::string>() == delivery ? MembershipChange::unchanged : MembershipChange::changed;
  }
  tx.exec_params(
      "INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
      member_id, c.id, delivery, now_sql);
  insert_event(tx, "member.joined", c.id,
               {{"member_id", member_id}, {"community", c.slug}, {"community_name", c.name}, {"delivery", delivery}},
               actor_id, now_sql);
  return MembershipChange::joined;
}

bool leave_community(pqxx::transaction_base& tx, std::int64_t member_id, const CommunityRef& c,
                     std::optional<std::int64_t> actor_id, const std::string& now_sql) {
  const auto removed = tx.exec_params(
      "DELETE FROM memberships WHERE member_id = $1 AND community_id = $2 RETURNING delivery", member_id, c.id);
  if (removed.empty()) return false;
  // Leaving stops everything still queued for this membership, at once.
  tx.exec_params(
      "UPDATE notifications SET state = 'cancelled' WHERE member_id = $1 AND community_id = $2 AND queued AND state = 'pending'",
      member_id, c.id);
  insert_event(tx, "member.left", c.id, {{"member_id", member_id}, {"community", c.slug}, {"community_name", c.name}},
               actor_id, now_sql);
  // The member's feed lost a community: its Last-Modified must move on.
  tx.exec_params("UPDATE members SET updated_at = $2 WHERE id = $1", member_id, now_sql);
  return true;
}

std::string rotate_feed_url(pqxx::transaction_base& tx, std::int64_t member_id, const std::string& public_url,
                            const std::string& now_sql) {
  store::revoke_tokens(tx, member_id, store::TokenPurpose::feed, now_sql);
  const std::string token = store::generate_token(store::TokenPurpose::feed);
  store::insert_token(tx, member_id, store::TokenPurpose::feed, token, "feed", now_sql);
  return public_url + "/feeds/members/" + token + ".ics";
}

}  // namespace convene::api
