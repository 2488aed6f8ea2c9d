// The content of digests, for many members at once (jobs/digests.hpp). A batch of a few
// hundred members costs a fixed number of queries: their communities, the (member, event)
// pairs of their periods, the events not seen before by this process, and the meetings of the
// next 14 days in those communities.
#include "jobs/digests.hpp"

#include "jobs/kinds/meeting_occurrences.hpp"
#include "notifiers/display_time.hpp"
#include "store/sql_arrays.hpp"
#include "store/sql_time.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

namespace convene::jobs {
namespace {

using boost::json::array;
using boost::json::object;
using store::bigint_array;
using store::sql_instant;
using store::text_array;

constexpr std::chrono::hours kUpcomingWindow{14 * 24};
constexpr std::size_t kMaxUpcomingPerCommunity = 5;  // the next few; the feed has the rest

// The sections of a community in a digest, in payload order, and the event kind each reports.
struct Section {
  const char* name;
  std::string_view event_kind;
};
constexpr Section kSections[] = {{"topics", "topic.posted"},
                                 {"annual", "annual_meeting.scheduled"},
                                 {"scheduled", "meeting.scheduled"},
                                 {"changed", "meeting.updated"},
                                 {"cancelled", "meeting.cancelled"}};
constexpr std::size_t kSectionCount = std::size(kSections);
constexpr std::size_t kTopics = 0;
// The section an event kind goes to; kSectionCount for kinds a digest does not report.
std::size_t section_of(std::string_view kind) {
  for (std::size_t i = 0; i < kSectionCount; ++i)
    if (kSections[i].event_kind == kind) return i;
  return kSectionCount;
}
const std::vector<std::string> kDigestEventKinds = [] {
  std::vector<std::string> kinds;
  for (const auto& section : kSections) kinds.emplace_back(section.event_kind);
  return kinds;
}();

// One event as a digest item. Events never change once written, so items are kept in a
// bounded process-wide cache: consecutive batches share most of their communities' events.
struct EventItem {
  std::size_t section = kTopics;
  std::int64_t community_id = 0;
  std::string dedupe;  // items with the same key in a section: the latest stands
  object item;
};

object copy_fields(const object& from, std::initializer_list<const char*> keys) {
  object out;
  for (const char* key : keys)
    if (const auto* v = from.if_contains(key); v != nullptr && !v->is_null()) out[key] = *v;
  return out;
}

// A meeting item holds what the email shows (notifiers/digest_view.hpp): every payload is
// stored, read back and rendered once per recipient, so nothing else. The local start and end
// only matter for all-day meetings (their dates).
void trim_meeting(object& item) {
  const auto* all_day = item.if_contains("all_day");
  if (all_day == nullptr || !all_day->is_bool() || !all_day->get_bool()) {
    item.erase("all_day");
    item.erase("start");
    item.erase("end");
  }
}

std::shared_ptr<const EventItem> make_item(std::int64_t id, std::string_view kind, std::int64_t community_id,
                                           const char* payload_text) {
  const std::size_t section = section_of(kind);
  if (section == kSectionCount) return nullptr;
  auto parsed = boost::json::parse(payload_text);
  const object payload = parsed.is_object() ? std::move(parsed.get_object()) : object{};
  auto e = std::make_shared<EventItem>();
  e->section = section;
  e->community_id = community_id;
  if (e->section == kTopics) {
    // (No body excerpt: the email lists titles and links.)
    e->item = copy_fields(payload, {"topic_id", "title", "url", "posted_at"});
    e->dedupe = "event:" + std::to_string(id);
  } else {
    e->item = copy_fields(payload, {"meeting_id", "title", "kind", "start_utc", "end_utc", "start", "end", "time_zone",
                                    "all_day", "rrule", "occurrence"});
    trim_meeting(e->item);
    std::string occurrence;
    if (const auto* o = payload.if_contains("occurrence"); o != nullptr && o->is_object())
      if (const auto* r = o->as_object().if_contains("recurrence_id"); r != nullptr && r->is_string())
        occurrence = std::string(r->as_string());
    const auto* meeting = payload.if_contains("meeting_id");
    e->dedupe = meeting != nullptr && meeting->is_int64() ? std::to_string(meeting->as_int64()) + "/" + occurrence
                                                          : "event:" + std::to_string(id);
  }
  return e;
}

}  // namespace

struct DigestEventCache::Impl {
  std::shared_ptr<const EventItem> find(std::int64_t id, bool& known) {
    std::lock_guard lock(mutex);
    const auto it = items.find(id);
    known = it != items.end();
    return known ? it->second : nullptr;
  }
  void put(std::int64_t id, std::shared_ptr<const EventItem> item) {
    std::lock_guard lock(mutex);
    if (items.size() >= kCapacity) items.clear();  // crude, but bounded; refilled by the next batch
    items.emplace(id, std::move(item));
  }

