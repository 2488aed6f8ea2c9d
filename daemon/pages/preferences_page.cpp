#include "daemon/pages/preferences_page.hpp"

#include "calendar/durations.hpp"
#include "daemon/api/member_changes.hpp"
#include "daemon/pages/preferences_form.hpp"
#include "daemon/pages/html.hpp"

#include <algorithm>

namespace convene::daemon {
namespace {

// Reminder times offered as checkboxes, besides whatever the member has already.
constexpr std::pair<const char*, std::chrono::seconds> kReminderChoices[] = {
    {"P7D", std::chrono::days(7)}, {"P1D", std::chrono::days(1)}, {"PT1H", std::chrono::hours(1)},
    {"PT15M", std::chrono::minutes(15)}};

const char* kStyle =
    "body{font:1rem/1.5 system-ui,sans-serif;max-width:42rem;margin:0 auto;padding:1rem;color:#1b1b1b}"
    "fieldset{border:1px solid #bbb;border-radius:4px;margin:0 0 1rem;padding:.5rem 1rem}"
    "legend{font-weight:600}label{display:inline-block;margin:.15rem 0}"
    "select,button{font:inherit;padding:.3rem .5rem}button{cursor:pointer}"
    ":focus-visible{outline:3px solid #1a56db;outline-offset:2px}"
    ".status{border-left:4px solid #0a7c2f;padding:.25rem 1rem;background:#eefaf1}"
    ".problem{border-left:4px solid #b3261e;padding:.25rem 1rem;background:#fdeeee}"
    ".feed{word-break:break-all}";

std::string esc(std::string_view text) { return html_escape(text); }

std::string hidden_fields(const PreferencesPage& page, std::string_view action) {
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + esc(page.csrf) + "\">"
         "<input type=\"hidden\" name=\"issued\" value=\"" + esc(page.issued) + "\">"
         "<input type=\"hidden\" name=\"action\" value=\"" + std::string(action) + "\">";
}

std::string option(const std::string& value, const std::string& label, bool selected) {
  return "<option value=\"" + esc(value) + "\"" + (selected ? " selected" : "") + ">" + esc(label) + "</option>";
}

std::string list(const std::vector<std::string>& lines) {
  std::string out = "<ul>";
  for (const auto& line : lines) out += "<li>" + esc(line) + "</li>";
  return out + "</ul>";
}

std::string messages(const PreferencesPage& page) {
  std::string out;
  if (!page.errors.empty())
    out += "<div class=\"problem\" role=\"alert\"><h2>Nothing was saved</h2>" + list(page.errors) + "</div>";
  if (!page.changes.empty())
    out += "<div class=\"status\" role=\"status\"><h2>Saved</h2><p>What changed:</p>" + list(page.changes) + "</div>";
  if (!page.notice.empty()) out += "<div class=\"status\" role=\"status\"><p>" + esc(page.notice) + "</p></div>";
  return out;
}

std::string community_section(const CommunityItem& m) {
  const std::string id = std::to_string(m.id);
  std::string out = "<section aria-labelledby=\"community-" + id + "\"><h2 id=\"community-" + id + "\">" + esc(m.name) +
                    "</h2><fieldset><legend>Email from " + esc(m.name) + "</legend>";
  for (const char* mode : kDeliveryModes) {
    const std::string control = "delivery-" + id + "-" + mode;
    out += "<div><input type=\"radio\" id=\"" + control + "\" name=\"delivery_" + id + "\" value=\"" + mode + "\"" +
           (m.delivery == mode ? " checked" : "") + "> <label for=\"" + control + "\">" + esc(delivery_label(mode)) +
           "</label></div>";
  }
  out += "</fieldset><div><input type=\"checkbox\" id=\"leave-" + id + "\" name=\"leave_" + id +
         "\" value=\"1\"> <label for=\"leave-" + id + "\">Leave " + esc(m.name) +
         " (its meetings leave your calendar feed too)</label></div></section>";
  return out;
}

std::string join_section(const PreferencesPage& page) {
  if (page.state.joinable.empty()) return "";
  std::string out = "<section aria-labelledby=\"join\"><h2 id=\"join\">Join other communities</h2>"
                    "<fieldset><legend>Communities to join</legend>";
  for (const auto& c : page.state.joinable) {
    const std::string control = "join-" + std::to_string(c.id);
    out += "<div><input type=\"checkbox\" id=\"" + control + "\" name=\"join\" value=\"" + std::to_string(c.id) +
           "\"> <label for=\"" + control + "\">" + esc(c.name) + "</label></div>";
  }
  out += "</fieldset><div><label for=\"join-delivery\">Email from communities you join</label> "
         "<select id=\"join-delivery\" name=\"join_delivery\">";
  for (const char* mode : kDeliveryModes) out += option(mode, delivery_label(mode), std::string_view(mode) == "realtime");
  return out + "</select></div></section>";
}

std::string timing_section(const PreferencesPage& page) {
  const auto& s = page.state;
  std::string out = "<section aria-labelledby=\"timing\"><h2 id=\"timing\">When email reaches you</h2>"
                    "<div><label for=\"time-zone\">Your time zone</label> <select id=\"time-zone\" name=\"time_zone\">";
  auto zones = page.zones;
  if (std::find(zones.begin(), zones.end(), s.time_zone) == zones.end()) zones.insert(zones.begin(), s.time_zone);
  for (const auto& zone : zones) out += option(zone, zone, zone == s.time_zone);
  out += "</select></div><div><label for=\"digest-hour\">Digests arrive at</label> "
         "<select id=\"digest-hour\" name=\"digest_hour\">";
  for (int hour = 0; hour < 24; ++hour) out += option(std::to_string(hour), hour_label(hour), hour == s.digest_hour);
  out += "</select></div><div><label for=\"weekly-day\">Weekly digests arrive on</label> "
         "<select id=\"weekly-day\" name=\"weekly_day\">";
  for (int day = 1; day <= 7; ++day)
    out += option(std::string(api::weekday_name(day)), weekday_label(day), day == s.weekly_day);
  out += "</select></div><fieldset><legend>Remind me of meetings</legend>"
         "<input type=\"hidden\" name=\"reminders_shown\" value=\"1\">";
  // The offered times, plus any other the member has (set through the API), longest first.
  std::vector<std::pair<std::string, std::chrono::seconds>> choices;
  for (const auto& [iso, offset] : kReminderChoices) choices.emplace_back(iso, offset);
  for (const auto offset : s.reminder_offsets)
    if (std::none_of(choices.begin(), choices.end(), [offset](const auto& c) { return c.second == offset; }))
      choices.emplace_back(calendar::format_iso8601_duration(offset), offset);
  std::sort(choices.begin(), choices.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [iso, offset] : choices) {
    const std::string control = "reminder-" + std::to_string(offset.count());
    const bool on = std::find(s.reminder_offsets.begin(), s.reminder_offsets.end(), offset) != s.reminder_offsets.end();
    out += "<div><input type=\"checkbox\" id=\"" + control + "\" name=\"reminder\" value=\"" + iso + "\"" +
           (on ? " checked" : "") + "> <label for=\"" + control + "\">" + esc(reminder_label(offset)) +
           " before</label></div>";
  }
  return out + "</fieldset></section>";
}

std::string feed_section(const PreferencesPage& page) {
  std::string out = "<section aria-labelledby=\"feed\"><h2 id=\"feed\">Your private calendar feed</h2>";
  if (page.new_feed_url) {
    out += "<p>Your new feed address (copy it now: it is shown only once; the old one no longer works):</p>"
           "<p class=\"feed\"><a href=\"" + esc(*page.new_feed_url) + "\">" + esc(*page.new_feed_url) + "</a></p>";
  } else {
    out += page.state.has_feed
               ? "<p>You have a private feed address with the meetings of your communities. It is shown only when "
                 "made; if you lost it, or someone else has it, make a new one: the old one stops working.</p>"
               : "<p>A private address with the meetings of all your communities, for your calendar app.</p>";
  }
  out += "<form method=\"post\">" + hidden_fields(page, "rotate_feed") + "<button type=\"submit\">" +
         (page.state.has_feed || page.new_feed_url ? "Make a new feed address" : "Make my feed address") +
         "</button></form></section>";
  return out;
}

std::string link_section(const PreferencesPage& page) {
  return "<section aria-labelledby=\"link\"><h2 id=\"link\">This page\u2019s link</h2>"
         "<p>Anyone with the link to this page can change your settings. If you forwarded an email, or fear someone "
         "else has the link, make a new one: links in earlier emails stop working, and this page moves to the new "
         "link (bookmark it).</p><form method=\"post\">" +
         hidden_fields(page, "rotate_link") + "<button type=\"submit\">Make a new link and invalidate old links</button></form></section>";
}

std::string document(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" + esc(title) +
         "</title><style>" + kStyle + "</style></head><body><main>" + body + "</main></body></html>\n";
}

}  // namespace

std::string render_preferences_page(const PreferencesPage& page) {
  const auto& s = page.state;
  std::string body = "<h1>Email preferences</h1><p>For <strong>" + esc(s.name) + "</strong> (" + esc(s.email) +
                     "). Choose how each community reaches you, then save.</p>" + messages(page) +
                     "<form method=\"post\" id=\"preferences\">" + hidden_fields(page, "save");
  if (s.memberships.empty()) body += "<h2>Your communities</h2><p>You are not in any community.</p>";
  for (const auto& m : s.memberships) body += community_section(m);
  body += join_section(page) + timing_section(page) +
          "<p><button type=\"submit\">Save changes</button></p></form>" + feed_section(page) + link_section(page);
  return document("Email preferences \u2013 " + s.name, body);
}

std::string render_message_page(const std::string& title, const std::string& text) {
  return document(title, "<h1>" + esc(title) + "</h1><p>" + esc(text) + "</p>");
}

}  // namespace convene::daemon
