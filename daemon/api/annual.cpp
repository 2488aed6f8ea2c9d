// Annual meetings: the TBD placeholders, setting a date and time, and the committee's plan.
#include "daemon/api/annual.hpp"

#include "calendar/annual.hpp"
#include "calendar/durations.hpp"
#include "calendar/zones.hpp"
#include "daemon/api/bookings.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/meeting_model.hpp"
#include "daemon/api/routes.hpp"
#include "jobs/annual_placeholders.hpp"
#include "store/migrations.hpp"
#include "store/sql_time.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>

namespace convene::api {
namespace {

constexpr int kFirstYear = 2000, kLastYear = 2200;

std::optional<int> parse_year(std::string_view text) {
  int year = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), year);
  if (ec != std::errc() || ptr != text.data() + text.size() || year < kFirstYear || year > kLastYear) return std::nullopt;
  return year;
}

// Whether [start, end) lies within the window's days as seen in the organisation's zone.
bool within_window(calendar::Instant start, calendar::Instant end, const calendar::DateWindow& w, std::string_view zone) {
  return calendar::in_window(calendar::local_date(start, zone), w) &&
         calendar::in_window(calendar::local_date(end - std::chrono::seconds(1), zone), w);
}

std::string window_text(const calendar::DateWindow& w) {
  return calendar::format_date(w.first) + " to " + calendar::format_date(w.last);
}

calendar::LocalDateTime midnight(std::chrono::year_month_day d) {
  return calendar::LocalDateTime{std::chrono::local_days{d}.time_since_epoch()};
}

// The confirmed annual meeting of another community that [start, end) overlaps, if any: the
// committee attends every one, so they must not overlap.
std::optional<Meeting> overlapping_annual(Call& call, int year, std::int64_t except_meeting, calendar::Instant start,
                                          calendar::Instant end) {
  const auto rows = call.tx.exec_params(
      "SELECT id FROM meetings WHERE kind = 'annual' AND annual_year = $1 AND status = 'confirmed' AND id <> $2 "
      "AND tstzrange(starts_at, ends_at) && tstzrange($3, $4) ORDER BY starts_at LIMIT 1",
      year, except_meeting, store::sql_instant(start), store::sql_instant(end));
  if (rows.empty()) return std::nullopt;
  return load_meeting(call, rows[0][0].as<std::int64_t>());
}

Reply annual_overlap_reply(const Meeting& other) {
  return conflict("the annual meeting of " + other.community + " is already set from " +
                      calendar::format_rfc3339_utc(other.start) + " to " + calendar::format_rfc3339_utc(other.end) +
                      "; the committee attends every annual meeting, so they must not overlap",
                  boost::json::object{{"conflicting_meeting", boost::json::object{{"id", other.id},
                                                                                  {"community", other.community},
                                                                                  {"start", calendar::format_rfc3339_utc(other.start)},
                                                                                  {"end", calendar::format_rfc3339_utc(other.end)}}}});
}

struct AnnualSetting {
  calendar::LocalDateTime start, end;
  std::string zone;
  std::optional<std::int64_t> room_id;
};

// Confirms the community's annual meeting of `year` at the given time: same UID, SEQUENCE+1.
// Returns the refusal (overlap, busy room) instead when it cannot.
std::optional<Reply> confirm_annual(Call& call, std::int64_t community_id, int year, const AnnualSetting& s) {
  ensure_annual_placeholders(call, year, community_id);
  const auto id = call.tx.exec_params(
      "SELECT id FROM meetings WHERE community_id = $1 AND kind = 'annual' AND annual_year = $2 FOR UPDATE", community_id,
      year);
  auto m = *load_meeting(call, id[0][0].as<std::int64_t>());
  const auto start = calendar::to_instant(s.start, s.zone), end = calendar::to_instant(s.end, s.zone);
  if (m.status == "confirmed" && m.start == start && m.end == end && m.time_zone == s.zone && m.room_id == s.room_id)
    return std::nullopt;  // already so: nothing changes for attendees
  if (const auto other = overlapping_annual(call, year, m.id, start, end)) return annual_overlap_reply(*other);
  call.tx.exec_params(
      "UPDATE meetings SET all_day = false, title = $2, time_zone = $3, start_local = $4, end_local = $5, starts_at = $6, "
      "ends_at = $7, room_id = $8, status = 'confirmed', sequence = sequence + 1, updated_at = $9 WHERE id = $1",
      m.id, m.community_name + " annual meeting", s.zone, store::sql_local(s.start), store::sql_local(s.end),
      store::sql_instant(start), store::sql_instant(end), s.room_id, call.now_sql);
  release_bookings(call, m.id);
  if (s.room_id)
    if (const auto conflict = book_room(call, m.id, *s.room_id, {{start, start, end}})) return conflict_reply(*conflict);
  const auto saved = *load_meeting(call, m.id);
  emit_event(call, "annual_meeting.scheduled", community_id, meeting_event_payload(saved));
  return std::nullopt;
}

