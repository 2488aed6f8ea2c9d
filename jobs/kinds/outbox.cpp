#include "jobs/kinds/outbox.hpp"

#include "store/sql_time.hpp"

#include <boost/json/serialize.hpp>

#include <string>

namespace convene::jobs {

std::int64_t emit_event(pqxx::work& tx, std::string_view kind, std::optional<std::int64_t> community_id,
                        const boost::json::object& payload, calendar::Instant now) {
  return tx
      .exec_params(
          "INSERT INTO events (kind, community_id, payload, occurred_at) VALUES ($1, $2, $3::jsonb, $4) RETURNING id",
          std::string(kind), community_id, boost::json::serialize(payload), store::sql_instant(now))[0][0]
      .as<std::int64_t>();
}

}  // namespace convene::jobs
