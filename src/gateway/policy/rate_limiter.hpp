// Per-client token-bucket rate limiting in memory, and the RateLimit-* / Retry-After headers it implies.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace intercab::gateway {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Decision {
    bool allowed = false;
    int limit = 0;          // RateLimit-Limit: the burst
    int remaining = 0;      // RateLimit-Remaining: whole tokens left after this request
    int reset_s = 0;        // RateLimit-Reset: seconds until the bucket is full again, rounded up
    int retry_after_s = 0;  // Retry-After when refused: seconds until one token is available (>= 1); else 0
  };

  static constexpr std::size_t kShards = 16;

  // A client may make `burst` requests at once, then `tokens_per_second` on average. At most
  // `max_keys_per_shard` clients are remembered per shard (16 shards): past that, clients whose
  // bucket is full are forgotten first (forgetting a full bucket changes nothing), then those
  // that have used the least of theirs. Throws std::invalid_argument on a rate that is not
  // positive, a burst below 1, a bucket that takes longer than 30 years to fill, or no room.
  RateLimiter(double tokens_per_second, int burst, std::size_t max_keys_per_shard = 10'000);

  // Takes one token from `key`'s bucket if there is one. Thread-safe.
  Decision take(std::string_view key, Clock::time_point now);

  // Clients currently remembered, for metrics and tests.
  std::size_t tracked_keys() const;

 private:
  struct TransparentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  // Each client's bucket is kept as the time at which it will be full again (GCRA): a single
  // integer that needs no refill step and accumulates no rounding error.
  using FullAt = std::unordered_map<std::string, Clock::time_point, TransparentHash, std::equal_to<>>;
  struct Shard {
    mutable std::mutex mutex;
    FullAt full_at;
  };

  void make_room(FullAt& full_at, Clock::time_point now) const;

  Clock::duration interval_;  // one token's worth of time
  Clock::duration capacity_;  // burst * interval_: an empty bucket's time to fill
  int burst_;
  std::size_t max_keys_per_shard_;
  std::array<Shard, kShards> shards_;
};

// The key a client is limited by: its verified API key's id, else its user id, else its IP
// ("key:k1", "user:u1", "ip:1.2.3.4"). Pass only verified identities: an unverified one would
// let a client choose a fresh bucket for every request. Pass the key's id rather than the
// secret, so secrets do not sit in the limiter's memory.
std::string client_key(std::string_view api_key_id, std::string_view user_id, std::string_view remote_ip);

// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset, plus Retry-After when refused.
std::vector<std::pair<std::string, std::string>> rate_limit_headers(const RateLimiter::Decision& decision);

}  // namespace intercab::gateway
