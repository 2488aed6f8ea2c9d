#include "daemon/pages/preferences_form.hpp"

#include "daemon/api/member_changes.hpp"
#include "daemon/http/message.hpp"
#include "notifiers/base64.hpp"
#include "notifiers/crypto.hpp"

#include <algorithm>
#include <charconv>

namespace convene::daemon {
namespace {

// application/x-www-form-urlencoded: '+' is a space, %XX a byte; nullopt for a broken escape.
std::optional<std::string> url_decode(std::string_view text) {
  std::string out;
  if (!http::percent_decode(text, out, true)) return std::nullopt;
  return out;
}

// A canonical non-negative decimal that fits int64, or nullopt.
std::optional<std::int64_t> whole_number(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s.front() == '0')) return std::nullopt;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < 0) return std::nullopt;
  return n;
}

bool valid_mode(std::string_view mode) {
  return std::find(std::begin(kDeliveryModes), std::end(kDeliveryModes), mode) != std::end(kDeliveryModes);
}

// The one value of a field; nullopt when absent. A field sent twice is an error.
std::optional<std::string> single(const FormFields& form, const std::string& name, const std::string& label,
                                  std::vector<std::string>& errors) {
  const auto [first, last] = form.equal_range(name);
  if (first == last) return std::nullopt;
  if (std::next(first) != last) {
    errors.push_back(label + " was sent more than once.");
    return std::nullopt;
  }
  return first->second;
}

std::string in_quotes(std::string_view text) {
  constexpr std::size_t kShown = 40;  // a pasted novel is not repeated back
  return "\u201C" + std::string(text.substr(0, kShown)) + (text.size() > kShown ? "\u2026" : "") + "\u201D";
}

const CommunityItem* find_item(const std::vector<CommunityItem>& items, std::int64_t id) {
  for (const auto& item : items)
    if (item.id == id) return &item;
  return nullptr;
}

std::vector<std::chrono::seconds> sorted_offsets(std::vector<std::chrono::seconds> offsets) {
  std::sort(offsets.begin(), offsets.end(), std::greater<>());
  offsets.erase(std::unique(offsets.begin(), offsets.end()), offsets.end());
  return offsets;
}

std::string offsets_text(const std::vector<std::chrono::seconds>& offsets) {
  if (offsets.empty()) return "none";
  std::string out;
  for (const auto offset : offsets) out += (out.empty() ? "" : ", ") + reminder_label(offset);
  return out + " before";
}

void read_member_fields(const FormFields& form, const PreferencesState& state, bool (*known_zone)(std::string_view),
                        EditResult& r) {
  if (const auto zone = single(form, "time_zone", "Time zone", r.errors)) {
    if (!known_zone(*zone))
      r.errors.push_back("Time zone " + in_quotes(*zone) + " is not one we know: pick one from the list.");
    else if (*zone != state.time_zone)
      r.edit.time_zone = *zone;
  }
  if (const auto hour = single(form, "digest_hour", "Digest hour", r.errors)) {
    const auto n = whole_number(*hour);
    if (!n || *n > 23)
      r.errors.push_back("Digest hour " + in_quotes(*hour) + " is not an hour of the day: choose one from 00:00 to 23:00.");
    else if (*n != state.digest_hour)
      r.edit.digest_hour = static_cast<int>(*n);
  }
  if (const auto day = single(form, "weekly_day", "Weekly digest day", r.errors)) {
    const auto n = api::parse_weekday(*day);
    if (!n)
      r.errors.push_back("Weekly digest day " + in_quotes(*day) + " is not a day of the week such as monday.");
    else if (*n != state.weekly_day)
      r.edit.weekly_day = *n;
  }
  if (form.count("reminders_shown") != 0) {
    std::vector<std::chrono::seconds> offsets;
    const auto [first, last] = form.equal_range("reminder");
    for (auto it = first; it != last; ++it) {
      const auto offset = api::parse_reminder_offset(it->second);
      if (!offset)
        r.errors.push_back("Reminder " + in_quotes(it->second) + " is not a time we can remind you at (1 minute to 60 days before).");
      else
        offsets.push_back(*offset);
    }
    offsets = sorted_offsets(std::move(offsets));
    if (offsets.size() > 10) r.errors.push_back("Choose at most 10 reminder times.");
    else if (offsets != sorted_offsets(state.reminder_offsets)) r.edit.reminder_offsets = std::move(offsets);
  }
}

void read_membership_fields(const FormFields& form, const PreferencesState& state, EditResult& r) {
  for (const auto& m : state.memberships) {
    const std::string id = std::to_string(m.id);
    if (form.count("leave_" + id) != 0) {
      r.edit.leave.push_back(m.id);
      continue;  // leaving wins over a mode chosen in the same form
    }
    const auto mode = single(form, "delivery_" + id, "The delivery mode of " + m.name, r.errors);
    if (!mode) continue;
    if (!valid_mode(*mode))
      r.errors.push_back("Delivery mode " + in_quotes(*mode) + " for " + m.name +
                         " is not one of: every email, daily digest, weekly digest, no email.");
    else if (*mode != m.delivery)
      r.edit.deliveries.push_back({m.id, *mode});
  }
  if (const auto mode = single(form, "join_delivery", "The delivery mode for communities you join", r.errors)) {
    if (valid_mode(*mode)) r.edit.join_delivery = *mode;
    else r.errors.push_back("Delivery mode " + in_quotes(*mode) + " for communities you join is not one we offer.");
  }
  const auto [first, last] = form.equal_range("join");
  for (auto it = first; it != last; ++it) {
    const auto id = whole_number(it->second);
    if (id && find_item(state.memberships, *id)) continue;  // joined meanwhile: nothing to do
    if (!id || !find_item(state.joinable, *id)) {
      r.errors.push_back("Community " + in_quotes(it->second) + " cannot be joined: it no longer exists or is archived.");
      continue;
    }
    if (std::find(r.edit.join.begin(), r.edit.join.end(), *id) == r.edit.join.end()) r.edit.join.push_back(*id);
  }
}

}  // namespace

