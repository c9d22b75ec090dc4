// Per-client token-bucket rate limiting over the cache port, so that gateway instances sharing a Redis
// share their clients' limits; and the RateLimit-* / Retry-After headers a decision implies.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/cache/cache.hpp"
#include "platform/http/message.hpp"

namespace intercab::gateway {

class RateLimiter {
 public:
  // Wall time, not steady time: buckets in a shared cache are read by other processes and hosts, whose
  // steady clocks have other origins. Clock skew between instances shifts a bucket by the skew.
  using Clock = std::chrono::system_clock;

  struct Decision {
    bool allowed = false;
    int limit = 0;             // RateLimit-Limit: the burst
    int remaining = 0;         // RateLimit-Remaining: whole tokens left after this request
    int reset_s = 0;           // RateLimit-Reset: seconds until the bucket is full again, rounded up
    int retry_after_s = 0;     // Retry-After when refused: seconds until one token is available (>= 1); else 0
    bool failed_open = false;  // allowed without a check because the cache was unavailable
  };

  // Cache keys are this prefix followed by the client key.
  static constexpr std::string_view kKeyPrefix = "ratelimit:";
  // Read-then-compare-and-set rounds per take() before giving up on a bucket other requests keep changing.
  static constexpr int kMaxAttempts = 8;
  // At most one warning per this interval while the cache is unavailable.
  static constexpr std::chrono::seconds kWarningInterval{5};

  // A client may make `burst` requests at once, then `tokens_per_second` on average. Buckets are kept in
  // `cache`, which must outlive the limiter; the cache bounds their number and expires idle ones. Throws
  // std::invalid_argument on a rate that is not positive, a burst below 1, or a bucket that takes longer
  // than 30 years to fill.
  RateLimiter(cache::Cache& cache, double tokens_per_second, int burst);

  // Takes one token from `key`'s bucket if there is one. Thread-safe; blocks for the cache's round trips
  // (none for the memory adapter). Never throws for an unavailable cache: see failed_open.
  Decision take(std::string_view key, Clock::time_point now);

 private:
  Decision refused(Clock::time_point full_at, Clock::time_point now) const;
  Decision let_through_unchecked(const char* reason, Clock::time_point now);

  cache::Cache& cache_;
  Clock::duration interval_;  // one token's worth of time
  Clock::duration capacity_;  // burst * interval_: an empty bucket's time to fill
  int burst_;
  std::atomic<Clock::rep> last_warning_{0};  // `now` of the last warning about the cache, since the epoch
};

// The key a client is limited by: its verified API key's id, else its user id, else its IP
// ("key:k1", "user:u1", "ip:1.2.3.4"). Pass only verified identities: an unverified one would
// let a client choose a fresh bucket for every request. Pass the key's id rather than the
// secret, so secrets do not sit in the cache.
std::string client_key(std::string_view api_key_id, std::string_view user_id, std::string_view remote_ip);

// Adds RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset, plus Retry-After when refused, to `out`.
void add_rate_limit_headers(const RateLimiter::Decision& decision, http::FieldLines& out);

}  // namespace intercab::gateway
