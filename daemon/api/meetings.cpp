// Meetings and special events: one-off or recurring, booked in rooms without overlaps.
#include "calendar/local_time.hpp"
#include "calendar/recurrence.hpp"
#include "calendar/zones.hpp"
#include "daemon/api/bookings.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/meeting_model.hpp"
#include "daemon/api/routes.hpp"
#include "store/sql_time.hpp"

#include <boost/json/array.hpp>

namespace convene::api {
namespace {

constexpr auto kMaxDuration = std::chrono::days(14);

const char* role_for_kind(std::string_view kind) {
  return kind == "meeting" ? "meeting_coordinator" : "event_coordinator";
}

bool may_manage(Call& call, std::int64_t community_id, std::string_view kind) {
  if (kind == "annual") return call.committee();
  return call.has_role(community_id, {role_for_kind(kind)});
}

std::string forbidden_text(std::string_view kind) {
  return kind == "meeting" ? "only the community's meeting coordinators manage its meetings"
                           : "only the community's event coordinators manage its special events and deadlines";
}

// Where every occurrence within the booking horizon actually is, moved ones included.
// Nullopt when the series has more occurrences than max_occurrences in the horizon.
std::optional<std::vector<BookedSlot>> occupied_slots(Call& call, const Meeting& m) {
  const auto horizon = booking_horizon(call);
  const auto limit = static_cast<std::size_t>(call.services.config.max_occurrences);
  const auto expansion = calendar::expand(m.series(), call.now, horizon, limit);
  if (expansion.truncated) return std::nullopt;
  std::vector<BookedSlot> slots;
  for (const auto& o : expansion.occurrences) {
    BookedSlot slot{o.start, o.start, o.end};
    for (const auto& e : m.exceptions)
      if (!e.cancelled && e.recurrence_id == o.start) slot.start = *e.start, slot.end = *e.end;
    slots.push_back(slot);
  }
  // Occurrences moved into the horizon from outside it.
  for (const auto& e : m.exceptions) {
    if (e.cancelled || *e.end <= call.now) continue;
    const bool listed = std::any_of(slots.begin(), slots.end(), [&](const BookedSlot& s) { return s.recurrence_id == e.recurrence_id; });
    if (!listed) slots.push_back({e.recurrence_id, *e.start, *e.end});
  }
  return slots;
}

Reply too_many_occurrences(const Call& call) {
  return field_problem(422, "the series has too many occurrences",
                       {{"rrule", "yields more than " + std::to_string(call.services.config.max_occurrences) +
                                      " occurrences within the " +
                                      std::to_string(call.services.config.booking_horizon_months) +
                                      "-month booking horizon"}});
}

// (Re)books the meeting's room for every future occurrence; a reply when that is impossible.
std::optional<Reply> rebook(Call& call, const Meeting& m) {
  release_bookings(call, m.id, call.now);
  if (!m.room_id || m.status == "cancelled") return std::nullopt;
  const auto slots = occupied_slots(call, m);
  if (!slots) return too_many_occurrences(call);
  if (const auto pair = overlapping_pair(*slots))
    return field_problem(422, "occurrences of this meeting overlap each other",
                         {{"end", "the occurrence at " + calendar::format_rfc3339_utc(pair->first.start) +
                                      " runs into the one at " + calendar::format_rfc3339_utc(pair->second.start) +
                                      "; make the meeting shorter than the interval between occurrences"}});
  if (const auto conflict = book_room(call, m.id, *m.room_id, *slots)) return conflict_reply(*conflict);
  return std::nullopt;
}

// Occurrences from now to the booking horizon (a one-off: its start) whose local time does not
// exist or happens twice. DESIGN §3 decides their instant; the answer says which, so that the
// coordinator is not surprised by a meeting at 03:30 or at the first of two 01:30s.
boost::json::array local_time_warnings(const Call& call, const Meeting& m) {
  constexpr std::size_t kMaxWarnings = 50;
  boost::json::array out;
  if (m.all_day || m.status == "cancelled") return out;
  const auto warn = [&](calendar::LocalDateTime local, calendar::Instant start, calendar::LocalTimeKind kind) {
    const bool gap = kind == calendar::LocalTimeKind::in_gap;
    const std::string wall = calendar::format_local_datetime(local);
    const std::string actual = calendar::format_rfc3339_local(start, m.time_zone);
    out.push_back(boost::json::object{
        {"local_start", wall},
        {"problem", gap ? "nonexistent" : "repeated"},
        {"start_utc", calendar::format_rfc3339_utc(start)},
        {"detail", gap ? wall + " does not exist in " + m.time_zone + " (the clocks go forward): it starts at " + actual
                       : wall + " happens twice in " + m.time_zone + " (the clocks go back): it starts at the first, " +
                             actual}});
  };
  if (!m.rrule) {
    const auto resolved = calendar::resolve_local(m.start_local, m.time_zone);
    if (resolved.kind != calendar::LocalTimeKind::unique) warn(m.start_local, resolved.instant, resolved.kind);
    return out;
  }
  for (const auto& i : calendar::scan_series(m.series(), booking_horizon(call)).irregular) {
    if (out.size() == kMaxWarnings) break;
    if (i.occurrence.start >= call.now) warn(i.occurrence.local_start, i.occurrence.start, i.kind);
  }
  return out;
}

// A meeting as answered to its coordinators: meeting_json with local_time_warnings.
boost::json::object meeting_answer(const Call& call, const Meeting& m) {
  auto o = meeting_json(m);
  o["local_time_warnings"] = local_time_warnings(call, m);
  return o;
}

struct Timing {
  std::optional<calendar::LocalDateTime> start, end;
  std::optional<std::string> zone;
};

Timing read_timing(Input& in, bool required) {
  Timing t;
  if (const auto s = in.text("start", required, Text::single_line, 32)) {
    t.start = calendar::parse_local_datetime(*s);
    if (!t.start) in.invalid("start", "must be a local date-time such as 2027-03-01T10:00");
    else if (auto p = date_range_problem(*t.start)) in.invalid("start", *p), t.start.reset();
  }
  if (const auto s = in.text("end", required, Text::single_line, 32)) {
    t.end = calendar::parse_local_datetime(*s);
    if (!t.end) in.invalid("end", "must be a local date-time such as 2027-03-01T11:00");
    else if (auto p = date_range_problem(*t.end)) in.invalid("end", *p), t.end.reset();
  }
  t.zone = in.text("time_zone", false, Text::single_line, 64);
  if (t.zone && !calendar::is_known_zone(*t.zone))
    in.invalid("time_zone", "must be an IANA time zone such as America/Chicago"), t.zone.reset();
  return t;
}

// Checks end after start (as instants) and the length limit.
void check_span(Input& in, calendar::LocalDateTime start, calendar::LocalDateTime end, const std::string& zone) {
  const auto s = calendar::to_instant(start, zone), e = calendar::to_instant(end, zone);
  if (e <= s) in.invalid("end", "must be after start");
  else if (e - s > kMaxDuration) in.invalid("end", "a meeting may last at most 14 days");
}

std::optional<std::int64_t> read_room(Input& in, Call& call, bool& cleared) {
  cleared = in.is_null("room_id");
  const auto room = in.integer("room_id", false, 1, INT64_MAX);
  if (room && call.tx.exec_params("SELECT 1 FROM rooms WHERE id = $1", *room).empty())
    in.invalid("room_id", "no room has this id");
  return room;
}

Reply create_meeting(Call& call) {
  const auto c = find_community(call, call.param("slug"));
  if (!c) return not_found("community");
  Input in(call.http.body);
  auto kind = in.text("kind", false, Text::single_line, 20).value_or("meeting");
  if (kind == "annual") in.invalid("kind", "annual meetings are set with PUT /v1/communities/{slug}/annual-meeting/{year}");
  else if (kind != "meeting" && kind != "special_event" && kind != "deadline")
    in.invalid("kind", "must be meeting, special_event or deadline");
  auto title = in.text("title", true, Text::single_line, 300);
  if (title && title->empty()) in.invalid("title", "must not be empty"), title.reset();
  const auto description = in.text("description", false, Text::multi_line, 20000);
  Timing t = read_timing(in, true);
  const std::string zone = t.zone.value_or(c->time_zone);
  auto rrule = in.text("rrule", false, Text::single_line, 500);
  if (rrule) {
    if (auto p = calendar::rrule_problem(*rrule)) in.invalid("rrule", *p), rrule.reset();
  }
  bool cleared = false;
  const auto room = read_room(in, call, cleared);
  if (t.start && t.end) check_span(in, *t.start, *t.end, zone);
  if (!call.principal || !may_manage(call, c->id, kind)) {
    // Permission before validation details: a stranger learns nothing about the body.
    return forbidden(forbidden_text(kind));
  }
  if (auto error = in.finish()) return *error;
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");

  const auto starts = calendar::to_instant(*t.start, zone), ends = calendar::to_instant(*t.end, zone);
  const auto rows = call.tx.exec_params(
      "INSERT INTO meetings (uid, community_id, kind, title, description, time_zone, start_local, end_local, starts_at, "
      "ends_at, rrule, room_id, organiser_id, status, created_at, updated_at) "
      "VALUES (gen_random_uuid()::text || '@' || $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'confirmed', $14, $14) "
      "RETURNING id",
      uid_domain(call.services.config), c->id, kind, *title, description.value_or(""), zone, store::sql_local(*t.start),
      store::sql_local(*t.end), store::sql_instant(starts), store::sql_instant(ends), rrule, room,
      call.principal->member_id, call.now_sql);
  const auto meeting = *load_meeting(call, rows[0][0].as<std::int64_t>());
  if (rrule) {
    const auto all = calendar::expand(meeting.series(), call.now, booking_horizon(call),
                                      static_cast<std::size_t>(call.services.config.max_occurrences));
    if (all.truncated) return too_many_occurrences(call);
  }
  if (auto refused = rebook(call, meeting)) return *refused;
  emit_event(call, "meeting.scheduled", c->id, meeting_event_payload(meeting));
  return created(meeting_answer(call, meeting));
}

Reply get_meeting(Call& call) {
  const auto id = parse_id(call.param("id"));
  const auto m = id ? load_meeting(call, *id) : std::nullopt;
  if (!m) return not_found("meeting");
  return ok(meeting_answer(call, *m));
}

Reply update_meeting(Call& call) {
  const auto id = parse_id(call.param("id"));
  auto m = id ? load_meeting(call, *id, true) : std::nullopt;
  if (!m) return not_found("meeting");
  if (!may_manage(call, m->community_id, m->kind)) return forbidden(forbidden_text(m->kind));
  Input in(call.http.body);
  auto title = in.text("title", false, Text::single_line, 300);
  if (title && title->empty()) in.invalid("title", "must not be empty"), title.reset();
  const auto description = in.text("description", false, Text::multi_line, 20000);
  Timing t = read_timing(in, false);
  const bool rrule_cleared = in.is_null("rrule");
  auto rrule = in.text("rrule", false, Text::single_line, 500);
  if (rrule) {
    if (auto p = calendar::rrule_problem(*rrule)) in.invalid("rrule", *p), rrule.reset();
  }
  bool room_cleared = false;
  const auto room = read_room(in, call, room_cleared);
  Meeting next = *m;
  if (t.zone) next.time_zone = *t.zone;
  if (t.start) next.start_local = *t.start;
  if (t.end) next.end_local = *t.end;
  check_span(in, next.start_local, next.end_local, next.time_zone);
  if (auto error = in.finish()) return *error;
  if (m->kind == "annual") return field_problem(422, "annual meetings are set through their own route",
                                                {{"id", "use PUT /v1/communities/{slug}/annual-meeting/{year}"}});
  if (m->status == "cancelled") return conflict("the meeting is cancelled");
  if (m->community_status == "archived") return conflict("the community " + m->community + " is archived");

  if (title) next.title = *title;
  if (description) next.description = *description;
  if (rrule) next.rrule = *rrule;
  if (rrule_cleared) next.rrule.reset();
  if (room) next.room_id = *room;
  if (room_cleared) next.room_id.reset();
  next.start = calendar::to_instant(next.start_local, next.time_zone);
  next.end = calendar::to_instant(next.end_local, next.time_zone);
  const bool rescheduled = next.start_local != m->start_local || next.time_zone != m->time_zone || next.rrule != m->rrule;
  const bool changed = rescheduled || next.end != m->end || next.title != m->title || next.description != m->description ||
                       next.room_id != m->room_id;
  if (!changed) return ok(meeting_answer(call, *m));
  next.sequence = m->sequence + 1;
  if (rescheduled) {
    // Overrides were keyed by the old occurrence times; a rescheduled series starts afresh.
    call.tx.exec_params("DELETE FROM meeting_exceptions WHERE meeting_id = $1", m->id);
    next.exceptions.clear();
  }
  call.tx.exec_params(
      "UPDATE meetings SET title = $2, description = $3, time_zone = $4, start_local = $5, end_local = $6, "
      "starts_at = $7, ends_at = $8, rrule = $9, room_id = $10, sequence = $11, updated_at = $12 WHERE id = $1",
      m->id, next.title, next.description, next.time_zone, store::sql_local(next.start_local),
      store::sql_local(next.end_local), store::sql_instant(next.start), store::sql_instant(next.end), next.rrule,
      next.room_id, next.sequence, call.now_sql);
  if (auto refused = rebook(call, next)) return *refused;
  const auto saved = *load_meeting(call, m->id);
  emit_event(call, "meeting.updated", saved.community_id, meeting_event_payload(saved));
  return ok(meeting_answer(call, saved));
}

Reply cancel_meeting(Call& call) {
  const auto id = parse_id(call.param("id"));
  const auto m = id ? load_meeting(call, *id, true) : std::nullopt;
  if (!m) return not_found("meeting");
  if (!may_manage(call, m->community_id, m->kind)) return forbidden(forbidden_text(m->kind));
  if (m->kind == "annual") return field_problem(422, "annual meetings cannot be cancelled", {{"id", "every community meets once a year"}});
  if (m->status == "cancelled") return ok(meeting_json(*m));
  call.tx.exec_params(
      "UPDATE meetings SET status = 'cancelled', cancelled_at = $2, sequence = sequence + 1, updated_at = $2 WHERE id = $1",
      m->id, call.now_sql);
  release_bookings(call, m->id, call.now);  // past bookings stay as history
  const auto saved = *load_meeting(call, m->id);
  emit_event(call, "meeting.cancelled", saved.community_id, meeting_event_payload(saved));
  return ok(meeting_json(saved));
}

// The occurrence named by a path segment: its original start as a UTC instant
// ("2027-03-01T15:00:00Z") or as local time in the meeting's zone ("2027-03-01T10:00").
std::optional<calendar::Instant> find_occurrence(const Meeting& m, const std::string& text) {
  std::optional<calendar::Instant> wanted;
  if (!text.empty() && text.back() == 'Z') {
    if (const auto l = calendar::parse_local_datetime(text.substr(0, text.size() - 1)))
      wanted = calendar::Instant{l->time_since_epoch()};
  } else if (const auto l = calendar::parse_local_datetime(text)) {
    wanted = calendar::to_instant(*l, m.time_zone);
  }
  if (!wanted) return std::nullopt;
  const auto next = calendar::next_occurrence_after(m.series(false), *wanted - std::chrono::seconds(1));
  if (!next || next->start != *wanted) return std::nullopt;
  return wanted;
}

Reply occurrence_change(Call& call, bool cancel) {
  const auto id = parse_id(call.param("id"));
  const auto m = id ? load_meeting(call, *id, true) : std::nullopt;
  if (!m) return not_found("meeting");
  if (!may_manage(call, m->community_id, m->kind)) return forbidden(forbidden_text(m->kind));
  if (!m->rrule) return not_found("occurrence (the meeting does not repeat; change or cancel the meeting itself)");
  const auto rid = find_occurrence(*m, call.param("recurrence_id"));
  if (!rid) return not_found("occurrence");
  Timing t;
  Input in(cancel ? std::string_view("{}") : std::string_view(call.http.body));
  if (!cancel) {
    t = read_timing(in, true);
    if (t.start && t.end) check_span(in, *t.start, *t.end, t.zone.value_or(m->time_zone));
  }
  if (auto error = in.finish()) return *error;
  if (m->status == "cancelled") return conflict("the meeting is cancelled");
  if (m->community_status == "archived") return conflict("the community " + m->community + " is archived");
  const bool already_cancelled = std::any_of(m->exceptions.begin(), m->exceptions.end(), [&](const MeetingException& e) {
    return e.recurrence_id == *rid && e.cancelled;
  });
  if (cancel && already_cancelled) return ok(meeting_json(*m));  // nothing changes for attendees

  const int sequence = m->sequence + 1;
  if (cancel) {
    call.tx.exec_params(
        "INSERT INTO meeting_exceptions (meeting_id, recurrence_id, cancelled, sequence, updated_at) "
        "VALUES ($1, $2, true, $3, $4) ON CONFLICT (meeting_id, recurrence_id) DO UPDATE SET cancelled = true, "
        "start_local = NULL, end_local = NULL, starts_at = NULL, ends_at = NULL, sequence = $3, updated_at = $4",
        m->id, store::sql_instant(*rid), sequence, call.now_sql);
    call.tx.exec_params("DELETE FROM room_bookings WHERE meeting_id = $1 AND recurrence_id = $2", m->id, store::sql_instant(*rid));
  } else {
    const std::string zone = t.zone.value_or(m->time_zone);
    const auto start = calendar::to_instant(*t.start, zone), end = calendar::to_instant(*t.end, zone);
    call.tx.exec_params(
        "INSERT INTO meeting_exceptions (meeting_id, recurrence_id, cancelled, start_local, end_local, starts_at, ends_at, "
        "sequence, updated_at) VALUES ($1, $2, false, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (meeting_id, recurrence_id) DO UPDATE SET cancelled = false, start_local = $3, end_local = $4, "
        "starts_at = $5, ends_at = $6, sequence = $7, updated_at = $8",
        m->id, store::sql_instant(*rid), store::sql_local(calendar::to_local(start, m->time_zone)),
        store::sql_local(calendar::to_local(end, m->time_zone)), store::sql_instant(start), store::sql_instant(end),
        sequence, call.now_sql);
    if (m->room_id) {
      call.tx.exec_params("DELETE FROM room_bookings WHERE meeting_id = $1 AND recurrence_id = $2", m->id,
                          store::sql_instant(*rid));
      if (end > call.now)
        if (const auto conflict = book_room(call, m->id, *m->room_id, {{*rid, start, end}})) return conflict_reply(*conflict);
    }
  }
  call.tx.exec_params("UPDATE meetings SET sequence = $2, updated_at = $3 WHERE id = $1", m->id, sequence, call.now_sql);
  const auto saved = *load_meeting(call, m->id);
  boost::json::object payload = meeting_event_payload(saved);
  boost::json::object occurrence{{"recurrence_id", calendar::format_rfc3339_utc(*rid)}, {"cancelled", cancel}};
  for (const auto& e : saved.exceptions)
    if (e.recurrence_id == *rid && !e.cancelled) {
      occurrence["start_utc"] = calendar::format_rfc3339_utc(*e.start);
      occurrence["end_utc"] = calendar::format_rfc3339_utc(*e.end);
    }
  payload["occurrence"] = std::move(occurrence);
  emit_event(call, cancel ? "meeting.cancelled" : "meeting.updated", saved.community_id, std::move(payload));
  return ok(meeting_json(saved));
}

Reply move_occurrence(Call& call) { return occurrence_change(call, false); }
Reply cancel_occurrence(Call& call) { return occurrence_change(call, true); }

}  // namespace

void register_meetings(Api& api) {
  api.add("POST", "/v1/communities/{slug}/meetings", create_meeting, {.body = Body::json});
  api.add("GET", "/v1/meetings/{id}", get_meeting);
  api.add("PATCH", "/v1/meetings/{id}", update_meeting, {.body = Body::json});
  api.add("POST", "/v1/meetings/{id}/cancel", cancel_meeting);
  api.add("PATCH", "/v1/meetings/{id}/occurrences/{recurrence_id}", move_occurrence, {.body = Body::json});
  api.add("POST", "/v1/meetings/{id}/occurrences/{recurrence_id}/cancel", cancel_occurrence);
}

}  // namespace convene::api
