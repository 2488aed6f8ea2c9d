// GET /v1/members/{id}/upcoming and GET /v1/members/{id}/digest-preview (daemon/api/upcoming.hpp):
// read-only looks at what a member will receive. Nothing is sent and nothing is written: both
// run their queries in a read-only transaction.
#include "daemon/api/upcoming.hpp"

#include "calendar/local_time.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/routes.hpp"
#include "jobs/digests.hpp"
#include "notifiers/display_time.hpp"
#include "notifiers/signed_token.hpp"
#include "notifiers/templates.hpp"
#include "store/server_secrets.hpp"

#include <boost/json/array.hpp>

#include <iomanip>
#include <sstream>

namespace convene::api {

std::variant<UpcomingRange, std::vector<FieldError>> parse_upcoming_range(const std::optional<std::string>& from,
                                                                          const std::optional<std::string>& to,
                                                                          std::string_view zone, calendar::Instant now) {
  std::vector<FieldError> errors;
  UpcomingRange range{now, now};
  if (from) {
    if (const auto t = parse_time_bound(*from, zone)) range.from = *t;
    else errors.push_back({"from", "must be a date (2027-03-01, in the member's time zone) or an RFC 3339 instant "
                                   "(2027-03-01T10:00:00Z)"});
  }
  range.to = range.from + kDefaultUpcomingSpan;
  if (to) {
    // A date ends with its day, so from=2027-03-01&to=2027-03-31 is all of March.
    if (const auto t = parse_time_bound(*to, zone, 1)) range.to = *t;
    else errors.push_back({"to", "must be a date (2027-03-31, in the member's time zone) or an RFC 3339 instant "
                                 "(2027-03-31T00:00:00Z)"});
  }
  if (errors.empty() && range.to < range.from) errors.push_back({"to", "must not be before from"});
  if (errors.empty() && range.to - range.from > kMaxUpcomingSpan)
    errors.push_back({"to", "the range may span at most 366 days"});
  if (!errors.empty()) return errors;
  return range;
}

boost::json::object upcoming_json(const jobs::UpcomingList& list) {
  boost::json::array items;
  for (const auto& item : list.items) {
    boost::json::array communities;
    for (const auto& slug : item.communities) communities.emplace_back(slug);
    boost::json::object o{{"kind", item.kind},
                          {"at", calendar::format_rfc3339_utc(item.at)},
                          {"local_at", calendar::format_rfc3339_local(item.at, list.time_zone)},
                          {"channel", "email"},
                          {"communities", std::move(communities)},
                          {"summary", item.summary}};
    if (item.meeting_id) o["meeting_id"] = *item.meeting_id;
    items.push_back(std::move(o));
  }
  return {{"member_id", list.member_id},
          {"time_zone", list.time_zone},
          {"from", calendar::format_rfc3339_utc(list.from)},
          {"to", calendar::format_rfc3339_utc(list.to)},
          {"count", items.size()},
          {"truncated", list.truncated},
          {"items", std::move(items)}};
}

std::string upcoming_table(const jobs::UpcomingList& list) {
  std::ostringstream out;
  out << "What " << list.email << " would receive from " << calendar::format_rfc3339_utc(list.from) << " to "
      << calendar::format_rfc3339_utc(list.to) << " (nothing is sent):\n";
  std::size_t kind_width = 4, communities_width = 11;
  std::vector<std::string> communities;
  for (const auto& item : list.items) {
    std::string slugs;
    for (const auto& s : item.communities) slugs += (slugs.empty() ? "" : ",") + s;
    if (slugs.size() > 40) slugs = slugs.substr(0, 37) + "...";
    kind_width = std::max(kind_width, item.kind.size());
    communities_width = std::max(communities_width, slugs.size());
    communities.push_back(slugs.empty() ? "-" : slugs);
  }
  if (list.items.empty()) return out.str() + "nothing\n";
  const std::string local_heading = "LOCAL (" + list.time_zone + ")";
  out << std::left << std::setw(22) << "UTC" << std::setw(27) << local_heading.substr(0, 26) << std::setw(int(kind_width) + 2)
      << "KIND" << std::setw(int(communities_width) + 2) << "COMMUNITIES" << "SUMMARY\n";
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    const auto& item = list.items[i];
    out << std::setw(22) << calendar::format_rfc3339_utc(item.at) << std::setw(27)
        << calendar::format_rfc3339_local(item.at, list.time_zone) << std::setw(int(kind_width) + 2) << item.kind
        << std::setw(int(communities_width) + 2) << communities[i] << item.summary << "\n";
  }
  out << list.items.size() << (list.items.size() == 1 ? " notification" : " notifications")
      << (list.truncated ? " (the first " + std::to_string(list.items.size()) + "; there are more: narrow the range)" : "")
      << "\n";
  return out.str();
}

