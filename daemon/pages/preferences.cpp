#include "daemon/pages/preferences.hpp"

#include "base/log.hpp"
#include "calendar/zones.hpp"
#include "daemon/api/member_changes.hpp"
#include "daemon/pages/html.hpp"
#include "daemon/pages/preferences_form.hpp"
#include "daemon/pages/preferences_page.hpp"
#include "notifiers/signed_token.hpp"
#include "store/sql_lists.hpp"
#include "store/sql_time.hpp"

#include <pqxx/pqxx>

namespace convene::daemon {
namespace {

struct Link {
  std::int64_t member_id = 0, version = 0;
  std::string key;
};

// The member a genuine, current token names, or nullopt (forged, another purpose, or made
// before the member last invalidated their links). `lock` holds the member row for a save.
std::optional<Link> resolve(pqxx::work& tx, const std::string& key, const std::string& token, bool lock) {
  Link link;
  link.key = key;
  const auto claims = notifiers::verify_token(link.key, notifiers::TokenPurpose::preferences, token);
  if (!claims || claims->community_id != 0) return std::nullopt;
  const auto rows = tx.exec_params(std::string("SELECT preferences_link_version FROM members WHERE id = $1") +
                                       (lock ? " FOR UPDATE" : ""),
                                   claims->member_id);
  if (rows.empty() || rows[0][0].as<std::int64_t>() != claims->version) return std::nullopt;
  link.member_id = claims->member_id;
  link.version = claims->version;
  return link;
}

PreferencesState load_state(pqxx::work& tx, const Link& link, const std::string& now_sql) {
  PreferencesState s;
  s.member_id = link.member_id;
  s.link_version = link.version;
  const auto m = tx.exec_params("SELECT name, email, time_zone, digest_hour, weekly_day, " +
                                    store::seconds_list_sql("reminder_offsets") + " FROM members WHERE id = $1",
                                link.member_id)[0];
  s.name = m[0].as<std::string>();
  s.email = m[1].as<std::string>();
  s.time_zone = m[2].as<std::string>();
  s.digest_hour = m[3].as<int>();
  s.weekly_day = m[4].as<int>();
  for (const auto seconds : store::parse_seconds_list(m[5].as<std::string>()))
    s.reminder_offsets.emplace_back(seconds);
  // Archived communities send nothing and cannot be joined: they are not on the page.
  for (const auto& r : tx.exec_params(
           "SELECT c.id, c.slug, c.name, ms.delivery FROM communities c "
           "LEFT JOIN memberships ms ON ms.community_id = c.id AND ms.member_id = $1 "
           "WHERE c.status = 'active' ORDER BY lower(c.name), c.id",
           link.member_id)) {
    CommunityItem item{r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                       r[3].is_null() ? "" : r[3].as<std::string>()};
    (item.delivery.empty() ? s.joinable : s.memberships).push_back(std::move(item));
  }
  s.has_feed = !tx.exec_params(
                      "SELECT 1 FROM tokens WHERE member_id = $1 AND purpose = 'feed' AND revoked_at IS NULL "
                      "AND (expires_at IS NULL OR expires_at > $2::timestamptz)",
                      link.member_id, now_sql)
                      .empty();
  return s;
}

// The page as the member's settings stand, its forms signed at `issued_unix`.
PreferencesPage page_of(pqxx::work& tx, const Link& link, const std::string& now_sql, std::int64_t issued_unix) {
  return PreferencesPage{load_state(tx, link, now_sql), csrf_value(link.key, link.member_id, link.version, issued_unix),
                         std::to_string(issued_unix), calendar::zone_names(), {}, {}, {}, std::nullopt};
}

api::CommunityRef community_ref(const CommunityItem& item) {
  return api::CommunityRef{item.id, item.slug, item.name, "active", ""};
}

const CommunityItem& item_with_id(const std::vector<CommunityItem>& items, std::int64_t id) {
  return *std::find_if(items.begin(), items.end(), [id](const auto& item) { return item.id == id; });
}

// Writes a checked edit: the same functions, rows and outbox events as the v1 API.
void apply_edit(pqxx::work& tx, const PreferencesState& s, const PreferencesEdit& edit, const std::string& now_sql) {
  const std::optional<std::int64_t> actor = s.member_id;
  if (edit.time_zone || edit.digest_hour || edit.weekly_day || edit.reminder_offsets) {
    api::MemberSettings settings;
    settings.time_zone = edit.time_zone;
    if (edit.digest_hour) settings.digest_hour = *edit.digest_hour;
    settings.weekly_day = edit.weekly_day;
    if (edit.reminder_offsets) settings.reminder_offsets_sql = api::interval_array_sql(*edit.reminder_offsets);
    api::update_member_settings(tx, s.member_id, settings, now_sql);
  }
  for (const auto& d : edit.deliveries)
    api::set_membership(tx, s.member_id, community_ref(item_with_id(s.memberships, d.community_id)), d.delivery, actor,
                        now_sql);
  for (const auto id : edit.leave)
    api::leave_community(tx, s.member_id, community_ref(item_with_id(s.memberships, id)), actor, now_sql);
  for (const auto id : edit.join)
    api::set_membership(tx, s.member_id, community_ref(item_with_id(s.joinable, id)), edit.join_delivery, actor,
                        now_sql);
}

struct Answer {
  int status = 200;
  std::string html;
  std::string location;  // a 303 to the page's new link
};

Answer not_valid() {
  return {404, render_message_page("Link not valid",
                                   "This preferences link is not valid, or it was replaced by a newer one. Use the "
                                   "link in your most recent email from us."),
          ""};
}

void send(http::Response& res, const Answer& answer) { send_page(res, answer.status, answer.html, answer.location); }

// A signature check before any transaction: a forged link costs no database work.
bool genuine(const std::string& key, const std::string& token) {
  const auto claims = notifiers::verify_token(key, notifiers::TokenPurpose::preferences, token);
  return claims && claims->community_id == 0;
}

std::string origin_of(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  return url.substr(0, url.find('/', scheme_end + 3));
}

}  // namespace

bool cross_site_post(const http::Request& req, const std::string& public_url) {
  const auto site = req.get_header_value("Sec-Fetch-Site");
  if (site == "cross-site" || site == "same-site") return true;
  if (!req.has_header("Origin")) return false;
  const auto origin = req.get_header_value("Origin");
  if (origin == "null" || origin == origin_of(public_url)) return false;
  const auto host = req.get_header_value("Host");
  return host.empty() || (origin != "http://" + host && origin != "https://" + host);
}

void PreferencesService::show(const http::Request& req, const std::string& token, http::Response& res) {
  const auto key = link_key_.get();
  if (!genuine(key, token)) return send(res, not_valid());
  const auto now = clock_.now();
  const auto now_sql = store::sql_instant(now);
  const auto issued = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto answer = database_.transact([&](pqxx::work& tx) {
    const auto link = resolve(tx, key, token, false);
    if (!link) return not_valid();
    PreferencesPage page = page_of(tx, *link, now_sql, issued);
    if (req.get_param_value("done") == "link")
      page.notice = "This is your new preferences link: bookmark it. Links in earlier emails no longer work.";
    return Answer{200, render_preferences_page(page), ""};
  });
  send(res, answer);
}

void PreferencesService::submit(const http::Request& req, const std::string& token, http::Response& res) {
  if (req.body.size() > kMaxFormBytes)
    return send(res, {413, render_message_page("Form too large", "The form sent was larger than this page ever sends."), ""});
  if (req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) != 0)
    return send(res, {415, render_message_page("Not a form", "Send the form from the preferences page."), ""});
  if (cross_site_post(req, config_.public_url))
    return send(res, {403, render_message_page("Refused", "This form was sent from another site. Nothing was changed."), ""});
  const auto form = parse_form(req.body);
  if (!form) return send(res, {400, render_message_page("Malformed form", "The form could not be read. Nothing was changed."), ""});
  const auto key = link_key_.get();
  if (!genuine(key, token)) return send(res, not_valid());
  const auto now = clock_.now();
  const auto now_sql = store::sql_instant(now);
  const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto answer = database_.transact([&](pqxx::work& tx) {
    const auto link = resolve(tx, key, token, true);
    if (!link) return not_valid();
    PreferencesPage page = page_of(tx, *link, now_sql, now_unix);
    switch (check_csrf(*form, link->key, link->member_id, link->version, now_unix)) {
      case CsrfCheck::ok: break;
      case CsrfCheck::expired:
        page.errors.push_back("This page was open for more than a day. It shows your current settings now: make your changes again.");
        return Answer{403, render_preferences_page(page), ""};
      case CsrfCheck::missing:
      case CsrfCheck::wrong:
        page.errors.push_back("The form did not come from this page (its security field is missing or wrong). It shows your current settings now: make your changes again.");
        return Answer{403, render_preferences_page(page), ""};
    }
    const auto action = form->find("action") == form->end() ? std::string("save") : form->find("action")->second;
    if (action == "rotate_link") {
      const auto version = tx.exec_params(
          "UPDATE members SET preferences_link_version = preferences_link_version + 1 WHERE id = $1 "
          "RETURNING preferences_link_version", link->member_id)[0][0].as<std::int64_t>();
      const auto fresh = notifiers::make_token(link->key, notifiers::TokenPurpose::preferences, link->member_id, 0, version);
      // The new link by email too, so the member has it where they look for it.
      const auto url = config_.public_url + "/preferences/" + fresh;
      tx.exec_params(
          "INSERT INTO notifications (id, dedupe_key, member_id, channel, kind, recipient, payload, due_at, created_at) "
          "SELECT notification_id(k.key), k.key, m.id, 'email', 'preferences.link', m.email, "
          "jsonb_build_object('url', $3::text), $4, $4 "
          "FROM members m CROSS JOIN LATERAL (SELECT 'preferences-link:' || m.id || ':' || $2 AS key) k WHERE m.id = $1",
          link->member_id, version, url, now_sql);
      return Answer{303, render_message_page("New link made", "Your new preferences link: /preferences/" + fresh),
                    "/preferences/" + fresh + "?done=link"};
    }
    if (action == "rotate_feed") {
      page.new_feed_url = api::rotate_feed_url(tx, link->member_id, config_.public_url, now_sql);
      page.state = load_state(tx, *link, now_sql);
      page.notice = "You have a new feed address; the old one no longer works.";
      return Answer{200, render_preferences_page(page), ""};
    }
    if (action != "save") {
      page.errors.push_back("The form asked for something this page does not do. Nothing was changed.");
      return Answer{400, render_preferences_page(page), ""};
    }
    const auto result = read_edit(*form, page.state, calendar::is_known_zone);
    if (!result.errors.empty()) {
      page.errors = result.errors;
      return Answer{422, render_preferences_page(page), ""};
    }
    if (result.edit.empty()) {
      page.notice = "Nothing to save: these are already your settings.";
      return Answer{200, render_preferences_page(page), ""};
    }
    apply_edit(tx, page.state, result.edit, now_sql);
    page.changes = describe_edit(result.edit, page.state);
    page.state = load_state(tx, *link, now_sql);
    return Answer{200, render_preferences_page(page), ""};
  });
  send(res, answer);
}

void PreferencesService::install(http::Router& router) {
  const http::RouteOptions options{.max_body = kMaxFormBytes,
                                   .limit = http::LimitClass::links,
                                   .failure = [](http::Response& res, int, std::string_view) {
                                     send_try_again(res, "save or show your preferences");
                                   }};
  router.add("GET", "/preferences/{token}", [this](const http::Request& req, http::Response& res) {
    if (!plausible_token(req.matches[1])) return send(res, not_valid());
    show(req, req.matches[1], res);
  }, options);
  router.add("POST", "/preferences/{token}", [this](const http::Request& req, http::Response& res) {
    if (!plausible_token(req.matches[1])) return send(res, not_valid());
    submit(req, req.matches[1], res);
  }, options);
}

}  // namespace convene::daemon
