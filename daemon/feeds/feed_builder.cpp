#include "daemon/feeds/feed_builder.hpp"

#include "calendar/ics.hpp"
#include "calendar/local_time.hpp"
#include "calendar/recurrence.hpp"
#include "store/sql_lists.hpp"
#include "store/sql_time.hpp"

#include <algorithm>
#include <map>

namespace convene::feeds {
namespace {

// Cancelled one-off events stay visible (STATUS:CANCELLED) this long, then leave the feed.
constexpr auto kCancelledStays = std::chrono::days(30);
// One-off events that ended longer ago than this are not worth carrying in every download.
constexpr auto kPastKept = std::chrono::days(365);

struct Scope {
  std::string where;  // SQL condition on meetings m (and communities c)
  std::int64_t id = 0;
};

const char* kMeetingQuery =
    "SELECT m.id, m.uid, m.kind, m.title, m.description, m.time_zone, m.all_day, m.start_local, m.end_local, "
    "m.rrule, m.status, m.sequence, m.created_at, m.updated_at, r.name, r.join_url, c.name, m.community_id, "
    "m.cancelled_at, m.ends_at "
    "FROM meetings m JOIN communities c ON c.id = m.community_id LEFT JOIN rooms r ON r.id = m.room_id WHERE ";

struct ExceptionRow {
  std::string recurrence_id, start_local, end_local, updated_at;
  bool cancelled = false;
  int sequence = 0;
};
using ExceptionsByMeeting = std::map<std::int64_t, std::vector<ExceptionRow>>;

calendar::IcsEvent to_event(const pqxx::row& r, const ExceptionsByMeeting& exceptions, bool with_join_urls,
                             calendar::Instant& last_modified) {
  calendar::IcsEvent e;
  const auto id = r[0].as<std::int64_t>();
  e.uid = r[1].as<std::string>();
  const std::string kind = r[2].as<std::string>();
  e.summary = r[3].as<std::string>();
  e.description = r[4].as<std::string>();
  e.zone = r[5].as<std::string>();
  e.all_day = r[6].as<bool>();
  e.start = store::parse_sql_local(r[7].as<std::string>());
  e.end = store::parse_sql_local(r[8].as<std::string>());
  if (!r[9].is_null()) e.rrule = r[9].as<std::string>();
  const std::string status = r[10].as<std::string>();
  e.status = status == "cancelled" ? "CANCELLED" : status == "tentative" ? "TENTATIVE" : "CONFIRMED";
  // The TBD annual placeholder must not block anyone's week.
  e.transparent = status == "tentative" && kind == "annual";
  e.sequence = r[11].as<int>();
  e.created = store::parse_sql_instant(r[12].as<std::string>());
  e.last_modified = store::parse_sql_instant(r[13].as<std::string>());
  e.dtstamp = e.last_modified;  // deterministic bytes, so the ETag only changes with the data
  last_modified = std::max(last_modified, e.last_modified);
  if (!r[14].is_null()) {
    e.location = r[14].as<std::string>();
    if (with_join_urls) {
      e.location += " " + r[15].as<std::string>();
      e.url = r[15].as<std::string>();
    }
  }
  const std::string community = r[16].as<std::string>();
  e.categories.push_back({"CATEGORIES", kind == "annual" ? "Annual meeting" : kind == "special_event" ? "Special event"
                                                          : kind == "deadline"                       ? "Deadline"
                                                                                                     : "Meeting"});
  if (e.description.empty()) e.description = community;
  const auto found = exceptions.find(id);
  if (found != exceptions.end()) {
    // Exceptions are stored by instant; the feed names them by the occurrence's local start.
    std::vector<calendar::Instant> ids;
    for (const auto& x : found->second) ids.push_back(store::parse_sql_instant(x.recurrence_id));
    const auto rids = calendar::recurrence_ids_of(calendar::Series{e.start, {}, e.zone, e.rrule, {}}, ids);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto& x = found->second[i];
      const auto& rid = rids[i];
      last_modified = std::max(last_modified, store::parse_sql_instant(x.updated_at));
      if (x.cancelled) {
        e.exdates.push_back(rid);
      } else {
        e.overrides.push_back({rid, store::parse_sql_local(x.start_local), store::parse_sql_local(x.end_local), x.sequence});
      }
    }
  }
  return e;
}

std::vector<calendar::IcsEvent> load_events(pqxx::transaction_base& tx, const std::string& where, std::int64_t id,
                                            bool with_join_urls, calendar::Instant now, calendar::Instant& last_modified) {
  const std::string cancelled_after = store::sql_instant(now - kCancelledStays);
  const std::string ended_after = store::sql_instant(now - kPastKept);
  const std::string selected = " AND (m.status <> 'cancelled' OR m.cancelled_at >= $2) "
                               "AND (m.rrule IS NOT NULL OR m.ends_at >= $3)";
  // Every cancelled or moved occurrence of the feed's meetings in one query, not one per event.
  ExceptionsByMeeting exceptions;
  for (const auto& x : tx.exec_params(
           "SELECT x.meeting_id, x.recurrence_id, x.cancelled, x.start_local, x.end_local, x.sequence, x.updated_at "
           "FROM meeting_exceptions x JOIN meetings m ON m.id = x.meeting_id JOIN communities c ON c.id = m.community_id "
           "WHERE " + where + selected + " ORDER BY x.meeting_id, x.recurrence_id",
           id, cancelled_after, ended_after))
    exceptions[x[0].as<std::int64_t>()].push_back(
        ExceptionRow{x[1].as<std::string>(), x[3].is_null() ? "" : x[3].as<std::string>(),
                     x[4].is_null() ? "" : x[4].as<std::string>(), x[6].as<std::string>(), x[2].as<bool>(), x[5].as<int>()});
  std::vector<calendar::IcsEvent> events;
  for (const auto& r : tx.exec_params(std::string(kMeetingQuery) + where + selected + " ORDER BY m.starts_at, m.id", id,
                                      cancelled_after, ended_after))
    events.push_back(to_event(r, exceptions, with_join_urls, last_modified));
  // Events that left the feed because time passed changed it at that moment: Last-Modified
  // must not go back, or If-Modified-Since clients would keep them.
  const auto left = tx.exec_params(
      "SELECT greatest(max(m.cancelled_at) FILTER (WHERE m.status = 'cancelled' AND m.cancelled_at < $2) + interval '30 days', "
      "                max(m.ends_at) FILTER (WHERE m.rrule IS NULL AND m.ends_at < $3) + interval '365 days') "
      "FROM meetings m JOIN communities c ON c.id = m.community_id WHERE " + where,
      id, cancelled_after, ended_after);
  if (!left[0][0].is_null()) last_modified = std::max(last_modified, store::parse_sql_instant(left[0][0].as<std::string>()));
  return events;
}

// A feed's calendar, read from `now` to the horizon.
calendar::IcsCalendar new_calendar(std::string name, const FeedSettings& settings, calendar::Instant now) {
  calendar::IcsCalendar cal;
  cal.name = std::move(name);
  cal.refresh = settings.refresh;
  cal.horizon = now + calendar::kIcsHorizon;
  return cal;
}

Feed finish(calendar::IcsCalendar calendar, calendar::Instant last_modified) {
  Feed feed;
  set_body(feed, calendar::render_ics(calendar));
  feed.last_modified = last_modified;
  return feed;
}

}  // namespace