namespace {

// Nothing below writes: a bug that tried would fail the request instead of sending anything.
void read_only(Call& call) { call.tx.exec("SET TRANSACTION READ ONLY"); }

struct MemberRow {
  std::string name, zone;
  std::int64_t link_version = 0;
};

std::optional<MemberRow> load_member_row(Call& call, std::int64_t id) {
  const auto rows =
      call.tx.exec_params("SELECT name, time_zone, preferences_link_version FROM members WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  return MemberRow{rows[0][0].as<std::string>(), notifiers::usable_zone(rows[0][1].as<std::string>()),
                   rows[0][2].as<std::int64_t>()};
}

Reply upcoming(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("member");
  if (!call.self_or_admin(*id)) return forbidden("members can only see what they themselves will receive");
  read_only(call);
  const auto member = load_member_row(call, *id);
  if (!member) return not_found("member");
  const auto range = parse_upcoming_range(call.query("from"), call.query("to"), member->zone, call.now);
  if (const auto* errors = std::get_if<std::vector<FieldError>>(&range)) return field_problem(422, "bad range", *errors);
  const auto& r = std::get<UpcomingRange>(range);
  const auto list = jobs::upcoming_notifications(call.tx, *id, r.from, r.to, call.now, kind_settings(call.services.config));
  return ok(upcoming_json(*list));
}

Reply digest_preview(Call& call) {
  const auto id = parse_id(call.param("id"));
  if (!id) return not_found("member");
  if (!call.self_or_admin(*id)) return forbidden("members can only preview their own digest");
  std::optional<jobs::Cadence> cadence;
  if (const auto text = call.query("cadence")) {
    cadence = jobs::parse_cadence(*text);
    if (!cadence) return field_problem(422, "bad cadence", {{"cadence", "must be daily or weekly"}});
  }
  const auto* templates = call.services.templates;
  if (templates == nullptr) return problem(503, "Service Unavailable", "email templates are not loaded");
  // The links key is made once by whoever needs it first (as the delivery worker would).
  const auto key = store::server_secret(call.tx, "links", call.now_sql);
  read_only(call);
  const auto member = load_member_row(call, *id);
  if (!member) return not_found("member");
  const auto preview = jobs::preview_digest(call.tx, *id, cadence, call.now);
  if (!preview)
    return ok(boost::json::object{{"member_id", *id},
                                  {"kind", nullptr},
                                  {"empty", true},
                                  {"due_at", nullptr},
                                  {"reason", "the member has no active community on daily or weekly delivery"}});
  notifiers::MessageContext context;
  context.member_name = member->name;
  context.member_id = *id;
  context.time_zone = member->zone;
  context.public_url = call.services.config.public_url;
  auto links = notifiers::member_links(key, context.public_url, preview->kind, *id, preview->content.single_community_id,
                                       member->link_version);
  context.preferences_url = std::move(links.preferences_url);
  context.unsubscribe_url = std::move(links.unsubscribe_url);
  const auto rendered = templates->render(preview->kind, preview->content.payload, context);
  boost::json::array communities;
  if (const auto* list = preview->content.payload.if_contains("communities"); list && list->is_array())
    for (const auto& c : list->get_array())
      if (const auto* slug = c.as_object().if_contains("community")) communities.push_back(*slug);
  const auto& covers = preview->covers;
  return ok(boost::json::object{
      {"member_id", *id},
      {"kind", preview->kind},
      {"empty", preview->content.empty()},
      {"due_at", calendar::format_rfc3339_utc(preview->due_at)},
      {"local_due_at", calendar::format_rfc3339_local(preview->due_at, member->zone)},
      {"covers",
       {{"from", calendar::format_rfc3339_utc(covers.covered_from)},
        {"to", calendar::format_rfc3339_utc(covers.period_end)},
        {"period", covers.period_label},
        {"periods", covers.periods_covered}}},
      {"item_count", preview->content.item_count},
      {"communities", std::move(communities)},
      {"unsubscribe_url", context.unsubscribe_url.empty() ? boost::json::value(nullptr) : boost::json::value(context.unsubscribe_url)},
      {"subject", rendered.subject},
      {"text", rendered.text},
      {"html", rendered.html}});
}

}  // namespace

void register_upcoming(Api& api) {
  api.add("GET", "/v1/members/{id}/upcoming", upcoming);
  api.add("GET", "/v1/members/{id}/digest-preview", digest_preview);
}

}  // namespace convene::api
