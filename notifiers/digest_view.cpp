#include "notifiers/digest_view.hpp"

#include <boost/json/array.hpp>

#include "calendar/local_time.hpp"
#include "notifiers/display_time.hpp"
#include "notifiers/message_view.hpp"
#include "notifiers/text.hpp"

namespace convene::notifiers {
namespace {

using boost::json::array;
using boost::json::object;

const array* list(const object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? &v->as_array() : nullptr;
}

std::optional<calendar::Instant> instant(const object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? parse_utc(v->as_string()) : std::nullopt;
}

std::size_t count(const object& o, std::string_view key) {
  const auto* l = list(o, key);
  return l == nullptr ? 0 : l->size();
}

std::string counted(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

// Each item of a section becomes only the fields the templates read (rendering converts the
// whole view, so the payload's other fields would cost time for nothing); a URL that is not a
// safe http(s) URL is dropped, as in single-event emails.
array items_view(const array& items, const std::string& zone, bool topics) {
  array out;
  out.reserve(items.size());
  for (const auto& item : items) {
    if (!item.is_object()) continue;
    const object& from = item.as_object();
    object view;
    view.reserve(topics ? 3 : 8);
    if (const auto* title = from.if_contains("title")) view.emplace("title", *title);
    if (const auto* url = from.if_contains("url"); url != nullptr && url->is_string())
      if (auto safe = safe_url(url->as_string())) view.emplace("url", std::move(*safe));
    if (topics) {
      if (const auto posted = instant(from, "posted_at")) view.emplace("posted_when", time_point(*posted, zone));
    } else {
      // Shown in the recipient's zone only: digests do not repeat each time in the meeting's.
      add_meeting_fields(view, from, zone, /*show_meeting_zone=*/false);
    }
    out.push_back(std::move(view));
  }
  return out;
}

}  // namespace

bool is_digest_kind(std::string_view kind) { return kind == "digest.daily" || kind == "digest.weekly"; }

void add_digest_view(object& view, const object& payload, const std::string& zone) {
  const bool weekly = view.contains("cadence") && view["cadence"].is_string() && view["cadence"].as_string() == "weekly";
  view["digest_title"] = weekly ? "Your weekly digest" : "Your daily digest";
  view["is_weekly"] = weekly;

  const auto end = instant(payload, "period_end");
  const auto from = instant(payload, "covered_from");
  std::int64_t periods = 1;
  if (const auto* p = payload.if_contains("periods_covered"); p != nullptr && p->is_int64()) periods = p->as_int64();
  if (end) {
    const auto last_day = calendar::local_date(*end, zone);
    view["period_text"] = weekly ? "the week to " + long_date(last_day) : long_date(last_day);
    if (periods > 1 && from) {
      // Missed periods (the service was down) came together in this one digest.
      view["coalesced"] = true;
      view["periods_covered_text"] = counted(static_cast<std::size_t>(periods), weekly ? "week" : "day", weekly ? "weeks" : "days");
      view["covered_from_when"] = time_point(*from, zone);
    }
  }

  std::size_t topics = 0, scheduled = 0, changed = 0, cancelled = 0, annual = 0;
  std::vector<std::string> names;
  array communities;
  if (const auto* all = list(payload, "communities"))
    for (const auto& c : *all) {
      if (!c.is_object()) continue;
      const object& community = c.as_object();
      object cv;
      for (const char* key : {"community", "community_name"})
        if (const auto* v = community.if_contains(key)) cv.emplace(key, *v);
      for (const char* section : {"topics", "scheduled", "changed", "cancelled", "annual", "upcoming"})
        if (const auto* items = list(community, section)) cv[section] = items_view(*items, zone, std::string_view(section) == "topics");
      topics += count(community, "topics");
      scheduled += count(community, "scheduled");
      changed += count(community, "changed");
      cancelled += count(community, "cancelled");
      annual += count(community, "annual");
      const std::size_t news = count(community, "topics") + count(community, "scheduled") + count(community, "changed") +
                               count(community, "cancelled") + count(community, "annual");
      for (const char* section : {"topics", "scheduled", "changed", "cancelled", "annual"})
        cv[std::string("has_") + section] = count(community, section) > 0;
      cv["has_news"] = news > 0;
      cv["has_upcoming"] = count(community, "upcoming") > 0;
      if (const auto* name = community.if_contains("community_name"); name != nullptr && name->is_string())
        names.push_back(single_line(name->as_string()));
      communities.push_back(std::move(cv));
    }
  view["communities"] = std::move(communities);
  view["digest_communities_text"] = join_names(names);

  std::vector<std::string> parts;
  if (topics > 0) parts.push_back(counted(topics, "new topic", "new topics"));
  if (scheduled > 0) parts.push_back(counted(scheduled, "new meeting", "new meetings"));
  if (annual > 0) parts.push_back(counted(annual, "annual meeting date", "annual meeting dates"));
  if (changed > 0) parts.push_back(counted(changed, "change", "changes"));
  if (cancelled > 0) parts.push_back(counted(cancelled, "cancellation", "cancellations"));
  view["summary"] = parts.empty() ? std::string("nothing new") : join_names(parts);
}

}  // namespace convene::notifiers
