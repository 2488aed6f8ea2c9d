#include "daemon/http/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace convene::daemon::http {
namespace {

// Refill arithmetic in doubles: a token short by rounding error still counts as whole.
constexpr double kEpsilon = 1e-9;

}  // namespace

RateLimiter::RateLimiter(BucketSpec spec, std::size_t max_keys) : spec_(spec), max_keys_(std::max<std::size_t>(max_keys, 1)) {
  // An enabled bucket that can never hold a whole token would refuse everything.
  if (spec_.enabled()) spec_.burst = std::max(spec_.burst, 1.0);
  index_.reserve(std::min<std::size_t>(max_keys_, 1024));
}

double RateLimiter::tokens_at(const Bucket& bucket, std::chrono::steady_clock::time_point now) const {
  if (now <= bucket.updated) return bucket.tokens;  // a clock that went back refills nothing
  const std::chrono::duration<double> elapsed = now - bucket.updated;
  return std::min(spec_.burst, bucket.tokens + elapsed.count() * spec_.per_second);
}

std::optional<std::chrono::milliseconds> RateLimiter::wait_for(double tokens) const {
  if (tokens >= 1 - kEpsilon) return std::nullopt;
  const double ms = std::ceil((1 - tokens) / spec_.per_second * 1000);
  return std::chrono::milliseconds(std::max<long long>(1, static_cast<long long>(ms)));
}

void RateLimiter::make_room(std::chrono::steady_clock::time_point now) {
  // Full buckets at the cold end cost nothing to forget; each is removed once, so this is
  // O(1) amortised. If none is full, the least recently used bucket goes.
  while (!lru_.empty() && tokens_at(lru_.back(), now) >= spec_.burst - kEpsilon) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  if (index_.size() >= max_keys_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

std::optional<std::chrono::milliseconds> RateLimiter::take(std::string_view key, std::chrono::steady_clock::time_point now) {
  if (!spec_.enabled()) return std::nullopt;
  if (const auto it = index_.find(key); it != index_.end()) {
    Bucket& bucket = *it->second;
    bucket.tokens = tokens_at(bucket, now);
    bucket.updated = std::max(bucket.updated, now);
    lru_.splice(lru_.begin(), lru_, it->second);
    if (auto wait = wait_for(bucket.tokens)) return wait;
    bucket.tokens = std::max(0.0, bucket.tokens - 1);
    return std::nullopt;
  }
  if (index_.size() >= max_keys_) make_room(now);
  lru_.push_front(Bucket{std::string(key), spec_.burst - 1, now});
  index_.emplace(lru_.front().key, lru_.begin());
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> RateLimiter::peek(std::string_view key,
                                                           std::chrono::steady_clock::time_point now) const {
  if (!spec_.enabled()) return std::nullopt;
  const auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;  // an absent bucket is full
  return wait_for(tokens_at(*it->second, now));
}

std::string retry_after_seconds(std::chrono::milliseconds wait) {
  const long long seconds = (std::max<long long>(wait.count(), 0) + 999) / 1000;
  return std::to_string(std::max<long long>(seconds, 1));
}

}  // namespace convene::daemon::http
