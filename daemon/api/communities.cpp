// The directory: communities, refocus, archive, split and merge.
#include "calendar/annual.hpp"
#include "calendar/durations.hpp"
#include "calendar/zones.hpp"
#include "daemon/api/annual.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/routes.hpp"
#include "notifiers/routing.hpp"
#include "store/sql_lists.hpp"

#include <boost/json/array.hpp>

#include <map>
#include <set>

namespace convene::api {
namespace {

constexpr const char* kColumns =
    "c.id, c.slug, c.name, c.description, c.time_zone, c.visibility, c.status, "
    "extract(epoch FROM c.topic_cadence)::bigint, c.created_at, c.updated_at, c.archived_at, "
    "(SELECT count(*) FROM memberships ms WHERE ms.community_id = c.id), "
    "array_to_string(array(SELECT s.slug FROM community_successors cs JOIN communities s ON s.id = cs.successor_id "
    "  WHERE cs.predecessor_id = c.id ORDER BY s.slug), ','), "
    "array_to_string(array(SELECT p.slug FROM community_successors cs JOIN communities p ON p.id = cs.predecessor_id "
    "  WHERE cs.successor_id = c.id ORDER BY p.slug), ',')";

boost::json::array slug_list(const std::string& comma_joined) {
  boost::json::array out;
  for (auto& slug : store::split_list(comma_joined)) out.emplace_back(std::move(slug));
  return out;
}

boost::json::object community_json(const pqxx::row& r) {
  boost::json::object o{{"id", r[0].as<std::int64_t>()},
                        {"slug", r[1].as<std::string>()},
                        {"name", r[2].as<std::string>()},
                        {"description", r[3].as<std::string>()},
                        {"time_zone", r[4].as<std::string>()},
                        {"visibility", r[5].as<std::string>()},
                        {"status", r[6].as<std::string>()},
                        {"created_at", rfc3339(r[8].as<std::string>())},
                        {"updated_at", rfc3339(r[9].as<std::string>())},
                        {"member_count", r[11].as<std::int64_t>()},
                        {"successors", slug_list(r[12].as<std::string>())},
                        {"predecessors", slug_list(r[13].as<std::string>())}};
  o["topic_cadence"] = r[7].is_null()
                           ? boost::json::value(nullptr)
                           : boost::json::value(calendar::format_iso8601_duration(std::chrono::seconds(r[7].as<std::int64_t>())));
  o["archived_at"] = r[10].is_null() ? boost::json::value(nullptr) : boost::json::value(rfc3339(r[10].as<std::string>()));
  return o;
}

std::optional<pqxx::row> load(Call& call, std::int64_t id) {
  const auto rows = call.tx.exec_params(std::string("SELECT ") + kColumns + " FROM communities c WHERE c.id = $1", id);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

bool slug_taken(Call& call, const std::string& slug) {
  return !call.tx.exec_params("SELECT 1 FROM communities WHERE slug = $1", slug).empty();
}

Reply slug_conflict(const std::string& slug, const std::string& field = "slug") {
  return conflict("a community with the slug " + slug + " already exists (archived communities keep their slug)",
                  boost::json::object{{"errors", boost::json::array{boost::json::object{
                                                     {"field", field}, {"message", "is already taken"}}}}});
}

struct NewCommunity {
  std::string slug, name, description, time_zone, visibility;
};

// Reads {slug, name, description, time_zone, visibility} from an object (top level or nested).
std::optional<NewCommunity> read_new_community(Input& in, const Call& call) {
  auto slug = in.text("slug", true, Text::single_line, 64);
  if (slug) {
    if (auto p = slug_problem(*slug)) in.invalid("slug", *p), slug.reset();
  }
  auto name = in.text("name", true, Text::single_line, 200);
  if (name && name->empty()) in.invalid("name", "must not be empty"), name.reset();
  auto description = in.text("description", false, Text::multi_line, 10000);
  auto zone = in.text("time_zone", false, Text::single_line, 64);
  if (zone && !calendar::is_known_zone(*zone))
    in.invalid("time_zone", "must be an IANA time zone such as Europe/London"), zone.reset();
  auto visibility = in.text("visibility", false, Text::single_line, 16);
  if (visibility && *visibility != "public" && *visibility != "members")
    in.invalid("visibility", "must be public or members"), visibility.reset();
  if (!slug || !name) return std::nullopt;
  return NewCommunity{*slug, *name, description.value_or(""), zone.value_or(call.services.config.organisation_time_zone),
                      visibility.value_or("public")};
}

std::int64_t insert_community(Call& call, const NewCommunity& c) {
  const auto rows = call.tx.exec_params(
      "INSERT INTO communities (slug, name, description, time_zone, visibility, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
      c.slug, c.name, c.description, c.time_zone, c.visibility, call.now_sql);
  const auto id = rows[0][0].as<std::int64_t>();
  // This year's placeholder while its window is still ahead, and next year's.
  const int year = current_year(call);
  if (call.today <= configured_window(call, year).last) ensure_annual_placeholders(call, year, id);
  ensure_annual_placeholders(call, year + 1, id);
  return id;
}

// Stops everything that would still go out for the community: unsent notifications, and
// rooms held by its future occurrences.
void archive(Call& call, std::int64_t id) {
  call.tx.exec_params("UPDATE communities SET status = 'archived', archived_at = $2, updated_at = $2 WHERE id = $1", id,
                      call.now_sql);
  call.tx.exec_params("UPDATE notifications SET state = 'cancelled' WHERE community_id = $1 AND state = 'pending'", id);
  call.tx.exec_params(
      "DELETE FROM room_bookings b USING meetings m WHERE b.meeting_id = m.id AND m.community_id = $1 "
      "AND lower(b.during) >= $2",
      id, call.now_sql);
  // An archived community no longer meets: its future annual meetings go.
  call.tx.exec_params(
      "DELETE FROM meetings WHERE community_id = $1 AND kind = 'annual' AND status = 'tentative' AND starts_at >= $2", id,
      call.now_sql);
  call.tx.exec_params(
      "UPDATE meetings SET status = 'cancelled', cancelled_at = $2, sequence = sequence + 1, updated_at = $2 "
      "WHERE community_id = $1 AND kind = 'annual' AND status = 'confirmed' AND starts_at >= $2",
      id, call.now_sql);
}

Reply list(Call& call) {
  Reply error;
  const auto page = parse_page(call, error);
  if (!page) return error;
  const std::string q = call.query("q").value_or("");
  if (auto p = text_problem(q, Text::single_line, 200)) return field_problem(422, "bad search", {{"q", *p}});
  const std::string status = call.query("status").value_or("active");
  if (status != "active" && status != "archived" && status != "all")
    return field_problem(422, "bad filter", {{"status", "must be active, archived or all"}});
  // ILIKE pattern with the user's wildcards escaped.
  std::string pattern = "%";
  for (char c : q) {
    if (c == '%' || c == '_' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += "%";
  const std::string where =
      " FROM communities c WHERE ($1 = 'all' OR c.status = $1) "
      "AND (c.slug ILIKE $2 OR c.name ILIKE $2 OR c.description ILIKE $2)";
  const auto total = call.tx.exec_params("SELECT count(*)" + where, status, pattern)[0][0].as<std::int64_t>();
  boost::json::array items;
  for (const auto& r : call.tx.exec_params(std::string("SELECT ") + kColumns + where + " ORDER BY c.name, c.slug LIMIT $3 OFFSET $4",
                                           status, pattern, page->per_page, page->offset()))
    items.push_back(community_json(r));
  return ok(page_json(*page, total, std::move(items)));
}

Reply create(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins create communities");
  Input in(call.http.body);
  const auto c = read_new_community(in, call);
  if (auto error = in.finish()) return *error;
  if (slug_taken(call, c->slug)) return slug_conflict(c->slug);
  return created(community_json(*load(call, insert_community(call, *c))));
}

Reply get(Call& call) {
  const auto c = find_community(call, call.param("slug"));
  if (!c) return not_found("community");
  return ok(community_json(*load(call, c->id)));
}

Reply update(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins change communities");
  const auto c = find_community(call, call.param("slug"), true);
  if (!c) return not_found("community");
  Input in(call.http.body);
  auto name = in.text("name", false, Text::single_line, 200);
  if (name && name->empty()) in.invalid("name", "must not be empty"), name.reset();
  const auto description = in.text("description", false, Text::multi_line, 10000);
  auto zone = in.text("time_zone", false, Text::single_line, 64);
  if (zone && !calendar::is_known_zone(*zone)) in.invalid("time_zone", "must be an IANA time zone"), zone.reset();
  auto visibility = in.text("visibility", false, Text::single_line, 16);
  if (visibility && *visibility != "public" && *visibility != "members")
    in.invalid("visibility", "must be public or members"), visibility.reset();
  if (auto error = in.finish()) return *error;
  if (c->status == "archived") return conflict("the community " + c->slug + " is archived");
  const auto before = call.tx.exec_params("SELECT name, description FROM communities WHERE id = $1", c->id);
  call.tx.exec_params(
      "UPDATE communities SET name = coalesce($2, name), description = coalesce($3, description), "
      "time_zone = coalesce($4, time_zone), visibility = coalesce($5, visibility), updated_at = $6 WHERE id = $1",
      c->id, name, description, zone, visibility, call.now_sql);
  const std::string old_name = before[0][0].as<std::string>();
  const std::string old_description = before[0][1].as<std::string>();
  const bool refocused = (name && *name != old_name) || (description && *description != old_description);
  if (refocused) {
    // A refocus is news for every member.
    emit_event(call, "community.updated", c->id,
               {{"community", c->slug},
                {"name", name.value_or(old_name)},
                {"description", description.value_or(old_description)},
                {"previous_name", old_name},
                {"previous_description", old_description}});
  }
  return ok(community_json(*load(call, c->id)));
}

Reply archive_route(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins archive communities");
  const auto c = find_community(call, call.param("slug"), true);
  if (!c) return not_found("community");
  if (c->status != "archived") archive(call, c->id);
  return ok(community_json(*load(call, c->id)));
}

void link(Call& call, std::int64_t from, std::int64_t to, const char* relation) {
  call.tx.exec_params(
      "INSERT INTO community_successors (predecessor_id, successor_id, relation, created_at) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT DO NOTHING",
      from, to, relation, call.now_sql);
}

Reply split(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins split communities");
  const auto source = find_community(call, call.param("slug"), true);
  if (!source) return not_found("community");
  Input in(call.http.body);
  const auto* into = in.array("into", true);
  const auto members = in.text("members", false, Text::single_line, 8).value_or("copy");
  if (members != "copy" && members != "move" && members != "none") in.invalid("members", "must be copy, move or none");
  std::vector<NewCommunity> targets;
  if (into != nullptr) {
    if (into->empty() || into->size() > 20) in.invalid("into", "must list 1 to 20 new communities");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < into->size() && i < 20; ++i) {
      const std::string prefix = "into[" + std::to_string(i) + "].";
      if (!(*into)[i].is_object()) {
        in.invalid("into", "items must be objects {slug, name, description}");
        continue;
      }
      Input item((*into)[i].as_object());
      auto c = read_new_community(item, call);
      in.absorb(item, prefix);
      if (!c) continue;
      if (!item.has("time_zone")) c->time_zone = source->time_zone;
      if (!seen.insert(c->slug).second) in.invalid(prefix + "slug", "is listed twice");
      targets.push_back(*c);
    }
  }
  if (auto error = in.finish()) return *error;
  if (source->status == "archived") return conflict("the community " + source->slug + " is archived");
  for (std::size_t i = 0; i < targets.size(); ++i)
    if (slug_taken(call, targets[i].slug)) return slug_conflict(targets[i].slug, "into[" + std::to_string(i) + "].slug");

  boost::json::array created_slugs;
  for (const auto& t : targets) {
    const auto id = insert_community(call, t);
    link(call, source->id, id, "split");
    if (members != "none")
      call.tx.exec_params(
          "INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) "
          "SELECT member_id, $2, delivery, $3, $3 FROM memberships WHERE community_id = $1",
          source->id, id, call.now_sql);
    created_slugs.emplace_back(t.slug);
  }
  if (members == "move") archive(call, source->id);
  emit_event(call, "community.split", source->id,
             {{"community", source->slug}, {"name", source->name}, {"into", created_slugs}, {"members", members}});
  boost::json::array out;
  for (const auto& slug : created_slugs) out.push_back(community_json(*load(call, find_community(call, slug.as_string())->id)));
  return created(boost::json::object{{"source", community_json(*load(call, source->id))}, {"into", std::move(out)}});
}

Reply merge(Call& call) {
  if (!call.committee()) return forbidden("only the committee and admins merge communities");
  Input in(call.http.body);
  const auto from = in.string_list("from", true, 50, 64);
  const auto* into_obj = in.object("into", true);
  std::optional<NewCommunity> target;
  const bool description_given = into_obj != nullptr && into_obj->contains("description");
  if (into_obj != nullptr) {
    Input item(*into_obj);
    target = read_new_community(item, call);
    in.absorb(item, "into.");
  }
  if (from && (from->size() < 2)) in.invalid("from", "must list at least two communities");
  if (auto error = in.finish()) return *error;

  std::vector<CommunityRef> sources;
  std::set<std::string> seen;
  for (const auto& slug : *from) {
    if (!seen.insert(slug).second) return field_problem(422, "bad merge", {{"from", slug + " is listed twice"}});
    auto c = find_community(call, slug, true);
    if (!c) return problem(404, "Not Found", "community " + slug + " not found");
    if (c->status == "archived") return conflict("the community " + slug + " is archived");
    sources.push_back(*c);
  }
  // The target is one of the sources when its slug is listed in `from`; otherwise it is new.
  std::int64_t target_id = 0;
  if (seen.count(target->slug) != 0) {
    target_id = find_community(call, target->slug)->id;
    // Merging into an existing community keeps its description unless a new one is given.
    call.tx.exec_params("UPDATE communities SET name = $2, description = coalesce($3, description), updated_at = $4 "
                        "WHERE id = $1",
                        target_id, target->name,
                        description_given ? std::optional<std::string>(target->description) : std::nullopt, call.now_sql);
  } else {
    if (slug_taken(call, target->slug)) return slug_conflict(target->slug, "into.slug");
    target_id = insert_community(call, *target);
  }
  // Each member keeps their strongest delivery mode: realtime > daily > weekly > none.
  std::map<std::int64_t, notifiers::DeliveryMode> strongest;
  for (const auto& s : sources)
    for (const auto& r : call.tx.exec_params("SELECT member_id, delivery FROM memberships WHERE community_id = $1", s.id)) {
      const auto mode = *notifiers::parse_delivery_mode(r[1].as<std::string>());
      const auto member = r[0].as<std::int64_t>();
      const auto it = strongest.find(member);
      strongest[member] = it == strongest.end() ? mode : notifiers::strongest(it->second, mode);
    }
  for (const auto& [member, mode] : strongest)
    call.tx.exec_params(
        "INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
        "ON CONFLICT (member_id, community_id) DO UPDATE SET delivery = EXCLUDED.delivery, updated_at = EXCLUDED.updated_at",
        member, target_id, std::string(notifiers::to_string(mode)), call.now_sql);
  boost::json::array merged;
  for (const auto& s : sources) {
    if (s.id == target_id) continue;
    link(call, s.id, target_id, "merge");
    archive(call, s.id);
    merged.emplace_back(s.slug);
  }
  emit_event(call, "community.merged", target_id, {{"community", target->slug}, {"name", target->name}, {"from", merged}});
  return created(community_json(*load(call, target_id)));
}

Reply community_members(Call& call) {
  const auto c = find_community(call, call.param("slug"));
  if (!c) return not_found("community");
  if (!call.committee() && !call.has_role(c->id, {"discussion_monitor", "meeting_coordinator", "event_coordinator"}))
    return forbidden("only the community's leaders, the committee and admins see its members");
  Reply error;
  const auto page = parse_page(call, error);
  if (!page) return error;
  const auto total =
      call.tx.exec_params("SELECT count(*) FROM memberships WHERE community_id = $1", c->id)[0][0].as<std::int64_t>();
  boost::json::array items;
  for (const auto& r : call.tx.exec_params(
           "SELECT m.id, m.name, m.email, ms.delivery, ms.joined_at FROM memberships ms JOIN members m ON m.id = ms.member_id "
           "WHERE ms.community_id = $1 ORDER BY m.name, m.id LIMIT $2 OFFSET $3",
           c->id, page->per_page, page->offset()))
    items.push_back(boost::json::object{{"member_id", r[0].as<std::int64_t>()},
                                        {"name", r[1].as<std::string>()},
                                        {"email", r[2].as<std::string>()},
                                        {"delivery", r[3].as<std::string>()},
                                        {"joined_at", rfc3339(r[4].as<std::string>())}});
  return ok(page_json(*page, total, std::move(items)));
}

}  // namespace

void register_communities(Api& api) {
  api.add("GET", "/v1/communities", list);
  api.add("POST", "/v1/communities", create, {.body = Body::json});
  api.add("POST", "/v1/communities/merge", merge, {.body = Body::json});
  api.add("GET", "/v1/communities/{slug}", get);
  api.add("PATCH", "/v1/communities/{slug}", update, {.body = Body::json});
  api.add("POST", "/v1/communities/{slug}/archive", archive_route);
  api.add("POST", "/v1/communities/{slug}/split", split, {.body = Body::json});
  api.add("GET", "/v1/communities/{slug}/members", community_members);
}

}  // namespace convene::api