std::optional<FormFields> parse_form(std::string_view body, std::size_t max_fields) {
  FormFields fields;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    if (fields.size() == max_fields) return std::nullopt;
    const std::size_t eq = pair.find('=');
    auto name = url_decode(pair.substr(0, eq));
    auto value = url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    fields.emplace(std::move(*name), std::move(*value));
  }
  return fields;
}

std::string csrf_value(std::string_view key, std::int64_t member_id, std::int64_t link_version, std::int64_t issued_unix) {
  const std::string message = "convene-csrf/preferences/" + std::to_string(member_id) + "/" +
                              std::to_string(link_version) + "/" + std::to_string(issued_unix);
  return notifiers::base64url_encode(notifiers::hmac_sha256(key, message));
}

CsrfCheck check_csrf(const FormFields& form, std::string_view key, std::int64_t member_id, std::int64_t link_version,
                     std::int64_t now_unix) {
  const auto issued = form.find("issued");
  const auto given = form.find("csrf");
  if (issued == form.end() || given == form.end() || form.count("csrf") != 1 || form.count("issued") != 1)
    return CsrfCheck::missing;
  const auto at = whole_number(issued->second);
  // The MAC first: an expired verdict is only for forms this server made.
  if (!at || !notifiers::constant_time_equal(given->second, csrf_value(key, member_id, link_version, *at)))
    return CsrfCheck::wrong;
  constexpr std::int64_t kLifetime = 24 * 3600, kSkew = 300;
  if (*at > now_unix + kSkew || now_unix - *at > kLifetime) return CsrfCheck::expired;
  return CsrfCheck::ok;
}

EditResult read_edit(const FormFields& form, const PreferencesState& state, bool (*known_zone)(std::string_view)) {
  EditResult r;
  read_member_fields(form, state, known_zone, r);
  read_membership_fields(form, state, r);
  if (!r.errors.empty()) r.edit = PreferencesEdit{};  // all or nothing
  return r;
}

std::vector<std::string> describe_edit(const PreferencesEdit& edit, const PreferencesState& before) {
  std::vector<std::string> lines;
  for (const auto& d : edit.deliveries) {
    const auto* m = find_item(before.memberships, d.community_id);
    lines.push_back(m->name + ": " + delivery_label(d.delivery) + " (was: " + delivery_label(m->delivery) + ")");
  }
  for (const auto id : edit.leave) lines.push_back("Left " + find_item(before.memberships, id)->name);
  for (const auto id : edit.join)
    lines.push_back("Joined " + find_item(before.joinable, id)->name + ": " + delivery_label(edit.join_delivery));
  if (edit.time_zone) lines.push_back("Time zone: " + *edit.time_zone + " (was: " + before.time_zone + ")");
  if (edit.digest_hour)
    lines.push_back("Digest hour: " + hour_label(*edit.digest_hour) + " (was: " + hour_label(before.digest_hour) + ")");
  if (edit.weekly_day)
    lines.push_back("Weekly digest day: " + weekday_label(*edit.weekly_day) + " (was: " + weekday_label(before.weekly_day) + ")");
  if (edit.reminder_offsets)
    lines.push_back("Meeting reminders: " + offsets_text(*edit.reminder_offsets) +
                    " (was: " + offsets_text(sorted_offsets(before.reminder_offsets)) + ")");
  return lines;
}

std::string delivery_label(std::string_view mode) {
  if (mode == "realtime") return "every email as it happens";
  if (mode == "daily") return "a daily digest";
  if (mode == "weekly") return "a weekly digest";
  if (mode == "none") return "no email";
  return std::string(mode);
}

std::string reminder_label(std::chrono::seconds offset) {
  using namespace std::chrono;
  std::string out;
  auto part = [&out](long long n, const char* unit) {
    if (n == 0) return;
    out.append(out.empty() ? "" : " ").append(std::to_string(n)).append(" ").append(unit).append(n == 1 ? "" : "s");
  };
  const auto d = duration_cast<days>(offset);
  const auto h = duration_cast<hours>(offset - d);
  const auto m = duration_cast<minutes>(offset - d - h);
  if (d.count() % 7 == 0 && h.count() == 0 && m.count() == 0) part(d.count() / 7, "week");
  else part(d.count(), "day");
  if (!(d.count() % 7 == 0 && h.count() == 0 && m.count() == 0)) {
    part(h.count(), "hour");
    part(m.count(), "minute");
  }
  return out.empty() ? "0 minutes" : out;
}

std::string hour_label(int hour) {
  std::string out = hour < 10 ? "0" : "";
  out += std::to_string(hour);
  out += ":00";
  return out;
}

std::string weekday_label(int iso_weekday) {
  std::string name(api::weekday_name(iso_weekday));
  name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return name;
}

}  // namespace convene::daemon