boost::json::object annual_json(const Meeting& m) {
  boost::json::object o = meeting_json(m);
  o["state"] = m.status == "confirmed" ? "confirmed" : "tbd";
  o["community_name"] = m.community_name;
  return o;
}

Reply list_year(Call& call) {
  const auto year = parse_year(call.param("year"));
  if (!year) return not_found("year");
  if (*year >= current_year(call)) ensure_annual_placeholders(call, *year);
  const auto w = configured_window(call, *year);
  boost::json::array items;
  std::int64_t tbd = 0;
  for (const auto& r : call.tx.exec_params(
           "SELECT m.id FROM meetings m JOIN communities c ON c.id = m.community_id "
           "WHERE m.kind = 'annual' AND m.annual_year = $1 AND (c.status = 'active' OR m.status = 'confirmed') "
           "ORDER BY m.status DESC, m.starts_at, c.slug",
           *year)) {
    const auto m = *load_meeting(call, r[0].as<std::int64_t>());
    if (m.status != "confirmed") ++tbd;
    items.push_back(annual_json(m));
  }
  return ok(boost::json::object{{"year", *year},
                                {"window", boost::json::object{{"first", calendar::format_date(w.first)},
                                                               {"last", calendar::format_date(w.last)}}},
                                {"tbd", tbd},
                                {"items", std::move(items)}});
}

Reply set_annual(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins set annual meetings");
  const auto c = find_community(call, call.param("slug"), true);
  if (!c) return not_found("community");
  const auto year = parse_year(call.param("year"));
  if (!year) return not_found("year");
  Input in(call.http.body);
  std::optional<calendar::LocalDateTime> start, end;
  if (const auto s = in.text("start", true, Text::single_line, 32)) {
    start = calendar::parse_local_datetime(*s);
    if (!start) in.invalid("start", "must be a local date-time such as 2027-07-12T14:00");
    else if (auto p = date_range_problem(*start)) in.invalid("start", *p), start.reset();
  }
  if (const auto s = in.text("end", true, Text::single_line, 32)) {
    end = calendar::parse_local_datetime(*s);
    if (!end) in.invalid("end", "must be a local date-time such as 2027-07-12T15:30");
    else if (auto p = date_range_problem(*end)) in.invalid("end", *p), end.reset();
  }
  auto zone = in.text("time_zone", false, Text::single_line, 64);
  if (zone && !calendar::is_known_zone(*zone)) in.invalid("time_zone", "must be an IANA time zone"), zone.reset();
  const auto room = in.integer("room_id", false, 1, INT64_MAX);
  if (room && call.tx.exec_params("SELECT 1 FROM rooms WHERE id = $1", *room).empty())
    in.invalid("room_id", "no room has this id");
  const bool force = in.boolean("force", false).value_or(false);
  const std::string tz = zone.value_or(call.services.config.organisation_time_zone);
  if (start && end) {
    const auto s = calendar::to_instant(*start, tz), e = calendar::to_instant(*end, tz);
    if (e <= s) in.invalid("end", "must be after start");
    else if (e - s > std::chrono::hours(12)) in.invalid("end", "an annual meeting may last at most 12 hours");
    // The window is in the organisation's zone: the committee's calendar.
    const auto& org = call.services.config.organisation_time_zone;
    const auto w = configured_window(call, *year);
    if (!force && !within_window(s, e, w, org))
      in.invalid("start", "must fall within the annual-meeting window, " + window_text(w) + " (" + org +
                              "); send \"force\": true to set it outside");
  }
  if (*year < current_year(call)) in.invalid("year", "annual meetings of past years cannot be changed");
  else if (start && calendar::to_instant(*start, tz) <= call.now) in.invalid("start", "must be in the future");
  if (auto error = in.finish()) return *error;
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");
  if (auto refused = confirm_annual(call, c->id, *year, {*start, *end, tz, room})) return *refused;
  const auto id = call.tx.exec_params("SELECT id FROM meetings WHERE community_id = $1 AND kind = 'annual' AND annual_year = $2",
                                      c->id, *year)[0][0].as<std::int64_t>();
  return ok(annual_json(*load_meeting(call, id)));
}

