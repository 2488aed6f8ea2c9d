#pragma once
// Token buckets by key (a client address, a token hash). Pure: the caller passes "now".
#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace convene::daemon::http {

// `per_second` tokens are added each second, up to `burst`; a request takes one.
struct BucketSpec {
  double per_second = 0;
  double burst = 0;
  bool enabled() const { return per_second > 0; }
};

// Used from one thread (the event loop): no locking.
// Bounded memory: at most max_keys buckets; when full, buckets that have refilled completely
// are dropped (they are equivalent to absent), then the least recently used ones.
class RateLimiter {
 public:
  explicit RateLimiter(BucketSpec spec, std::size_t max_keys = 100000);

  // Takes one token for key at now: nullopt when allowed; otherwise the wait until a token is
  // available (at least 1ms). A refusal takes nothing.
  std::optional<std::chrono::milliseconds> take(std::string_view key, std::chrono::steady_clock::time_point now);
  // Same answer as take() without taking (used to refuse clients whose auth failures are exhausted).
  std::optional<std::chrono::milliseconds> peek(std::string_view key, std::chrono::steady_clock::time_point now) const;
  std::size_t size() const { return index_.size(); }

 private:
  struct Bucket {
    std::string key;
    double tokens = 0;
    std::chrono::steady_clock::time_point updated;
  };
  using Lru = std::list<Bucket>;  // most recently used first

  double tokens_at(const Bucket& bucket, std::chrono::steady_clock::time_point now) const;
  std::optional<std::chrono::milliseconds> wait_for(double tokens) const;
  void make_room(std::chrono::steady_clock::time_point now);

  BucketSpec spec_;
  std::size_t max_keys_;
  Lru lru_;
  // Keys view the strings held by lru_'s nodes, which never move.
  std::unordered_map<std::string_view, Lru::iterator> index_;
};

// Retry-After header value (whole seconds, rounded up, at least 1) for a wait.
std::string retry_after_seconds(std::chrono::milliseconds wait);

}  // namespace convene::daemon::http
