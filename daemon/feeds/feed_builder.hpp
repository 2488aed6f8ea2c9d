#pragma once
// Reads what a feed shows from PostgreSQL and renders it (calendar::render_ics).
#include "calendar/clock.hpp"
#include "daemon/feeds/feed_cache.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>

namespace convene::feeds {

struct FeedSettings {
  std::string organisation_time_zone;
  std::chrono::seconds refresh{3600};
};

// A community's meetings, special events, deadlines and annual meetings. Join URLs only when
// `with_join_urls` (the feed needed a token).
Feed build_community_feed(pqxx::transaction_base& tx, std::int64_t community_id, bool with_join_urls,
                          calendar::Instant now, const FeedSettings& settings);
// Everything of the member's communities, with VALARMs at the member's reminder offsets.
Feed build_member_feed(pqxx::transaction_base& tx, std::int64_t member_id, calendar::Instant now,
                       const FeedSettings& settings);
// What occupies a room.
Feed build_room_feed(pqxx::transaction_base& tx, std::int64_t room_id, calendar::Instant now,
                     const FeedSettings& settings);

}  // namespace convene::feeds
