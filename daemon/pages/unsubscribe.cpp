#include "daemon/pages/unsubscribe.hpp"

#include "daemon/pages/html.hpp"
#include "notifiers/signed_token.hpp"
#include "store/sql_time.hpp"

#include <pqxx/pqxx>

namespace convene::daemon {
namespace {

// What a genuine token stops: one community's email, or one of the member's digests.
struct Target {
  std::int64_t member_id = 0, community_id = 0;  // community_id 0: a digest
  std::string cadence;                           // "daily" / "weekly" for a digest
  std::string community_name;                    // for a digest: its communities' names
  std::optional<std::string> delivery;  // nullopt: nothing to stop (not a member, or no community on the digest)
  bool digest() const { return community_id == 0; }
};

// A digest token: the member's daily or weekly digest, over every active community on it.
std::optional<Target> resolve_digest(pqxx::work& tx, const std::string& key, const std::string& token) {
  for (const auto& [purpose, cadence] : {std::pair{notifiers::TokenPurpose::daily_digest, "daily"},
                                         std::pair{notifiers::TokenPurpose::weekly_digest, "weekly"}}) {
    const auto claims = notifiers::verify_token(key, purpose, token);
    if (!claims) continue;
    if (tx.exec_params("SELECT 1 FROM members WHERE id = $1", claims->member_id).empty()) return std::nullopt;
    Target t{claims->member_id, 0, cadence, "", std::nullopt};
    for (const auto& r : tx.exec_params(
             "SELECT c.name FROM memberships ms JOIN communities c ON c.id = ms.community_id "
             "WHERE ms.member_id = $1 AND ms.delivery = $2 AND c.status = 'active' ORDER BY c.name",
             claims->member_id, t.cadence))
      t.community_name += (t.community_name.empty() ? "" : ", ") + r[0].as<std::string>();
    if (!t.community_name.empty()) t.delivery = t.cadence;
    return t;
  }
  return std::nullopt;
}

// True when the token carries a valid signature for an unsubscribe or digest link: checked
// before any transaction, so a forged link costs no database work.
bool genuine(const std::string& key, const std::string& token) {
  using notifiers::TokenPurpose;
  for (const auto purpose : {TokenPurpose::unsubscribe, TokenPurpose::daily_digest, TokenPurpose::weekly_digest})
    if (notifiers::verify_token(key, purpose, token)) return true;
  return false;
}

// The member and community (or digest) a genuine token names, or nullopt.
std::optional<Target> resolve(pqxx::work& tx, const std::string& key, const std::string& token) {
  const auto claims = notifiers::verify_token(key, notifiers::TokenPurpose::unsubscribe, token);
  if (!claims) return resolve_digest(tx, key, token);
  if (claims->community_id == 0) return std::nullopt;
  const auto rows = tx.exec_params(
      "SELECT c.name, ms.delivery FROM communities c "
      "LEFT JOIN memberships ms ON ms.community_id = c.id AND ms.member_id = $1 WHERE c.id = $2",
      claims->member_id, claims->community_id);
  if (rows.empty()) return std::nullopt;
  Target t{claims->member_id, claims->community_id, "", rows[0][0].as<std::string>(), std::nullopt};
  if (!rows[0][1].is_null()) t.delivery = rows[0][1].as<std::string>();
  return t;
}

void page(http::Response& res, int status, const std::string& title, const std::string& body_html) {
  send_page(res, status, simple_page(title, body_html));
}

void not_valid(http::Response& res) {
  page(res, 404, "Link not valid",
       "<p>This unsubscribe link is not valid. Use the link from a recent email, or change your "
       "settings from the preferences link in any email.</p>");
}

}  // namespace

void UnsubscribeService::show(const std::string& token, http::Response& res) {
  const auto key = link_key_.get();
  if (!genuine(key, token)) return not_valid(res);
  const auto target = database_.transact([&](pqxx::work& tx) { return resolve(tx, key, token); });
  if (!target) return not_valid(res);
  const auto name = html_escape(target->community_name);
  if (target->digest()) {
    if (!target->delivery)
      return page(res, 200, "Unsubscribed", "<p>You no longer receive a " + target->cadence + " digest.</p>");
    return page(res, 200, "Stop your " + target->cadence + " digest",
                "<p>You receive a " + target->cadence + " digest of <strong>" + name + "</strong>. Stop it?</p>"
                "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
                "<button type=\"submit\">Unsubscribe from the " + target->cadence + " digest</button></form>"
                "<p>You stay a member of these communities: their calendar feeds and your other settings do not "
                "change.</p>");
  }
  if (!target->delivery || *target->delivery == "none")
    return page(res, 200, "Unsubscribed", "<p>You no longer receive email from <strong>" + name + "</strong>.</p>");
  // The form posts back to this same URL: no JavaScript, no cookie.
  page(res, 200, "Stop email from " + target->community_name,
       "<p>You receive email from <strong>" + name + "</strong>. Stop it?</p>"
       "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
       "<button type=\"submit\">Unsubscribe from " + name + "</button></form>"
       "<p>You stay a member: its calendar feed and other settings do not change.</p>");
}

namespace {

// Every membership on the digest's cadence becomes `none`, and its queued digests are cancelled.
void stop_digest(pqxx::work& tx, const Target& t, const std::string& now_sql) {
  tx.exec_params("UPDATE memberships SET delivery = 'none', updated_at = $3 WHERE member_id = $1 AND delivery = $2",
                 t.member_id, t.cadence, now_sql);
  tx.exec_params(
      "UPDATE notifications SET state = 'cancelled', last_error = 'unsubscribed' WHERE member_id = $1 "
      "AND kind = 'digest.' || $2 AND channel = 'email' AND state = 'pending'",
      t.member_id, t.cadence);
}

void stop_community(pqxx::work& tx, const Target& t, const std::string& now_sql) {
  tx.exec_params(
      "UPDATE memberships SET delivery = 'none', updated_at = $3 WHERE member_id = $1 AND community_id = $2 "
      "AND delivery <> 'none'",
      t.member_id, t.community_id, now_sql);
  tx.exec_params(
      "UPDATE notifications SET state = 'cancelled', last_error = 'unsubscribed' WHERE member_id = $1 "
      "AND community_id = $2 AND channel = 'email' AND state = 'pending'",
      t.member_id, t.community_id);
}

}  // namespace

void UnsubscribeService::unsubscribe(const std::string& token, http::Response& res) {
  const auto key = link_key_.get();
  if (!genuine(key, token)) return not_valid(res);
  const auto now_sql = store::sql_instant(clock_.now());
  // One transaction: the membership stops email and its queued email is cancelled together.
  const auto target = database_.transact([&](pqxx::work& tx) {
    auto t = resolve(tx, key, token);
    if (t) (t->digest() ? stop_digest : stop_community)(tx, *t, now_sql);
    return t;
  });
  if (!target) return not_valid(res);
  if (target->digest())
    return page(res, 200, "Unsubscribed", "<p>You will no longer receive a " + target->cadence + " digest.</p>");
  page(res, 200, "Unsubscribed",
       "<p>You will no longer receive email from <strong>" + html_escape(target->community_name) + "</strong>.</p>");
}

void UnsubscribeService::install(http::Router& router) {
  // RFC 8058's one-click POST carries "List-Unsubscribe=One-Click" and nothing more.
  const http::RouteOptions options{.max_body = 4096,
                                   .limit = http::LimitClass::links,
                                   .failure = [](http::Response& res, int, std::string_view) {
                                     send_try_again(res, "reach its database");
                                   }};
  router.add("GET", "/u/{token}", [this](const http::Request& req, http::Response& res) {
    if (!plausible_token(req.matches[1])) return not_valid(res);
    show(req.matches[1], res);
  }, options);
  router.add("POST", "/u/{token}", [this](const http::Request& req, http::Response& res) {
    if (!plausible_token(req.matches[1])) return not_valid(res);
    unsubscribe(req.matches[1], res);
  }, options);
}

}  // namespace convene::daemon
