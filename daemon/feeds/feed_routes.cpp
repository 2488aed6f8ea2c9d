#include "daemon/feeds/feed_routes.hpp"

#include "base/log.hpp"
#include "daemon/problem.hpp"
#include "store/roles.hpp"
#include "store/sql_time.hpp"
#include "store/tokens.hpp"

#include <pqxx/pqxx>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace convene::feeds {
namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool etag_listed(const std::string& header, const std::string& etag) {
  // If-None-Match: "a", W/"b" (weak comparison), or *
  if (header.find('*') != std::string::npos) return true;
  std::size_t pos = 0;
  while ((pos = header.find('"', pos)) != std::string::npos) {
    const auto end = header.find('"', pos + 1);
    if (end == std::string::npos) break;
    if (header.compare(pos, end - pos + 1, etag) == 0) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

std::string format_http_date(calendar::Instant t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> tod{floor<seconds>(t - day)};
  const weekday wd{day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02ld:%02ld:%02lld GMT", kDays[wd.c_encoding()], unsigned(ymd.day()),
                kMonths[unsigned(ymd.month()) - 1], int(ymd.year()), long(tod.hours().count()),
                long(tod.minutes().count()), static_cast<long long>(tod.seconds().count()));
  return buf;
}

std::optional<calendar::Instant> parse_http_date(std::string_view text) {
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
  char month_name[4] = {};
  int day = 0, year = 0, h = 0, m = 0, s = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str() + 5, "%2d %3s %4d %2d:%2d:%2d", &day, month_name, &year, &h, &m, &s) != 6)
    return std::nullopt;
  unsigned month = 0;
  for (unsigned i = 0; i < 12; ++i)
    if (std::string_view(month_name) == kMonths[i]) month = i + 1;
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{static_cast<unsigned>(day)}};
  if (month == 0 || !ymd.ok() || h > 23 || m > 59 || s > 60) return std::nullopt;
  return calendar::Instant{sys_days{ymd}.time_since_epoch() + hours{h} + minutes{m} + seconds{s}};
}

bool not_modified(const daemon::http::Request& request, const std::string& etag, calendar::Instant last_modified) {
  if (request.has_header("If-None-Match")) return etag_listed(request.get_header_value("If-None-Match"), etag);
  if (request.has_header("If-Modified-Since")) {
    const auto since = parse_http_date(request.get_header_value("If-Modified-Since"));
    return since && std::chrono::floor<std::chrono::seconds>(last_modified) <= *since;
  }
  return false;
}

bool accepts_gzip(std::string_view header) {
  std::size_t start = 0;
  while (start < header.size()) {
    auto end = header.find(',', start);
    if (end == std::string_view::npos) end = header.size();
    std::string_view item = header.substr(start, end - start);
    start = end + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const auto semicolon = item.find(';');
    std::string_view coding = item.substr(0, semicolon);
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (coding != "gzip" && coding != "x-gzip" && coding != "*") continue;
    if (semicolon == std::string_view::npos) return true;
    const auto q = item.find("q=", semicolon);
    if (q == std::string_view::npos) return true;
    const auto value = item.substr(q + 2);
    return !(value.rfind("0", 0) == 0 && value.find_first_not_of("0.") == std::string_view::npos);
  }
  return false;
}

FeedService::FeedService(store::Database& db, const daemon::Config& config, const calendar::Clock& clock,
                         FeedCache& cache)
    : db_(db), config_(config), clock_(clock), cache_(cache), settings_{config.organisation_time_zone} {}

std::shared_ptr<const Feed> FeedService::cached(const std::string& key,
                                                const std::function<std::optional<Feed>(pqxx::work&)>& build) {
  const auto now = std::chrono::steady_clock::now();
  if (auto hit = cache_.find(key, now)) return hit;
  const auto generation = cache_.generation();
  store::TxOptions options;
  options.read_only = true;
  auto feed = db_.transact([&](pqxx::work& tx) { return build(tx); }, options);
  if (!feed) return nullptr;
  auto shared = std::make_shared<const Feed>(std::move(*feed));
  cache_.store(key, shared, generation, now);
  return shared;
}

