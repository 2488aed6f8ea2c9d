#pragma once
// GET (and HEAD) /feeds/communities/{slug}.ics, /feeds/members/{token}.ics and
// /feeds/rooms/{id}.ics?token=: ICS served from the in-memory cache with ETag,
// Last-Modified and conditional requests. A cache hit touches no database.
#include "calendar/clock.hpp"
#include "daemon/config.hpp"
#include "daemon/feeds/feed_builder.hpp"
#include "daemon/feeds/feed_cache.hpp"
#include "store/database.hpp"

#include "daemon/http/router.hpp"

namespace convene::feeds {

std::string format_http_date(calendar::Instant t);                      // "Sat, 28 Nov 2026 15:00:00 GMT"
std::optional<calendar::Instant> parse_http_date(std::string_view text);  // IMF-fixdate only

// True when the request's If-None-Match / If-Modified-Since say the client's copy (of the
// representation whose ETag is `etag`) is current.
bool not_modified(const daemon::http::Request& request, const std::string& etag, calendar::Instant last_modified);
// True when Accept-Encoding allows gzip (a "gzip;q=0" refuses it).
bool accepts_gzip(std::string_view accept_encoding);

class FeedService {
 public:
  FeedService(store::Database& db, const daemon::Config& config, const calendar::Clock& clock, FeedCache& cache);
  void install(daemon::http::Router& router);

  // The public feed of a community (also for the feed files); null when the community is not
  // public. Archived public communities keep their feed, so subscribers keep the history.
  std::shared_ptr<const Feed> public_community_feed(const std::string& slug);
  std::shared_ptr<const Feed> room_feed(std::int64_t room_id);

 private:
  void community(const daemon::http::Request& req, daemon::http::Response& res, const std::string& slug);
  void member(const daemon::http::Request& req, daemon::http::Response& res, const std::string& token);
  void room(const daemon::http::Request& req, daemon::http::Response& res, std::int64_t room_id);
  // On the event loop: a public community feed already in the cache; false otherwise.
  bool cached_public_feed(const daemon::http::Request& req, daemon::http::Response& res);
  void send(const daemon::http::Request& req, daemon::http::Response& res, const std::shared_ptr<const Feed>& feed,
            bool is_public);
  // The cached feed, or builds it in a read-only transaction and caches it.
  std::shared_ptr<const Feed> cached(const std::string& key, const std::function<std::optional<Feed>(pqxx::work&)>& build);

  store::Database& db_;
  const daemon::Config& config_;
  const calendar::Clock& clock_;
  FeedCache& cache_;
  FeedSettings settings_;
};

}  // namespace convene::feeds