// What a plan depends on: the year's annual meetings and every room booking in the window.
// A proposal carries this fingerprint; apply refuses a proposal whose world has changed.
std::string plan_fingerprint(Call& call, int year, calendar::Instant from, calendar::Instant to,
                             const boost::json::array& slots) {
  std::string state = std::to_string(year) + "|";
  for (const auto& r : call.tx.exec_params(
           "SELECT m.id, m.community_id, m.status, m.sequence FROM meetings m JOIN communities c ON c.id = m.community_id "
           "WHERE m.kind = 'annual' AND m.annual_year = $1 AND c.status = 'active' ORDER BY m.id",
           year))
    state += r[0].c_str() + std::string(",") + r[1].c_str() + "," + r[2].c_str() + "," + r[3].c_str() + ";";
  state += "|";
  for (const auto& r : call.tx.exec_params(
           "SELECT meeting_id, recurrence_id, room_id, lower(during), upper(during) FROM room_bookings "
           "WHERE during && tstzrange($1, $2) ORDER BY room_id, lower(during), meeting_id",
           store::sql_instant(from), store::sql_instant(to)))
    state += std::string(r[0].c_str()) + "," + r[2].c_str() + "," + r[3].c_str() + "," + r[4].c_str() + ";";
  state.append("|").append(boost::json::serialize(slots));
  return store::sha256_hex(state);
}

std::optional<std::chrono::minutes> parse_hhmm(std::string_view text) {
  const auto t = calendar::parse_local_datetime("2000-01-01T" + std::string(text));
  if (!t || text.size() != 5) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::minutes>(t->time_since_epoch() % std::chrono::days(1));
}

