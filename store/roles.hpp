#pragma once
// Whether a member holds a role on a date (roles are dated: a past end date grants nothing).
#include <pqxx/transaction_base>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace convene::store {

// In `community_id`, or in any community (and globally) when it is nullopt. `date` is
// "YYYY-MM-DD" in the organisation's zone.
bool holds_role(pqxx::transaction_base& tx, std::int64_t member_id, std::optional<std::int64_t> community_id,
                std::initializer_list<std::string_view> roles, std::string_view date);

}  // namespace convene::store
