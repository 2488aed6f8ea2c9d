#pragma once
// Changes to a member and their memberships that the v1 API and the preferences page both
// make: one place for the SQL and for the outbox events each change writes (DESIGN §4), so
// the two doors cannot drift apart. Every function works in the caller's transaction.
#include "daemon/api/common.hpp"

#include <boost/json/object.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convene::api {

// ISO weekdays: 1 = "monday" ... 7 = "sunday".
std::optional<int> parse_weekday(std::string_view name);
std::string_view weekday_name(int iso_weekday);

// A reminder offset as an ISO 8601 duration from PT1M to P60D ("PT1H", "P1D"), or nullopt.
std::optional<std::chrono::seconds> parse_reminder_offset(std::string_view iso8601);
// An interval[] literal for SQL parameters: {"3600 seconds","86400 seconds"}.
std::string interval_array_sql(const std::vector<std::chrono::seconds>& offsets);

// Member fields to change; nullopt leaves one as it is.
struct MemberSettings {
  std::optional<std::string> email, name, time_zone;
  std::optional<std::string> reminder_offsets_sql;  // interval_array_sql
  std::optional<std::int64_t> digest_hour;          // 0..23
  std::optional<int> weekly_day;                    // 1..7
};
// A changed email address removes the suppressions of the old and the new address.
void update_member_settings(pqxx::transaction_base& tx, std::int64_t member_id, const MemberSettings& settings,
                            const std::string& now_sql);

// Writes an outbox event; `actor_id`, when known, goes into the payload.
void insert_event(pqxx::transaction_base& tx, std::string_view kind, std::optional<std::int64_t> community_id,
                  boost::json::object payload, std::optional<std::int64_t> actor_id, const std::string& now_sql);

enum class MembershipChange { joined, changed, unchanged };
// Joins the community with that delivery mode (member.joined) or changes the mode of an
// existing membership. The community must be active and the member exist.
MembershipChange set_membership(pqxx::transaction_base& tx, std::int64_t member_id, const CommunityRef& community,
                                const std::string& delivery, std::optional<std::int64_t> actor_id,
                                const std::string& now_sql);
// Leaves the community: queued notifications are cancelled, member.left is written. False when
// the member was not in it.
bool leave_community(pqxx::transaction_base& tx, std::int64_t member_id, const CommunityRef& community,
                     std::optional<std::int64_t> actor_id, const std::string& now_sql);

// Revokes the member's feed token and makes a new one; returns the new feed URL (shown once:
// only the token's hash is kept).
std::string rotate_feed_url(pqxx::transaction_base& tx, std::int64_t member_id, const std::string& public_url,
                            const std::string& now_sql);

}  // namespace convene::api