Reply plan(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins plan annual meetings");
  const auto year = parse_year(call.param("year"));
  if (!year) return not_found("year");
  Input in(call.http.body.empty() ? std::string_view("{}") : std::string_view(call.http.body));
  calendar::PlanRequest request;
  request.year = *year;
  request.zone = call.services.config.organisation_time_zone;
  request.window = {call.services.config.annual_window_month, call.services.config.annual_window_first_day,
                    call.services.config.annual_window_days};
  if (const auto s = in.text("day_start", false, Text::single_line, 5)) {
    if (auto m = parse_hhmm(*s)) request.day_start = *m;
    else in.invalid("day_start", "must be a time of day such as 09:00");
  }
  if (const auto s = in.text("day_end", false, Text::single_line, 5)) {
    if (*s == "24:00") request.day_end = std::chrono::hours(24);
    else if (auto m = parse_hhmm(*s)) request.day_end = *m;
    else in.invalid("day_end", "must be a time of day such as 17:00");
  }
  if (const auto s = in.text("duration", false, Text::single_line, 16)) {
    const auto d = calendar::parse_iso8601_duration(*s);
    if (!d || *d < std::chrono::minutes(15) || *d > std::chrono::hours(12))
      in.invalid("duration", "must be an ISO 8601 duration from PT15M to PT12H, such as PT1H");
    else request.duration = std::chrono::duration_cast<std::chrono::minutes>(*d);
  }
  if (const auto s = in.text("gap", false, Text::single_line, 16)) {
    const auto d = calendar::parse_iso8601_duration(*s);
    if (!d || *d > std::chrono::hours(4)) in.invalid("gap", "must be an ISO 8601 duration up to PT4H, such as PT15M");
    else request.gap = std::chrono::duration_cast<std::chrono::minutes>(*d);
  }
  request.weekdays_only = in.boolean("weekdays_only", false).value_or(true);
  if (request.day_end <= request.day_start) in.invalid("day_end", "must be after day_start");
  else if (request.day_end - request.day_start < request.duration) in.invalid("duration", "must fit between day_start and day_end");
  if (*year < current_year(call)) in.invalid("year", "cannot plan a past year");
  if (auto error = in.finish()) return *error;

  ensure_annual_placeholders(call, *year);
  const auto w = configured_window(call, *year);
  const auto from = calendar::to_instant(midnight(w.first), request.zone) - std::chrono::days(1);
  const auto to = calendar::to_instant(midnight(calendar::exclusive_end(w)), request.zone) + std::chrono::days(1);
  std::vector<std::int64_t> tbd;
  std::map<std::int64_t, std::string> slugs;
  for (const auto& r : call.tx.exec_params(
           "SELECT c.id, c.slug FROM meetings m JOIN communities c ON c.id = m.community_id WHERE m.kind = 'annual' "
           "AND m.annual_year = $1 AND m.status = 'tentative' AND c.status = 'active' ORDER BY c.slug",
           *year)) {
    tbd.push_back(r[0].as<std::int64_t>());
    slugs[r[0].as<std::int64_t>()] = r[1].as<std::string>();
  }
  std::vector<calendar::Interval> taken;
  for (const auto& r : call.tx.exec_params(
           "SELECT starts_at, ends_at FROM meetings WHERE kind = 'annual' AND annual_year = $1 AND status = 'confirmed'", *year))
    taken.push_back({store::parse_sql_instant(r[0].as<std::string>()), store::parse_sql_instant(r[1].as<std::string>())});
  std::vector<calendar::PlanRoom> rooms;
  for (const auto& r : call.tx.exec("SELECT id FROM rooms ORDER BY id")) rooms.push_back({r[0].as<std::int64_t>(), {}});
  for (auto& room : rooms)
    for (const auto& b : call.tx.exec_params(
             "SELECT lower(during), upper(during) FROM room_bookings WHERE room_id = $1 AND during && tstzrange($2, $3)",
             room.id, store::sql_instant(from), store::sql_instant(to)))
      room.busy.push_back({store::parse_sql_instant(b[0].as<std::string>()), store::parse_sql_instant(b[1].as<std::string>())});

  const auto result = calendar::plan_annual_meetings(request, tbd, taken, rooms);
  boost::json::array slots, unplaced;
  for (const auto& s : result.slots) {
    boost::json::object slot{{"community", slugs[s.community_id]},
                             {"start", calendar::format_local_datetime(s.local_start)},
                             {"end", calendar::format_local_datetime(s.local_end)},
                             {"time_zone", request.zone},
                             {"start_utc", calendar::format_rfc3339_utc(s.start)},
                             {"end_utc", calendar::format_rfc3339_utc(s.end)}};
    slot["room_id"] = s.room_id ? boost::json::value(*s.room_id) : boost::json::value(nullptr);
    slots.push_back(std::move(slot));
  }
  for (const auto id : result.unplaced) unplaced.emplace_back(slugs[id]);
  const std::string fingerprint = plan_fingerprint(call, *year, from, to, slots);
  return ok(boost::json::object{{"year", *year},
                                {"window", boost::json::object{{"first", calendar::format_date(w.first)},
                                                               {"last", calendar::format_date(w.last)}}},
                                {"slots", std::move(slots)},
                                {"unplaced", std::move(unplaced)},
                                {"fingerprint", fingerprint}});
}

