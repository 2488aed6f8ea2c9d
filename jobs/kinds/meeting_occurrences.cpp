#include "jobs/kinds/meeting_occurrences.hpp"

#include "store/sql_time.hpp"

#include <algorithm>

namespace convene::jobs {
namespace {

using std::chrono::microseconds;

std::optional<calendar::Instant> optional_instant(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return store::parse_sql_instant(f.c_str());
}

const OccurrenceChange* change_of(const MeetingSeries& meeting, calendar::Instant recurrence_id) {
  for (const auto& c : meeting.changes)
    if (c.recurrence_id == recurrence_id) return &c;
  return nullptr;
}

// The series' own occurrence starting exactly at `original_start`, cancellations applied.
std::optional<calendar::Occurrence> original_occurrence(const MeetingSeries& meeting, calendar::Instant original_start) {
  const auto found = calendar::expand(meeting.series(), original_start, original_start + microseconds(1), 16);
  for (const auto& o : found.occurrences)
    if (o.start == original_start) return o;
  return std::nullopt;
}

}  // namespace

calendar::Series MeetingSeries::series() const {
  std::vector<calendar::Instant> cancelled;
  for (const auto& c : changes)
    if (c.cancelled) cancelled.push_back(c.recurrence_id);
  return calendar::stored_series(start_local, start, end, time_zone, rrule, cancelled);
}

std::optional<MeetingSeries> load_meeting_series(pqxx::transaction_base& tx, std::int64_t id) {
  const auto rows = tx.exec_params(
      "SELECT m.uid, m.community_id, c.slug, c.name, c.status, m.kind, m.title, m.time_zone, m.status, m.all_day, "
      "m.start_local, m.starts_at, m.ends_at, m.rrule, r.join_url, m.cancelled_at "
      "FROM meetings m JOIN communities c ON c.id = m.community_id LEFT JOIN rooms r ON r.id = m.room_id "
      "WHERE m.id = $1",
      id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  MeetingSeries m;
  m.id = id;
  m.uid = r[0].as<std::string>();
  m.community_id = r[1].as<std::int64_t>();
  m.community_slug = r[2].as<std::string>();
  m.community_name = r[3].as<std::string>();
  m.community_status = r[4].as<std::string>();
  m.kind = r[5].as<std::string>();
  m.title = r[6].as<std::string>();
  m.time_zone = r[7].as<std::string>();
  m.status = r[8].as<std::string>();
  m.all_day = r[9].as<bool>();
  m.start_local = store::parse_sql_local(r[10].c_str());
  m.start = store::parse_sql_instant(r[11].c_str());
  m.end = store::parse_sql_instant(r[12].c_str());
  if (!r[13].is_null()) m.rrule = r[13].as<std::string>();
  if (!r[14].is_null()) m.join_url = r[14].as<std::string>();
  m.cancelled_at = optional_instant(r[15]);
  for (const auto& x : tx.exec_params(
           "SELECT recurrence_id, cancelled, starts_at, ends_at FROM meeting_exceptions WHERE meeting_id = $1 "
           "ORDER BY recurrence_id",
           id))
    m.changes.push_back({store::parse_sql_instant(x[0].c_str()), x[1].as<bool>(), optional_instant(x[2]),
                         optional_instant(x[3])});
  return m;
}

std::vector<ActualOccurrence> occurrences_starting_in(const MeetingSeries& meeting, calendar::Instant from,
                                                      calendar::Instant to) {
  std::vector<ActualOccurrence> out;
  // expand() also returns occurrences that started before `from` and still run: left out.
  for (const auto& o : calendar::expand(meeting.series(), from, to, kMaxOccurrencesPerQuery).occurrences) {
    if (o.start < from) continue;
    const auto* change = change_of(meeting, o.start);
    if (change == nullptr) out.push_back({o.start, o.start, o.end});
  }
  // Moved occurrences, wherever they came from.
  for (const auto& c : meeting.changes) {
    if (c.cancelled || !c.start || *c.start < from || *c.start >= to) continue;
    if (original_occurrence(meeting, c.recurrence_id)) out.push_back({c.recurrence_id, *c.start, *c.end});
  }
  std::sort(out.begin(), out.end(), [](const ActualOccurrence& a, const ActualOccurrence& b) {
    return a.start != b.start ? a.start < b.start : a.recurrence_id < b.recurrence_id;
  });
  return out;
}

std::optional<ActualOccurrence> occurrence_now(const MeetingSeries& meeting, calendar::Instant recurrence_id) {
  const auto original = original_occurrence(meeting, recurrence_id);
  if (!original) return std::nullopt;  // cancelled, or the series no longer has it
  const auto* change = change_of(meeting, recurrence_id);
  if (change != nullptr && change->start) return ActualOccurrence{recurrence_id, *change->start, *change->end};
  return ActualOccurrence{recurrence_id, original->start, original->end};
}

}  // namespace convene::jobs
