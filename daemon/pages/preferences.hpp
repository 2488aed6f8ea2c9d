#pragma once
// The preferences page (DESIGN §4), linked from every email: GET /preferences/{token} shows a
// member's delivery modes, communities, time zone, digest hour and day, reminders and feed;
// POST saves a change in one transaction and shows what changed. No login: the signed,
// member-specific token is the authority (notifiers/signed_token), carrying the member's link
// version so the member can invalidate every older link. Forms carry a CSRF field
// (preferences_form.hpp) and cross-site posts are refused. See docs/preferences.md.
#include "calendar/clock.hpp"
#include "daemon/config.hpp"
#include "daemon/http/router.hpp"
#include "daemon/pages/link_key.hpp"
#include "store/database.hpp"

#include <string>

namespace convene::daemon {

class PreferencesService {
 public:
  // `link_key` is shared with the unsubscribe page; keep it alive longer than this.
  PreferencesService(store::Database& database, const Config& config, const calendar::Clock& clock, LinkKey& link_key)
      : database_(database), config_(config), clock_(clock), link_key_(link_key) {}
  void install(http::Router& router);

  // Form bodies above this size are refused (413): the page's own form is a few kilobytes.
  static constexpr std::size_t kMaxFormBytes = 64 * 1024;

 private:
  void show(const http::Request& req, const std::string& token, http::Response& res);
  void submit(const http::Request& req, const std::string& token, http::Response& res);

  store::Database& database_;
  const Config& config_;
  const calendar::Clock& clock_;
  LinkKey& link_key_;
};

// True when a POST comes from another site: a Sec-Fetch-Site of cross-site or same-site, or
// an Origin other than public_url's or the request's own host ("null", sent by pages with
// Referrer-Policy: no-referrer such as this one, is left to the CSRF field).
bool cross_site_post(const http::Request& req, const std::string& public_url);

}  // namespace convene::daemon
