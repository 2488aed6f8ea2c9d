#include "daemon/api/bookings.hpp"

#include "daemon/api/common.hpp"
#include "store/sql_time.hpp"

#include <pqxx/except>

#include <algorithm>

namespace convene::api {
namespace {

std::string array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& i : items) out += (out.size() > 1 ? "," : "") + i;  // RFC 3339 text needs no quoting
  return out + "}";
}

}  // namespace

std::optional<std::pair<BookedSlot, BookedSlot>> overlapping_pair(std::vector<BookedSlot> slots) {
  std::sort(slots.begin(), slots.end(), [](const BookedSlot& a, const BookedSlot& b) { return a.start < b.start; });
  for (std::size_t i = 1; i < slots.size(); ++i)
    if (slots[i].start < slots[i - 1].end) return std::make_pair(slots[i - 1], slots[i]);
  return std::nullopt;
}

calendar::Instant booking_horizon(const Call& call) {
  return calendar::months_later(call.now, call.services.config.booking_horizon_months);
}

std::optional<BookingConflict> book_room(Call& call, std::int64_t meeting_id, std::int64_t room_id,
                                         const std::vector<BookedSlot>& occurrences) {
  if (occurrences.empty()) return std::nullopt;
  std::vector<std::string> ids, starts, ends;
  for (const auto& o : occurrences) {
    ids.push_back(store::sql_instant(o.recurrence_id));
    starts.push_back(store::sql_instant(o.start));
    ends.push_back(store::sql_instant(o.end));
  }
  const std::string ids_sql = array_literal(ids), starts_sql = array_literal(starts), ends_sql = array_literal(ends);
  // A savepoint: a refused booking must not poison the request's transaction.
  call.tx.exec("SAVEPOINT booking");
  try {
    call.tx.exec_params(
        "INSERT INTO room_bookings (meeting_id, recurrence_id, room_id, during) "
        "SELECT $1, o.rid, $2, tstzrange(o.s, o.e) FROM unnest($3::timestamptz[], $4::timestamptz[], $5::timestamptz[]) "
        "AS o(rid, s, e)",
        meeting_id, room_id, ids_sql, starts_sql, ends_sql);
    call.tx.exec("RELEASE SAVEPOINT booking");
    return std::nullopt;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != "23P01") throw;  // only the exclusion constraint is an expected failure
  }
  call.tx.exec("ROLLBACK TO SAVEPOINT booking");
  // The booking in the way; it may be another occurrence of the same meeting (a moved one).
  const auto rows = call.tx.exec_params(
      "SELECT b.meeting_id, m.title, c.slug, r.name, lower(b.during), upper(b.during) "
      "FROM room_bookings b JOIN meetings m ON m.id = b.meeting_id JOIN communities c ON c.id = m.community_id "
      "JOIN rooms r ON r.id = b.room_id, unnest($2::timestamptz[], $3::timestamptz[]) AS o(s, e) "
      "WHERE b.room_id = $1 AND b.during && tstzrange(o.s, o.e) "
      "ORDER BY lower(b.during) LIMIT 1",
      room_id, starts_sql, ends_sql);
  if (rows.empty()) throw std::runtime_error("room booking refused but no conflicting booking found");
  const auto& r = rows[0];
  return BookingConflict{r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                         r[3].as<std::string>(), rfc3339(r[4].as<std::string>()), rfc3339(r[5].as<std::string>())};
}

void release_bookings(Call& call, std::int64_t meeting_id, std::optional<calendar::Instant> from) {
  if (from) {
    call.tx.exec_params("DELETE FROM room_bookings WHERE meeting_id = $1 AND upper(during) > $2", meeting_id,
                        store::sql_instant(*from));
  } else {
    call.tx.exec_params("DELETE FROM room_bookings WHERE meeting_id = $1", meeting_id);
  }
}

Reply conflict_reply(const BookingConflict& c) {
  return conflict("room " + c.room + " is already booked by \"" + c.title + "\" (meeting " +
                      std::to_string(c.meeting_id) + " of " + c.community + ") from " + c.start + " to " + c.end,
                  boost::json::object{{"conflicting_meeting",
                                       boost::json::object{{"id", c.meeting_id},
                                                           {"title", c.title},
                                                           {"community", c.community},
                                                           {"room", c.room},
                                                           {"start", c.start},
                                                           {"end", c.end}}}});
}

}  // namespace convene::api
