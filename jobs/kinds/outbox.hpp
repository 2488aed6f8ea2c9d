#pragma once
// Outbox events written by jobs (DESIGN §4): in the job's transaction, so the event exists if
// and only if the job's run commits. The events_fanout trigger (schema 004) makes each one a
// `fanout` job.
#include "calendar/clock.hpp"

#include <boost/json/object.hpp>
#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string_view>

namespace convene::jobs {

// Returns the event's id. occurred_at is `now`.
std::int64_t emit_event(pqxx::work& tx, std::string_view kind, std::optional<std::int64_t> community_id,
                        const boost::json::object& payload, calendar::Instant now);

}  // namespace convene::jobs
