#include "notifiers/message_view.hpp"

#include <array>
#include <chrono>

#include <boost/json/array.hpp>

#include "calendar/local_time.hpp"
#include "notifiers/digest_view.hpp"
#include "notifiers/display_time.hpp"
#include "notifiers/text.hpp"

namespace convene::notifiers {
namespace {

using namespace std::chrono;
using boost::json::object;

std::optional<std::string_view> text(const object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string_view(v->as_string());
}

std::optional<std::int64_t> integer(const object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

bool flag(const object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

std::optional<calendar::Instant> instant(const object& o, std::string_view key) {
  const auto t = text(o, key);
  return t ? parse_utc(*t) : std::nullopt;
}

// "2027-07-12" or the date of "2027-07-12T14:00:00".
std::optional<year_month_day> date(const object& o, std::string_view key) {
  const auto t = text(o, key);
  if (!t) return std::nullopt;
  return calendar::parse_date(t->substr(0, 10));
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

std::vector<std::string> strings(const object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_array())
    for (const auto& item : v->as_array())
      if (item.is_string()) out.push_back(single_line(item.as_string()));
  return out;
}

std::string role_title(std::string_view role) {
  if (role == "discussion_monitor") return "Discussion Monitor";
  if (role == "meeting_coordinator") return "Meeting Coordinator";
  if (role == "event_coordinator") return "Special Event/Project Coordinator";
  if (role == "committee") return "Member Engagement Committee member";
  if (role == "admin") return "administrator";
  std::string out(role);
  for (char& c : out)
    if (c == '_') c = ' ';
  return out;
}

std::string kind_label(std::string_view kind) {
  if (kind == "special_event") return "special event";
  if (kind == "annual") return "annual meeting";
  if (kind == "deadline") return "deadline";
  return "meeting";
}

// The times of a meeting, a moved or cancelled occurrence, and its recurrence, for people.
void add_meeting(object& view, const object& payload, const std::string& zone, bool show_meeting_zone = true) {
  const auto start = instant(payload, "start_utc"), end = instant(payload, "end_utc");
  if (!start || !end) return;
  const bool all_day = flag(payload, "all_day");
  // The meeting's own zone: for an all-day meeting's dates, and the time there when shown.
  const std::string meeting_zone =
      all_day || show_meeting_zone ? usable_zone(text(payload, "time_zone").value_or(""), zone) : zone;
  const auto length = *end - *start;
  const auto first = date(payload, "start"), last = date(payload, "end");
  if (all_day && first && last) {
    view["when"] = date_range(*first, *last);
  } else {
    view["when"] = time_range(*start, *end, zone);
    if (meeting_zone != zone) view["when_in_meeting_zone"] = time_range(*start, *end, meeting_zone);
  }
  const std::string kind(text(payload, "kind").value_or("meeting"));
  view["kind_label"] = kind_label(kind);
  view["is_deadline"] = kind == "deadline";
  if (const auto rule = text(payload, "rrule")) view["repeats"] = rrule_text(*rule);

  const auto* occurrence = payload.if_contains("occurrence");
  view["whole_series"] = occurrence == nullptr || !occurrence->is_object();
  if (occurrence == nullptr || !occurrence->is_object()) return;
  const object& o = occurrence->as_object();
  const auto original = instant(o, "recurrence_id");
  if (!original) return;
  if (all_day) {
    const auto day = calendar::local_date(*original, meeting_zone);
    view["occurrence_original_when"] = date_range(day, year_month_day{sys_days{day} + ceil<days>(length)});
  } else {
    view["occurrence_original_when"] = time_range(*original, *original + length, zone);
  }
  view["occurrence_cancelled"] = flag(o, "cancelled");
  const auto moved_start = instant(o, "start_utc"), moved_end = instant(o, "end_utc");
  if (moved_start && moved_end) {
    view["occurrence_when"] = all_day ? date_range(calendar::local_date(*moved_start, meeting_zone),
                                                   calendar::local_date(*moved_end, meeting_zone))
                                      : time_range(*moved_start, *moved_end, zone);
  }
}

void add_role(object& view, const object& payload, const MessageContext& context) {
  view["role_title"] = role_title(text(payload, "role").value_or(""));
  if (const auto d = date(payload, "starts_on")) view["starts_on_text"] = long_date(*d);
  if (const auto d = date(payload, "ends_on")) view["ends_on_text"] = long_date(*d);
  const auto member = integer(payload, "member_id");
  view["for_you"] = member && context.member_id && *member == *context.member_id;
}

void add_community_change(object& view, std::string_view kind, const object& payload) {
  if (kind == "community.updated") {
    view["renamed"] = text(payload, "name") != text(payload, "previous_name");
    view["redescribed"] = text(payload, "description") != text(payload, "previous_description");
  } else if (kind == "community.split") {
    const auto members = text(payload, "members").value_or("");
    view["members_moved"] = members == "move";
    view["members_copied"] = members == "copy";
    view["into_text"] = join_names(strings(payload, "into"));
  } else if (kind == "community.merged") {
    view["from_text"] = join_names(strings(payload, "from"));
  }
}

void add_times(object& view, std::string_view kind, const object& payload, const std::string& zone) {
  const auto when = [&](std::string_view key) -> std::optional<std::string> {
    const auto t = instant(payload, key);
    return t ? std::optional(time_point(*t, zone)) : std::nullopt;
  };
  const auto day = [&](std::string_view key) -> std::optional<std::string> {
    const auto t = instant(payload, key);
    return t ? std::optional(long_date(calendar::local_date(*t, zone))) : std::nullopt;
  };
  if (kind == "meeting.reminder") {
    if (const auto offset = integer(payload, "offset_seconds")) view["starts_in"] = "in " + duration_text(seconds{*offset});
  } else if (kind == "topic.posted") {
    if (auto t = when("posted_at")) view["posted_when"] = *t;
  } else if (kind == "topic.overdue") {
    if (const auto every = integer(payload, "cadence_seconds")) {
      // "every week" rather than "every 1 week".
      std::string cadence = duration_text(seconds{*every});
      if (cadence.starts_with("1 ") && cadence.find(' ', 2) == std::string::npos) cadence.erase(0, 2);
      view["cadence_text"] = cadence;
    }
    if (auto t = when("last_topic_at")) view["last_topic_when"] = *t;
    if (auto t = when("overdue_since")) view["overdue_since_when"] = *t;
  } else if (kind == "review.due") {
    if (auto t = day("period_start")) view["period_start_text"] = *t;
    if (auto t = day("period_end")) view["period_end_text"] = *t;
  } else if (kind == "annual_meeting.tbd") {
    const auto* list = payload.if_contains("communities");
    const std::size_t n = list != nullptr && list->is_array() ? list->as_array().size() : 0;
    view["tbd_count"] = n;
    view["tbd_several"] = n != 1;
  }
}

std::string ordinal(int n) {
  static constexpr std::array<std::string_view, 6> words{"", "first", "second", "third", "fourth", "fifth"};
  if (n == -1) return "last";
  if (n >= 1 && n <= 5) return std::string(words[static_cast<std::size_t>(n)]);
  return std::to_string(n) + ".";
}

std::string weekday_name(std::string_view code) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> names{
      {{"MO", "Monday"}, {"TU", "Tuesday"}, {"WE", "Wednesday"}, {"TH", "Thursday"},
       {"FR", "Friday"}, {"SA", "Saturday"}, {"SU", "Sunday"}}};
  for (const auto& [c, name] : names)
    if (c == code) return std::string(name);
  return {};
}

// "MO" -> "Monday", "2TU" -> "the second Tuesday", "-1FR" -> "the last Friday".
std::string by_day(std::string_view item) {
  if (item.size() < 2) return {};
  const std::string day = weekday_name(item.substr(item.size() - 2));
  const std::string_view prefix = item.substr(0, item.size() - 2);
  if (day.empty() || prefix.empty()) return day;
  int n = 0;
  try {
    std::size_t used = 0;
    n = std::stoi(std::string(prefix), &used);
    if (used != prefix.size()) return {};
  } catch (const std::exception&) {
    return {};
  }
  return "the " + ordinal(n) + " " + day;
}

}  // namespace

void add_meeting_fields(object& view, const object& meeting, const std::string& zone, bool show_meeting_zone) {
  add_meeting(view, meeting, zone, show_meeting_zone);
}

std::optional<std::string> safe_url(std::string_view url) {
  if (!(url.starts_with("https://") || url.starts_with("http://")) || url.size() > 2000 || !is_printable_ascii(url) ||
      url.find_first_of(" \"'<>\\`") != std::string_view::npos)
    return std::nullopt;
  return std::string(url);
}

std::string rrule_text(std::string_view rrule) {
  std::string freq, interval = "1", count, until;
  std::vector<std::string> days;
  for (std::size_t start = 0; start <= rrule.size();) {
    const std::size_t end = std::min(rrule.find(';', start), rrule.size());
    const std::string_view part = rrule.substr(start, end - start);
    const std::size_t eq = part.find('=');
    if (eq != std::string_view::npos) {
      const std::string_view key = part.substr(0, eq), value = part.substr(eq + 1);
      if (key == "FREQ") freq = value;
      if (key == "INTERVAL") interval = value;
      if (key == "COUNT") count = value;
      if (key == "UNTIL") until = value;
      if (key == "BYDAY") {
        for (std::size_t s = 0; s <= value.size();) {
          const std::size_t e = std::min(value.find(',', s), value.size());
          const std::string name = by_day(value.substr(s, e - s));
          if (name.empty()) return "on a repeating schedule";
          days.push_back(name);
          s = e + 1;
        }
      }
    }
    start = end + 1;
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> units{
      {{"DAILY", "day"}, {"WEEKLY", "week"}, {"MONTHLY", "month"}, {"YEARLY", "year"}}};
  std::string unit;
  for (const auto& [f, u] : units)
    if (f == freq) unit = u;
  const bool digits = !interval.empty() && interval.size() < 4 &&
                      interval.find_first_not_of("0123456789") == std::string::npos;
  if (unit.empty() || !digits || interval == "0") return "on a repeating schedule";
  std::string out = interval == "1" ? "every " + unit : "every " + interval + " " + unit + "s";
  if (!days.empty()) out += " on " + join_names(days);
  if (!count.empty() && count.size() < 6 && count.find_first_not_of("0123456789") == std::string::npos)
    out += ", " + count + (count == "1" ? " time" : " times");
  if (until.size() >= 8) {
    const auto d = calendar::parse_date(until.substr(0, 4) + "-" + until.substr(4, 2) + "-" + until.substr(6, 2));
    if (d) out += ", until " + long_date(*d);
  }
  return out;
}

object message_view(std::string_view event_kind, const object& payload, const MessageContext& context) {
  object view = payload;
  for (const char* key : {"url", "join_url"})
    if (const auto* v = payload.if_contains(key)) {
      const auto url = v->is_string() ? safe_url(v->as_string()) : std::nullopt;
      if (url)
        view[key] = *url;
      else
        view.erase(key);
    }
  const std::string zone = usable_zone(context.time_zone);
  view["recipient_name"] = single_line(context.member_name);
  view["recipient_zone"] = zone;
  for (const auto& [key, url] : {std::pair{"preferences_url", &context.preferences_url},
                                 std::pair{"unsubscribe_url", &context.unsubscribe_url},
                                 std::pair{"public_url", &context.public_url}}) {
    if (auto safe = safe_url(*url))
      view[key] = *safe;
    else
      view.erase(key);
  }
  add_meeting(view, payload, zone);
  if (event_kind.starts_with("role.")) add_role(view, payload, context);
  if (event_kind.starts_with("community.")) add_community_change(view, event_kind, payload);
  add_times(view, event_kind, payload, zone);
  if (is_digest_kind(event_kind)) add_digest_view(view, payload, zone);
  return view;
}

}  // namespace convene::notifiers
