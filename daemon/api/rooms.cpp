// The association's shared virtual meeting rooms and their occupancy.
#include "calendar/local_time.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/routes.hpp"
#include "store/roles.hpp"
#include "store/sql_time.hpp"

namespace convene::api {
namespace {

boost::json::object room_json(const pqxx::row& r) {
  return boost::json::object{{"id", r[0].as<std::int64_t>()},
                             {"name", r[1].as<std::string>()},
                             {"join_url", r[2].as<std::string>()},
                             {"capacity", r[3].as<std::int64_t>()},
                             {"created_at", rfc3339(r[4].as<std::string>())}};
}

Reply create_room(Call& call) {
  if (!call.admin()) return forbidden("only admins add rooms");
  Input in(call.http.body);
  auto name = in.text("name", true, Text::single_line, 200);
  if (name && name->empty()) in.invalid("name", "must not be empty"), name.reset();
  auto url = in.text("join_url", true, Text::single_line, 2000);
  if (url) {
    if (auto p = url_problem(*url)) in.invalid("join_url", *p), url.reset();
  }
  const auto capacity = in.integer("capacity", true, 1, 100000);
  if (auto error = in.finish()) return *error;
  if (!call.tx.exec_params("SELECT 1 FROM rooms WHERE name = $1", *name).empty())
    return conflict("a room named " + *name + " already exists",
                    boost::json::object{{"errors", boost::json::array{boost::json::object{
                                                       {"field", "name"}, {"message", "is already taken"}}}}});
  const auto rows = call.tx.exec_params(
      "INSERT INTO rooms (name, join_url, capacity, created_at) VALUES ($1, $2, $3, $4) "
      "RETURNING id, name, join_url, capacity, created_at",
      *name, *url, *capacity, call.now_sql);
  return created(room_json(rows[0]));
}

Reply list_rooms(Call& call) {
  Reply error;
  const auto page = parse_page(call, error);
  if (!page) return error;
  const auto total = call.tx.exec("SELECT count(*) FROM rooms")[0][0].as<std::int64_t>();
  boost::json::array items;
  for (const auto& r : call.tx.exec_params(
           "SELECT id, name, join_url, capacity, created_at FROM rooms ORDER BY name LIMIT $1 OFFSET $2", page->per_page,
           page->offset()))
    items.push_back(room_json(r));
  return ok(page_json(*page, total, std::move(items)));
}

// ?from= and ?to= as RFC 3339 instants or dates (UTC midnight).
std::optional<calendar::Instant> parse_bound(const std::string& text) { return parse_time_bound(text, "UTC"); }

Reply bookings(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("room");
  // A coordinator of any community.
  const bool coordinator = store::holds_role(call.tx, call.principal->member_id, std::nullopt,
                                             {"meeting_coordinator", "event_coordinator"}, calendar::format_date(call.today));
  if (!coordinator && !call.committee()) return forbidden("only coordinators, the committee and admins see room bookings");
  const auto room = call.tx.exec_params("SELECT id, name, join_url, capacity, created_at FROM rooms WHERE id = $1", *id);
  if (room.empty()) return not_found("room");
  std::vector<FieldError> errors;
  calendar::Instant from = call.now;
  if (const auto f = call.query("from")) {
    if (const auto t = parse_bound(*f)) from = *t;
    else errors.push_back({"from", "must be a date (2027-03-01) or a UTC instant (2027-03-01T10:00:00Z)"});
  }
  calendar::Instant to = from + std::chrono::days(31);
  if (const auto t = call.query("to")) {
    if (const auto v = parse_bound(*t)) to = *v;
    else errors.push_back({"to", "must be a date (2027-03-31) or a UTC instant (2027-03-31T00:00:00Z)"});
  }
  if (errors.empty() && to <= from) errors.push_back({"to", "must be after from"});
  if (errors.empty() && to - from > std::chrono::days(800)) errors.push_back({"to", "the range may span at most 800 days"});
  if (!errors.empty()) return field_problem(422, "bad range", errors);
  boost::json::array items;
  for (const auto& r : call.tx.exec_params(
           "SELECT b.meeting_id, m.title, c.slug, m.kind, lower(b.during), upper(b.during), b.recurrence_id "
           "FROM room_bookings b JOIN meetings m ON m.id = b.meeting_id JOIN communities c ON c.id = m.community_id "
           "WHERE b.room_id = $1 AND b.during && tstzrange($2, $3) ORDER BY lower(b.during) LIMIT 5000",
           *id, store::sql_instant(from), store::sql_instant(to)))
    items.push_back(boost::json::object{{"meeting_id", r[0].as<std::int64_t>()},
                                        {"title", r[1].as<std::string>()},
                                        {"community", r[2].as<std::string>()},
                                        {"kind", r[3].as<std::string>()},
                                        {"start", rfc3339(r[4].as<std::string>())},
                                        {"end", rfc3339(r[5].as<std::string>())},
                                        {"recurrence_id", rfc3339(r[6].as<std::string>())}});
  return ok(boost::json::object{{"room", room_json(room[0])},
                                {"from", calendar::format_rfc3339_utc(from)},
                                {"to", calendar::format_rfc3339_utc(to)},
                                {"bookings", std::move(items)}});
}

}  // namespace

void register_rooms(Api& api) {
  api.add("POST", "/v1/rooms", create_room, {.body = Body::json});
  api.add("GET", "/v1/rooms", list_rooms);
  api.add("GET", "/v1/rooms/{id}/bookings", bookings);
}

}  // namespace convene::api
