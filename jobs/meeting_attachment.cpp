#include "jobs/meeting_attachment.hpp"

#include "calendar/ics.hpp"

namespace convene::jobs {
namespace {

std::optional<std::string> text(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

}  // namespace

std::optional<std::string> meeting_attachment(std::string_view event_kind, const boost::json::object& payload,
                                              const std::string& organizer_email, calendar::Instant now) {
  if (event_kind != "meeting.scheduled" && event_kind != "meeting.updated" && event_kind != "meeting.cancelled" &&
      event_kind != "annual_meeting.scheduled")
    return std::nullopt;
  const auto uid = text(payload, "uid"), start = text(payload, "start"), end = text(payload, "end"),
             zone = text(payload, "time_zone"), title = text(payload, "title");
  if (!uid || !start || !end || !zone || !title) return std::nullopt;
  const auto local_start = calendar::parse_local_datetime(*start), local_end = calendar::parse_local_datetime(*end);
  if (!local_start || !local_end) return std::nullopt;
  calendar::IcsEvent e;
  e.uid = *uid;
  if (const auto* s = payload.if_contains("sequence"); s && s->is_int64()) e.sequence = static_cast<int>(s->get_int64());
  const auto status = text(payload, "status").value_or("confirmed");
  e.status = event_kind == "meeting.cancelled" && !payload.contains("occurrence") ? "CANCELLED"
             : status == "tentative"                                               ? "TENTATIVE"
             : status == "cancelled"                                               ? "CANCELLED"
                                                                                   : "CONFIRMED";
  e.summary = *title;
  e.description = text(payload, "description").value_or("");
  if (const auto* a = payload.if_contains("all_day"); a && a->is_bool()) e.all_day = a->get_bool();
  e.start = *local_start;
  e.end = *local_end;
  e.zone = *zone;
  if (const auto rrule = text(payload, "rrule")) e.rrule = *rrule;
  e.created = e.last_modified = e.dtstamp = now;
  e.organizer_email = organizer_email;
  e.organizer_name = text(payload, "community_name").value_or("Convene");
  calendar::IcsCalendar cal;
  cal.method = "PUBLISH";
  cal.horizon = now + calendar::kIcsHorizon;
  cal.events.push_back(std::move(e));
  try {
    return calendar::render_ics(cal);
  } catch (const std::exception&) {
    return std::nullopt;  // an unknown zone or a malformed rule: the email goes without it
  }
}

}  // namespace convene::jobs
