#pragma once
// Rendered ICS feeds kept in memory. Entries are dropped when PostgreSQL NOTIFY says the data
// behind them changed (on every instance), and expire after a while anyway, since what a feed
// holds also depends on the time (cancelled events leave after 30 days).
#include "calendar/clock.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace convene::feeds {

struct Feed {
  std::string body;                   // the VCALENDAR bytes
  std::string etag;                   // strong, quoted: "\"3f2a...\""
  std::string gzip_body;              // the same bytes gzip-compressed once, at build time
  std::string gzip_etag;              // its own strong ETag (a different representation)
  calendar::Instant last_modified;    // from the data, never "now"
  std::set<std::int64_t> communities; // whose changes make this feed stale
  std::int64_t member_id = 0;         // member feeds: changes to the member (reminders)
  bool room_feed = false;
};

// Builds the ETag of a body.
std::string strong_etag(std::string_view body);
// Fills body, etag, gzip_body and gzip_etag from the rendered text.
void set_body(Feed& feed, std::string body);

class FeedCache {
 public:
  explicit FeedCache(std::chrono::seconds max_age = std::chrono::minutes(5)) : max_age_(max_age) {}

  // `count_miss` false: a look that falls back to find() again (the event loop's try) is not
  // counted as a miss twice.
  std::shared_ptr<const Feed> find(const std::string& key, std::chrono::steady_clock::time_point now,
                                   bool count_miss = true);
  // Stores a feed built while the cache was at `generation` (see generation()); a feed built
  // before an invalidation that happened during the build is not stored.
  void store(const std::string& key, std::shared_ptr<const Feed> feed, std::uint64_t generation,
             std::chrono::steady_clock::time_point now);
  std::uint64_t generation() const { return generation_.load(); }

  // A change notification: "c:<community id>", "m:<member id>", "r" (rooms) or "*" (all).
  void invalidate(std::string_view what);

  std::uint64_t hits() const { return hits_.load(); }
  std::uint64_t misses() const { return misses_.load(); }
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const Feed> feed;
    std::chrono::steady_clock::time_point stored;
  };
  const std::chrono::seconds max_age_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> hits_{0}, misses_{0};
};

}  // namespace convene::feeds
