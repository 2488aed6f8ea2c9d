#include "daemon/feeds/feed_cache.hpp"

#include "store/migrations.hpp"

#include <zlib.h>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace convene::feeds {

std::string strong_etag(std::string_view body) {
  std::string etag = "\"";
  etag.append(store::sha256_hex(body), 0, 32);
  etag += '"';
  return etag;
}

namespace {

std::string gzip(std::string_view data) {
  z_stream stream{};
  // 15 + 16: a gzip wrapper, as Content-Encoding: gzip wants.
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib deflateInit2 failed");
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int result = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (result != Z_STREAM_END) throw std::runtime_error("zlib deflate failed");
  return out;
}

}  // namespace

void set_body(Feed& feed, std::string body) {
  feed.body = std::move(body);
  feed.etag = strong_etag(feed.body);
  // Compressed once here instead of on every request (calendar clients ask for gzip).
  feed.gzip_body = gzip(feed.body);
  feed.gzip_etag = feed.etag.substr(0, feed.etag.size() - 1) + "-gzip\"";
}

std::shared_ptr<const Feed> FeedCache::find(const std::string& key, std::chrono::steady_clock::time_point now,
                                             bool count_miss) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || now - it->second.stored > max_age_) {
    if (count_miss) ++misses_;
    return nullptr;
  }
  ++hits_;
  return it->second.feed;
}

void FeedCache::store(const std::string& key, std::shared_ptr<const Feed> feed, std::uint64_t generation,
                      std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (generation != generation_.load()) return;  // something changed while it was built
  entries_[key] = Entry{std::move(feed), now};
}

void FeedCache::invalidate(std::string_view what) {
  // Dropped feeds are freed after the lock is released: the event loop's cached-feed answers
  // take this lock and must not wait for large strings to be freed.
  std::vector<std::shared_ptr<const Feed>> dropped;
  std::lock_guard lock(mutex_);
  ++generation_;
  std::int64_t id = 0;
  const bool community = what.rfind("c:", 0) == 0, member = what.rfind("m:", 0) == 0;
  if (community || member) {
    const auto digits = what.substr(2);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), id).ec != std::errc()) {
      for (auto& [key, entry] : entries_) dropped.push_back(std::move(entry.feed));
      entries_.clear();
      return;
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Feed& f = *it->second.feed;
    // Room feeds show every community's bookings: any meeting change may touch them.
    const bool stale = what == "*" || (what == "r" && f.room_feed) ||
                       (community && (f.communities.count(id) != 0 || f.room_feed)) || (member && f.member_id == id);
    if (stale) dropped.push_back(std::move(it->second.feed));
    it = stale ? entries_.erase(it) : std::next(it);
  }
}

std::size_t FeedCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace convene::feeds