void FeedService::send(const daemon::http::Request& req, daemon::http::Response& res,
                       const std::shared_ptr<const Feed>& feed, bool is_public) {
  const bool gzip = accepts_gzip(req.get_header_value("Accept-Encoding"));
  const std::string& etag = gzip ? feed->gzip_etag : feed->etag;
  res.set_header("ETag", etag);
  res.set_header("Last-Modified", format_http_date(feed->last_modified));
  res.set_header("Vary", "Accept-Encoding");
  // Calendar clients poll; let caches keep a copy for a few minutes. Token feeds are private.
  res.set_header("Cache-Control", is_public ? "public, max-age=300" : "private, max-age=300");
  if (not_modified(req, etag, feed->last_modified)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  if (gzip) res.set_header("Content-Encoding", "gzip");
  // Sent straight from the cached feed: no copy per request.
  res.set_shared_content(feed, gzip ? feed->gzip_body : feed->body, "text/calendar; charset=utf-8");
}

std::shared_ptr<const Feed> FeedService::public_community_feed(const std::string& slug) {
  return cached("c:" + slug + ":public", [&](pqxx::work& tx) -> std::optional<Feed> {
    const auto c = tx.exec_params("SELECT id FROM communities WHERE slug = $1 AND visibility = 'public'", slug);
    if (c.empty()) return std::nullopt;
    return build_community_feed(tx, c[0][0].as<std::int64_t>(), false, clock_.now(), settings_);
  });
}

std::shared_ptr<const Feed> FeedService::room_feed(std::int64_t room_id) {
  return cached("r:" + std::to_string(room_id), [&](pqxx::work& tx) -> std::optional<Feed> {
    if (tx.exec_params("SELECT 1 FROM rooms WHERE id = $1", room_id).empty()) return std::nullopt;
    return build_room_feed(tx, room_id, clock_.now(), settings_);
  });
}

void FeedService::community(const daemon::http::Request& req, daemon::http::Response& res, const std::string& slug) {
  const std::string token = req.get_param_value("token");
  if (token.empty()) {
    if (auto feed = public_community_feed(slug)) return send(req, res, feed, true);
    // Members-only or unknown: the same answer, so slugs of private communities do not leak.
    return daemon::send_problem(res, 404, "Not Found",
                                "no public feed with this name; members-only communities need ?token=<your feed token>");
  }
  const auto now_sql = store::sql_instant(clock_.now());
  store::TxOptions options;
  options.read_only = true;
  const auto community_id = db_.transact(
      [&](pqxx::work& tx) -> std::optional<std::int64_t> {
        const auto member = store::member_for_token(tx, token, store::TokenPurpose::feed, now_sql);
        if (!member) return std::nullopt;
        const auto c = tx.exec_params(
            "SELECT c.id FROM communities c JOIN memberships ms ON ms.community_id = c.id AND ms.member_id = $2 "
            "WHERE c.slug = $1",
            slug, *member);
        if (c.empty()) return std::nullopt;
        return c[0][0].as<std::int64_t>();
      },
      options);
  if (!community_id) {
    // Not a member (or a stale token): a public community still has its public feed.
    if (auto feed = public_community_feed(slug)) return send(req, res, feed, true);
    return daemon::send_problem(res, 404, "Not Found", "no such feed for this token");
  }
  const auto feed = cached("c:" + slug + ":members", [&](pqxx::work& tx) -> std::optional<Feed> {
    return build_community_feed(tx, *community_id, true, clock_.now(), settings_);
  });
  send(req, res, feed, false);
}

void FeedService::member(const daemon::http::Request& req, daemon::http::Response& res, const std::string& token) {
  const auto now_sql = store::sql_instant(clock_.now());
  store::TxOptions options;
  options.read_only = true;
  // Checked on every request, so a rotated token stops working at once.
  const auto member = db_.transact(
      [&](pqxx::work& tx) { return store::member_for_token(tx, token, store::TokenPurpose::feed, now_sql); }, options);
  if (!member) return daemon::send_problem(res, 404, "Not Found", "no feed for this token");
  const auto feed = cached("m:" + std::to_string(*member), [&](pqxx::work& tx) -> std::optional<Feed> {
    return build_member_feed(tx, *member, clock_.now(), settings_);
  });
  send(req, res, feed, false);
}

void FeedService::room(const daemon::http::Request& req, daemon::http::Response& res, std::int64_t room_id) {
  const std::string token = req.get_param_value("token");
  const auto now = clock_.now();
  const auto now_sql = store::sql_instant(now);
  const std::string today = calendar::format_date(calendar::local_date(now, config_.organisation_time_zone));
  store::TxOptions options;
  options.read_only = true;
  // Coordinators (of any community), the committee and admins, with their feed or API token.
  const bool allowed = !token.empty() && db_.transact(
                                              [&](pqxx::work& tx) {
                                                auto member = store::member_for_token(tx, token, store::TokenPurpose::feed, now_sql);
                                                if (!member) member = store::member_for_token(tx, token, store::TokenPurpose::api, now_sql);
                                                if (!member) return false;
                                                return store::holds_role(tx, *member, std::nullopt,
                                                                         {"meeting_coordinator", "event_coordinator",
                                                                          "committee", "admin"},
                                                                         today);
                                              },
                                              options);
  if (!allowed)
    return daemon::send_problem(res, 403, "Forbidden",
                                "room feeds are for coordinators and the committee: add ?token=<your feed token>");
  const auto feed = room_feed(room_id);
  if (!feed) return daemon::send_problem(res, 404, "Not Found", "room not found");
  send(req, res, feed, false);
}

namespace {

bool is_slug(std::string_view s) {  // [a-z0-9]+(-[a-z0-9]+)*
  if (s.empty() || s.size() > 200 || s.front() == '-' || s.back() == '-') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '-' ? s[i - 1] == '-' : !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

bool is_feed_token(std::string_view s) {  // [A-Za-z0-9_-]{8,128}
  if (s.size() < 8 || s.size() > 128) return false;
  for (const char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

bool is_room_id(std::string_view s) {  // [0-9]{1,18}
  if (s.empty() || s.size() > 18) return false;
  for (const char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

void no_such_feed(daemon::http::Response& res) { daemon::send_problem(res, 404, "Not Found", "no such resource"); }

}  // namespace

bool FeedService::cached_public_feed(const daemon::http::Request& req, daemon::http::Response& res) {
  const std::string& slug = req.matches[1];
  if (!req.get_param_value("token").empty() || !is_slug(slug)) return false;
  const auto feed = cache_.find("c:" + slug + ":public", std::chrono::steady_clock::now(), false);
  if (!feed) return false;
  send(req, res, feed, true);
  return true;
}

void FeedService::install(daemon::http::Router& router) {
  using daemon::http::LimitClass;
  using daemon::http::Request;
  using daemon::http::Response;
  router.add("GET", "/feeds/communities/{slug}.ics", [this](const Request& req, Response& res) {
    if (!is_slug(req.matches[1])) return no_such_feed(res);
    community(req, res, req.matches[1]);
  }, {.limit = LimitClass::feeds,
      .fast_path = [this](const Request& req, Response& res) { return cached_public_feed(req, res); }});
  router.add("GET", "/feeds/members/{token}.ics", [this](const Request& req, Response& res) {
    if (!is_feed_token(req.matches[1])) return no_such_feed(res);
    member(req, res, req.matches[1]);
  }, {.limit = LimitClass::feeds});
  router.add("GET", "/feeds/rooms/{id}.ics", [this](const Request& req, Response& res) {
    if (!is_room_id(req.matches[1])) return no_such_feed(res);
    room(req, res, std::stoll(req.matches[1]));
  }, {.limit = LimitClass::feeds});
}

}  // namespace convene::feeds