  static constexpr std::size_t kCapacity = 50000;
  std::mutex mutex;
  std::unordered_map<std::int64_t, std::shared_ptr<const EventItem>> items;  // nullptr: not a digest kind
};

DigestEventCache::DigestEventCache() : impl_(std::make_unique<Impl>()) {}
DigestEventCache::~DigestEventCache() = default;

namespace {

std::map<std::int64_t, std::shared_ptr<const EventItem>> load_events(pqxx::transaction_base& tx,
                                                                     const std::set<std::int64_t>& ids,
                                                                     DigestEventCache* cache) {
  std::map<std::int64_t, std::shared_ptr<const EventItem>> out;
  std::vector<std::int64_t> missing;
  for (const auto id : ids) {
    bool known = false;
    auto item = cache ? cache->impl().find(id, known) : nullptr;
    if (known)
      out.emplace(id, std::move(item));
    else
      missing.push_back(id);
  }
  if (missing.empty()) return out;
  for (const auto& r : tx.exec_params("SELECT id, kind, community_id, payload::text FROM events WHERE id = ANY ($1::bigint[])",
                                      bigint_array(missing))) {
    const auto id = r[0].as<std::int64_t>();
    auto item = make_item(id, r[1].as<std::string>(), r[2].as<std::int64_t>(), r[3].c_str());
    if (cache) cache->impl().put(id, item);
    out.emplace(id, std::move(item));
  }
  return out;
}

struct Community {
  std::int64_t id = 0;
  std::string slug, name;
};

object occurrence_item(std::int64_t meeting_id, const std::string& title, const std::string& kind, const std::string& zone,
                       bool all_day, calendar::Instant start, calendar::Instant end) {
  object item{{"meeting_id", meeting_id},
              {"title", title},
              {"kind", kind},
              {"time_zone", zone},
              {"start_utc", calendar::format_rfc3339_utc(start)},
              {"end_utc", calendar::format_rfc3339_utc(end)}};
  if (all_day) {  // (trim_meeting)
    item["all_day"] = true;
    item["start"] = calendar::format_local_datetime(calendar::to_local(start, zone));
    item["end"] = calendar::format_local_datetime(calendar::to_local(end, zone));
  }
  return item;
}

// The meetings starting in [from, to) per community, in order of start: one-offs from one
// query, series expanded (moved and cancelled occurrences applied). TBD annual placeholders
// and cancelled meetings are left out.
std::map<std::int64_t, std::vector<std::pair<calendar::Instant, object>>> upcoming_meetings(
    pqxx::transaction_base& tx, const std::vector<std::int64_t>& communities, calendar::Instant from, calendar::Instant to) {
  std::map<std::int64_t, std::vector<std::pair<calendar::Instant, object>>> out;
  if (communities.empty()) return out;
  std::vector<std::int64_t> series;
  for (const auto& r : tx.exec_params(
           "SELECT id, community_id, title, kind, time_zone, all_day, starts_at, ends_at, rrule IS NOT NULL FROM meetings "
           "WHERE community_id = ANY ($1::bigint[]) AND status <> 'cancelled' AND NOT (kind = 'annual' AND status = 'tentative') "
           "AND ((rrule IS NULL AND starts_at >= $2 AND starts_at < $3) OR (rrule IS NOT NULL AND starts_at < $3)) "
           "ORDER BY starts_at, id",
           bigint_array(communities), sql_instant(from), sql_instant(to))) {
    const auto id = r[0].as<std::int64_t>();
    if (r[8].as<bool>()) {
      series.push_back(id);
      continue;
    }
    const auto start = store::parse_sql_instant(r[6].c_str());
    out[r[1].as<std::int64_t>()].emplace_back(
        start, occurrence_item(id, r[2].as<std::string>(), r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<bool>(),
                               start, store::parse_sql_instant(r[7].c_str())));
  }
  for (const auto id : series) {
    const auto meeting = load_meeting_series(tx, id);
    if (!meeting) continue;
    for (const auto& o : occurrences_starting_in(*meeting, from, to))
      out[meeting->community_id].emplace_back(
          o.start, occurrence_item(id, meeting->title, meeting->kind, meeting->time_zone, meeting->all_day, o.start, o.end));
  }
  for (auto& [community, list] : out) {
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (list.size() > kMaxUpcomingPerCommunity) list.resize(kMaxUpcomingPerCommunity);
  }
  return out;
}

}  // namespace

std::vector<DigestContent> compose_digests(pqxx::transaction_base& tx, Cadence cadence,
                                           const std::vector<DigestRequest>& requests, calendar::Instant now,
                                           DigestEventCache* cache) {
  std::vector<DigestContent> out(requests.size());
  if (requests.empty()) return out;
  const std::string cadence_text(cadence_name(cadence));
  std::vector<std::int64_t> member_ids;
  std::vector<std::string> froms, tos;
  for (const auto& r : requests) {
    member_ids.push_back(r.member_id);
    froms.push_back(sql_instant(r.covered_from));
    tos.push_back(sql_instant(r.period_end));
  }

  // Their active communities on this cadence.
  std::map<std::int64_t, std::vector<Community>> communities_of;
  std::set<std::int64_t> all_communities;
  for (const auto& r : tx.exec_params(
           "SELECT ms.member_id, c.id, c.slug, c.name FROM memberships ms JOIN communities c ON c.id = ms.community_id "
           "WHERE ms.member_id = ANY ($1::bigint[]) AND ms.delivery = $2 AND c.status = 'active' "
           "ORDER BY ms.member_id, c.name, c.id",
           bigint_array(member_ids), cadence_text)) {
    communities_of[r[0].as<std::int64_t>()].push_back({r[1].as<std::int64_t>(), r[2].as<std::string>(), r[3].as<std::string>()});
    all_communities.insert(r[1].as<std::int64_t>());
  }

  // Which events each member's period holds, minus those the member got by email already.
  std::map<std::int64_t, std::vector<std::int64_t>> events_of;
  std::set<std::int64_t> event_ids;
  for (const auto& r : tx.exec_params(
           "SELECT w.member_id, e.id FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) AS w(member_id, after, upto) "
           "JOIN memberships ms ON ms.member_id = w.member_id AND ms.delivery = $4 "
           "JOIN events e ON e.community_id = ms.community_id AND e.occurred_at > w.after AND e.occurred_at <= w.upto "
           "  AND e.kind = ANY ($5::text[]) "
           "WHERE NOT EXISTS (SELECT 1 FROM notifications n "
           "  WHERE n.id = notification_id('event:' || e.id || ':email:' || w.member_id)) "
           "ORDER BY w.member_id, e.occurred_at, e.id",
           bigint_array(member_ids), text_array(froms), text_array(tos), cadence_text, text_array(kDigestEventKinds))) {
    events_of[r[0].as<std::int64_t>()].push_back(r[1].as<std::int64_t>());
    event_ids.insert(r[1].as<std::int64_t>());
  }
  const auto events = load_events(tx, event_ids, cache);
  const auto upcoming = upcoming_meetings(tx, std::vector<std::int64_t>(all_communities.begin(), all_communities.end()), now,
                                          now + kUpcomingWindow);

  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& request = requests[i];
    DigestContent& content = out[i];
    content.member_id = request.member_id;
    const auto found = communities_of.find(request.member_id);
    content.has_memberships = found != communities_of.end();
    if (!content.has_memberships) continue;
    // Items by community and section, the latest item per key standing (in the place of the
    // first); copied into the payload once.
    std::unordered_map<std::int64_t, std::array<std::vector<const EventItem*>, kSectionCount>> sections;
    for (const auto id : events_of[request.member_id]) {
      const auto e = events.find(id);
      if (e == events.end() || !e->second) continue;
      const EventItem* item = e->second.get();
      auto& list = sections[item->community_id][item->section];
      const auto same = std::find_if(list.begin(), list.end(), [&](const EventItem* p) { return p->dedupe == item->dedupe; });
      if (same != list.end())
        *same = item;
      else
        list.push_back(item);
    }
    array communities;
    for (const auto& c : found->second) {
      object entry{{"community", c.slug}, {"community_name", c.name}};
      std::size_t news = 0;
      const auto of_community = sections.find(c.id);
      for (std::size_t section = 0; section < kSectionCount; ++section) {
        array items;
        if (of_community != sections.end()) {
          items.reserve(of_community->second[section].size());
          for (const EventItem* item : of_community->second[section]) items.push_back(item->item);
        }
        news += items.size();
        entry[kSections[section].name] = std::move(items);
      }
      array next;
      if (const auto u = upcoming.find(c.id); u != upcoming.end())
        for (const auto& [start, item] : u->second) next.push_back(item);
      const bool anything = news > 0 || !next.empty();
      entry["upcoming"] = std::move(next);
      content.item_count += static_cast<int>(news);
      if (anything) communities.push_back(std::move(entry));
    }
    if (found->second.size() == 1) content.single_community_id = found->second.front().id;
    object& p = content.payload;
    p["cadence"] = cadence_text;
    p["period"] = request.period_label;
    p["period_end"] = calendar::format_rfc3339_utc(request.period_end);
    p["covered_from"] = calendar::format_rfc3339_utc(request.covered_from);
    p["covered_to"] = calendar::format_rfc3339_utc(request.period_end);
    p["periods_covered"] = request.periods_covered;
    p["item_count"] = content.item_count;
    // One community: the email is that community's (List-Id, one-click unsubscribe, footer).
    if (found->second.size() == 1) {
      p["community"] = found->second.front().slug;
      p["community_name"] = found->second.front().name;
    }
    p["communities"] = std::move(communities);
  }
  return out;
}

