#include "daemon/api/meeting_model.hpp"

#include "calendar/local_time.hpp"
#include "daemon/api/common.hpp"
#include "store/sql_time.hpp"

#include <boost/json/array.hpp>

namespace convene::api {

calendar::Series Meeting::series(bool with_cancellations) const {
  std::vector<calendar::Instant> cancelled;
  for (const auto& e : exceptions)
    if (with_cancellations && e.cancelled) cancelled.push_back(e.recurrence_id);
  return calendar::stored_series(start_local, start, end, time_zone, rrule, cancelled);
}

std::optional<Meeting> load_meeting(Call& call, std::int64_t id, bool for_update) {
  const auto rows = call.tx.exec_params(
      std::string("SELECT m.id, m.uid, m.community_id, c.slug, c.name, m.kind, m.title, m.description, m.time_zone, "
                  "m.all_day, m.start_local, m.end_local, m.starts_at, m.ends_at, m.rrule, m.room_id, m.status, "
                  "m.sequence, m.annual_year, c.status FROM meetings m JOIN communities c ON c.id = m.community_id WHERE m.id = $1") +
          (for_update ? " FOR UPDATE OF m" : ""),
      id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  Meeting m;
  m.id = r[0].as<std::int64_t>();
  m.uid = r[1].as<std::string>();
  m.community_id = r[2].as<std::int64_t>();
  m.community = r[3].as<std::string>();
  m.community_name = r[4].as<std::string>();
  m.kind = r[5].as<std::string>();
  m.title = r[6].as<std::string>();
  m.description = r[7].as<std::string>();
  m.time_zone = r[8].as<std::string>();
  m.all_day = r[9].as<bool>();
  m.start_local = store::parse_sql_local(r[10].as<std::string>());
  m.end_local = store::parse_sql_local(r[11].as<std::string>());
  m.start = store::parse_sql_instant(r[12].as<std::string>());
  m.end = store::parse_sql_instant(r[13].as<std::string>());
  if (!r[14].is_null()) m.rrule = r[14].as<std::string>();
  if (!r[15].is_null()) m.room_id = r[15].as<std::int64_t>();
  m.status = r[16].as<std::string>();
  m.sequence = r[17].as<int>();
  if (!r[18].is_null()) m.annual_year = r[18].as<int>();
  m.community_status = r[19].as<std::string>();
  for (const auto& e : call.tx.exec_params(
           "SELECT recurrence_id, cancelled, start_local, end_local, starts_at, ends_at FROM meeting_exceptions "
           "WHERE meeting_id = $1 ORDER BY recurrence_id",
           id)) {
    MeetingException x;
    x.recurrence_id = store::parse_sql_instant(e[0].as<std::string>());
    x.cancelled = e[1].as<bool>();
    if (!e[2].is_null()) x.start_local = store::parse_sql_local(e[2].as<std::string>());
    if (!e[3].is_null()) x.end_local = store::parse_sql_local(e[3].as<std::string>());
    if (!e[4].is_null()) x.start = store::parse_sql_instant(e[4].as<std::string>());
    if (!e[5].is_null()) x.end = store::parse_sql_instant(e[5].as<std::string>());
    m.exceptions.push_back(x);
  }
  return m;
}

namespace {

boost::json::value optional_json(const std::optional<std::string>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

boost::json::object timing(const Meeting& m) {
  boost::json::object o;
  if (m.all_day) {
    o["start"] = calendar::format_date(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(m.start_local)});
    o["end"] = calendar::format_date(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(m.end_local)});
  } else {
    o["start"] = calendar::format_local_datetime(m.start_local);
    o["end"] = calendar::format_local_datetime(m.end_local);
  }
  o["time_zone"] = m.time_zone;
  o["start_utc"] = calendar::format_rfc3339_utc(m.start);
  o["end_utc"] = calendar::format_rfc3339_utc(m.end);
  return o;
}

}  // namespace

boost::json::object meeting_json(const Meeting& m) {
  boost::json::object o{{"id", m.id},       {"uid", m.uid},         {"community", m.community},
                        {"kind", m.kind},   {"title", m.title},     {"description", m.description},
                        {"all_day", m.all_day}, {"status", m.status}, {"sequence", m.sequence}};
  for (auto& [k, v] : timing(m)) o[k] = v;
  o["rrule"] = optional_json(m.rrule);
  o["room_id"] = m.room_id ? boost::json::value(*m.room_id) : boost::json::value(nullptr);
  if (m.annual_year) o["annual_year"] = *m.annual_year;
  boost::json::array cancelled, moved;
  for (const auto& e : m.exceptions) {
    if (e.cancelled) {
      cancelled.emplace_back(calendar::format_rfc3339_utc(e.recurrence_id));
    } else {
      moved.push_back(boost::json::object{{"recurrence_id", calendar::format_rfc3339_utc(e.recurrence_id)},
                                          {"start", calendar::format_local_datetime(*e.start_local)},
                                          {"end", calendar::format_local_datetime(*e.end_local)},
                                          {"start_utc", calendar::format_rfc3339_utc(*e.start)},
                                          {"end_utc", calendar::format_rfc3339_utc(*e.end)}});
    }
  }
  o["cancelled_occurrences"] = std::move(cancelled);
  o["moved_occurrences"] = std::move(moved);
  return o;
}

boost::json::object meeting_event_payload(const Meeting& m) {
  boost::json::object o = meeting_json(m);
  o["meeting_id"] = m.id;
  o["community_name"] = m.community_name;
  o.erase("id");
  return o;
}

}  // namespace convene::api
