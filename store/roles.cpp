#include "store/roles.hpp"

#include <pqxx/pqxx>

#include <string>

namespace convene::store {

bool holds_role(pqxx::transaction_base& tx, std::int64_t member_id, std::optional<std::int64_t> community_id,
                std::initializer_list<std::string_view> roles, std::string_view date) {
  std::string list = "{";
  for (auto r : roles) list.append(list.size() > 1 ? "," : "").append(r);
  list += "}";
  return !tx.exec_params(
                "SELECT 1 FROM roles WHERE member_id = $1 AND ($2::bigint IS NULL OR community_id = $2) "
                "AND role = ANY($3::text[]) AND starts_on <= $4::date AND (ends_on IS NULL OR ends_on >= $4::date) LIMIT 1",
                member_id, community_id, list, std::string(date))
              .empty();
}

}  // namespace convene::store