std::optional<DigestPreferences> load_digest_preferences(pqxx::transaction_base& tx, std::int64_t member_id) {
  const auto rows = tx.exec_params("SELECT time_zone, digest_hour, weekly_day FROM members WHERE id = $1", member_id);
  if (rows.empty()) return std::nullopt;
  return DigestPreferences{notifiers::usable_zone(rows[0][0].as<std::string>()), rows[0][1].as<int>(), rows[0][2].as<int>()};
}

namespace {

// The member's digest state for the cadence: the schedule row, or (a membership without a
// row yet) coverage from `now`. nullopt when the member has no active community on it.
std::optional<DigestState> load_state(pqxx::transaction_base& tx, std::int64_t member_id, Cadence cadence,
                                      calendar::Instant now) {
  const auto rows = tx.exec_params(
      "SELECT ds.covered_to, ds.last_digest_at FROM memberships ms JOIN communities c ON c.id = ms.community_id "
      "LEFT JOIN digest_schedules ds ON ds.member_id = ms.member_id AND ds.cadence = ms.delivery "
      "WHERE ms.member_id = $1 AND ms.delivery = $2 AND c.status = 'active' LIMIT 1",
      member_id, std::string(cadence_name(cadence)));
  if (rows.empty()) return std::nullopt;
  if (rows[0][0].is_null()) return DigestState{now, std::nullopt};
  DigestState state{store::parse_sql_instant(rows[0][0].c_str()), std::nullopt};
  if (!rows[0][1].is_null()) state.last_digest_at = store::parse_sql_instant(rows[0][1].c_str());
  return state;
}

}  // namespace