Reply apply_plan(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins apply annual-meeting plans");
  const auto year = parse_year(call.param("year"));
  if (!year) return not_found("year");
  Input in(call.http.body);
  const auto* proposal = in.object("proposal", true);
  if (auto error = in.finish()) return *error;
  const auto* slots = proposal->if_contains("slots");
  const auto* fingerprint = proposal->if_contains("fingerprint");
  if (slots == nullptr || !slots->is_array() || fingerprint == nullptr || !fingerprint->is_string())
    return field_problem(400, "the proposal must be the body returned by the plan route",
                         {{"proposal", "needs slots (array) and fingerprint (string)"}});
  if (slots->as_array().size() > 10000) return field_problem(422, "too many slots", {{"proposal.slots", "at most 10000"}});
  ensure_annual_placeholders(call, *year);
  // Serialise concurrent applies and set-date requests for the year before comparing.
  call.tx.exec_params("SELECT id FROM meetings WHERE kind = 'annual' AND annual_year = $1 ORDER BY id FOR UPDATE", *year);
  const auto w = configured_window(call, *year);
  const auto& zone = call.services.config.organisation_time_zone;
  const auto from = calendar::to_instant(midnight(w.first), zone) - std::chrono::days(1);
  const auto to = calendar::to_instant(midnight(calendar::exclusive_end(w)), zone) + std::chrono::days(1);
  if (plan_fingerprint(call, *year, from, to, slots->as_array()) != fingerprint->as_string())
    return conflict("the proposal is out of date: annual meetings or room bookings changed since it was made (or it was "
                    "edited); ask for a new plan");
  // The fingerprint says the world has not changed; the slots are still client input.
  std::vector<std::pair<std::int64_t, AnnualSetting>> settings;
  std::vector<FieldError> errors;
  const auto& array = slots->as_array();
  for (std::size_t i = 0; i < array.size(); ++i) {
    const std::string field = "proposal.slots[" + std::to_string(i) + "]";
    const auto* slot = array[i].if_object();
    auto text = [&](const char* key) -> std::optional<std::string> {
      const auto* v = slot != nullptr ? slot->if_contains(key) : nullptr;
      if (v == nullptr || !v->is_string()) return std::nullopt;
      return std::string(v->as_string());
    };
    const auto slug = text("community"), start_text = text("start"), end_text = text("end"), tz = text("time_zone");
    const auto start = start_text ? calendar::parse_local_datetime(*start_text) : std::nullopt;
    const auto end = end_text ? calendar::parse_local_datetime(*end_text) : std::nullopt;
    const auto c = slug ? find_community(call, *slug, true) : std::nullopt;
    const auto* room = slot != nullptr ? slot->if_contains("room_id") : nullptr;
    if (!c || c->status != "active" || !start || !end || !tz || !calendar::is_known_zone(*tz) ||
        (room != nullptr && !room->is_null() && !room->is_int64())) {
      errors.push_back({field, "must be a slot of the proposal: {community, start, end, time_zone, room_id}"});
      continue;
    }
    const auto s_instant = calendar::to_instant(*start, *tz), e_instant = calendar::to_instant(*end, *tz);
    if (e_instant <= s_instant || e_instant - s_instant > std::chrono::hours(12) || s_instant <= call.now ||
        !within_window(s_instant, e_instant, w, zone)) {
      errors.push_back({field, "must be a future slot of at most 12 hours within the annual-meeting window, " +
                                   window_text(w)});
      continue;
    }
    if (room != nullptr && room->is_int64() &&
        call.tx.exec_params("SELECT 1 FROM rooms WHERE id = $1", room->as_int64()).empty()) {
      errors.push_back({field, "names a room that does not exist"});
      continue;
    }
    AnnualSetting setting{*start, *end, *tz, std::nullopt};
    if (room != nullptr && room->is_int64()) setting.room_id = room->as_int64();
    settings.emplace_back(c->id, setting);
  }
  if (!errors.empty()) return field_problem(422, "the proposal has slots that cannot be applied", errors);
  std::int64_t applied = 0;
  for (const auto& [community_id, setting] : settings) {
    if (auto refused = confirm_annual(call, community_id, *year, setting)) return *refused;
    ++applied;
  }
  return ok(boost::json::object{{"year", *year}, {"applied", applied}});
}

}  // namespace

int current_year(const Call& call) { return static_cast<int>(call.today.year()); }

calendar::DateWindow configured_window(const Call& call, int year) {
  const auto& c = call.services.config;
  return calendar::annual_window(year, {c.annual_window_month, c.annual_window_first_day, c.annual_window_days});
}

void ensure_annual_placeholders(Call& call, int year, std::optional<std::int64_t> community_id) {
  const auto& c = call.services.config;
  const jobs::PlaceholderSettings settings{
      c.organisation_time_zone, uid_domain(c), {c.annual_window_month, c.annual_window_first_day, c.annual_window_days}};
  jobs::ensure_annual_placeholders(call.tx, year, community_id, settings, call.now);
}

void register_annual_meetings(Api& api) {
  api.add("GET", "/v1/annual-meetings/{year}", list_year);
  api.add("PUT", "/v1/communities/{slug}/annual-meeting/{year}", set_annual, {.body = Body::json});
  api.add("POST", "/v1/annual-meetings/{year}/plan", plan, {.body = Body::json});
  api.add("POST", "/v1/annual-meetings/{year}/plan/apply", apply_plan, {.body = Body::json});
}

}  // namespace convene::api
