#pragma once
// Room bookings: one row per occupied occurrence, guarded by the exclusion constraint
// room_bookings_no_overlap, so two instances can never double-book a room.
#include "calendar/recurrence.hpp"
#include "daemon/api/api.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convene::api {

struct BookingConflict {
  std::int64_t meeting_id = 0;
  std::string title;
  std::string community;
  std::string room;
  std::string start;  // RFC 3339 UTC
  std::string end;
};

// One occupied occurrence: its original start (RECURRENCE-ID) and where it actually is.
struct BookedSlot {
  calendar::Instant recurrence_id;
  calendar::Instant start;
  calendar::Instant end;
};

// Books the room for every slot; nothing is booked when any of them conflicts, and the
// first conflicting booking is returned instead.
std::optional<BookingConflict> book_room(Call& call, std::int64_t meeting_id, std::int64_t room_id,
                                         const std::vector<BookedSlot>& occurrences);

// Two of the slots that overlap each other (a series whose occurrences run into the next
// one), or nullopt; such a series cannot be booked in one room.
std::optional<std::pair<BookedSlot, BookedSlot>> overlapping_pair(std::vector<BookedSlot> slots);

// Removes the meeting's bookings (those starting at or after `from`, when given).
void release_bookings(Call& call, std::int64_t meeting_id, std::optional<calendar::Instant> from = std::nullopt);

Reply conflict_reply(const BookingConflict& conflict);

// The end of the booking horizon: now + booking_horizon_months.
calendar::Instant booking_horizon(const Call& call);

}  // namespace convene::api