namespace {

// When the member's next digest of `cadence` goes out and what it will cover, not composed yet.
std::optional<DigestPreview> plan_preview(pqxx::transaction_base& tx, std::int64_t member_id, Cadence cadence,
                                          const DigestPreferences& preferences, calendar::Instant now) {
  const auto state = load_state(tx, member_id, cadence, now);
  if (!state) return std::nullopt;
  DigestPreview preview;
  preview.kind = digest_kind(cadence);
  DigestRequest& request = preview.covers;
  request.member_id = member_id;
  request.covered_from = state->covered_to;
  if (const auto owed = due_digest(cadence, preferences, *state, now)) {
    preview.due_at = now;
    request.period_end = owed->period_end;
    request.periods_covered = owed->periods_covered;
  } else {
    const auto next = next_digest_due(cadence, preferences, *state);
    if (!next) return std::nullopt;
    preview.due_at = *next;
    request.period_end = *next;
  }
  request.period_label = period_label(cadence, preferences.zone, request.period_end);
  return preview;
}

}  // namespace

std::optional<DigestPreview> preview_digest(pqxx::transaction_base& tx, std::int64_t member_id,
                                            std::optional<Cadence> cadence, calendar::Instant now) {
  const auto preferences = load_digest_preferences(tx, member_id);
  if (!preferences) return std::nullopt;
  // The cadence asked for, or the one due first; only that one is composed.
  std::optional<DigestPreview> next;
  Cadence chosen = Cadence::daily;
  for (const auto c : {Cadence::daily, Cadence::weekly}) {
    if (cadence && *cadence != c) continue;
    auto planned = plan_preview(tx, member_id, c, *preferences, now);
    if (planned && (!next || planned->due_at < next->due_at)) {
      next = std::move(planned);
      chosen = c;
    }
  }
  if (!next) return std::nullopt;
  DigestPreview& preview = *next;
  const DigestRequest& request = preview.covers;
  // What has happened so far: events up to now (or up to the owed period's end).
  DigestRequest so_far = request;
  so_far.period_end = std::min(request.period_end, now);
  if (so_far.period_end <= so_far.covered_from) so_far.period_end = so_far.covered_from;
  auto contents = compose_digests(tx, chosen, {so_far}, now);
  preview.content = std::move(contents.front());
  // The payload names the period the digest will close, not the moment of the preview.
  preview.content.payload["period_end"] = calendar::format_rfc3339_utc(request.period_end);
  preview.content.payload["covered_to"] = calendar::format_rfc3339_utc(request.period_end);
  return next;
}

std::vector<UpcomingDigest> upcoming_digests(pqxx::transaction_base& tx, std::int64_t member_id, calendar::Instant from,
                                             calendar::Instant to, std::optional<calendar::Instant> now) {
  std::vector<UpcomingDigest> out;
  const auto preferences = load_digest_preferences(tx, member_id);
  if (!preferences) return out;
  for (const auto cadence : {Cadence::daily, Cadence::weekly}) {
    const auto state = load_state(tx, member_id, cadence, now.value_or(from));
    if (!state) continue;
    const auto at_from = now && *now < from ? state_at(cadence, *preferences, *state, from) : *state;
    for (const auto at : upcoming_digest_instants(cadence, *preferences, at_from, from, to))
      out.push_back({cadence, digest_kind(cadence), at});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  return out;
}

}  // namespace convene::jobs