Feed build_community_feed(pqxx::transaction_base& tx, std::int64_t community_id, bool with_join_urls,
                          calendar::Instant now, const FeedSettings& settings) {
  const auto c = tx.exec_params("SELECT name, description, updated_at FROM communities WHERE id = $1", community_id);
  calendar::Instant last_modified = store::parse_sql_instant(c[0][2].as<std::string>());
  calendar::IcsCalendar cal = new_calendar(c[0][0].as<std::string>(), settings, now);
  cal.description = c[0][1].as<std::string>();
  cal.events = load_events(tx, "m.community_id = $1", community_id, with_join_urls, now, last_modified);
  Feed feed = finish(std::move(cal), last_modified);
  feed.communities = {community_id};
  return feed;
}

Feed build_member_feed(pqxx::transaction_base& tx, std::int64_t member_id, calendar::Instant now,
                       const FeedSettings& settings) {
  const auto m = tx.exec_params(
      "SELECT name, updated_at, " + store::seconds_list_sql("reminder_offsets") + " FROM members WHERE id = $1",
      member_id);
  calendar::Instant last_modified = store::parse_sql_instant(m[0][1].as<std::string>());
  std::vector<std::chrono::seconds> alarms;
  for (const auto seconds : store::parse_seconds_list(m[0][2].as<std::string>())) alarms.emplace_back(seconds);
  calendar::IcsCalendar cal = new_calendar("Convene: " + m[0][0].as<std::string>(), settings, now);
  Feed feed;
  // Archiving a community (its updated_at) removes its meetings from the feed.
  for (const auto& r : tx.exec_params(
           "SELECT ms.community_id, greatest(ms.updated_at, c.updated_at) FROM memberships ms "
           "JOIN communities c ON c.id = ms.community_id WHERE ms.member_id = $1",
           member_id)) {
    feed.communities.insert(r[0].as<std::int64_t>());
    last_modified = std::max(last_modified, store::parse_sql_instant(r[1].as<std::string>()));
  }
  cal.events = load_events(
      tx, "m.community_id IN (SELECT community_id FROM memberships WHERE member_id = $1) AND c.status = 'active'",
      member_id, true, now, last_modified);
  for (auto& e : cal.events)
    if (e.status != "CANCELLED" && !e.transparent) e.alarms = alarms;
  Feed rendered = finish(std::move(cal), last_modified);
  rendered.communities = std::move(feed.communities);
  rendered.member_id = member_id;
  return rendered;
}

Feed build_room_feed(pqxx::transaction_base& tx, std::int64_t room_id, calendar::Instant now,
                     const FeedSettings& settings) {
  // A meeting leaving the room leaves no row behind, so the newest change to any meeting or
  // community stands in: never earlier than the truth, and never going back.
  const auto room = tx.exec_params(
      "SELECT name, greatest(created_at, (SELECT max(updated_at) FROM meetings), (SELECT max(updated_at) FROM communities)) "
      "FROM rooms WHERE id = $1",
      room_id);
  calendar::Instant last_modified = store::parse_sql_instant(room[0][1].as<std::string>());
  calendar::IcsCalendar cal = new_calendar("Room: " + room[0][0].as<std::string>(), settings, now);
  cal.events = load_events(tx, "m.room_id = $1", room_id, true, now, last_modified);
  Feed feed = finish(std::move(cal), last_modified);
  feed.room_feed = true;
  return feed;
}

}  // namespace convene::feeds
