// Token buckets kept as "full again at" times (GCRA): one integer per client in the cache, updated with a
// read and a compare-and-set, so concurrent requests through any number of gateway instances take each
// token once.
#include "gateway/policy/rate_limiter.hpp"

#include <algorithm>
#include <array>
#include <boost/container/small_vector.hpp>
#include <charconv>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "platform/log/log.hpp"

namespace intercab::gateway {
namespace {

using Clock = RateLimiter::Clock;

// Whole seconds covering `duration`, so a client that waits that long is never refused again.
int ceil_seconds(Clock::duration duration) {
  if (duration <= Clock::duration::zero()) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(duration).count());
}

// The stored form: nanoseconds since the Unix epoch in decimal, the same for every build and host;
// written on the stack (every request writes one).
class EncodedTime {
 public:
  explicit EncodedTime(Clock::time_point time) {
    const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
    const auto* end = std::to_chars(digits_.data(), digits_.data() + digits_.size(), nanoseconds).ptr;
    size_ = static_cast<std::size_t>(end - digits_.data());
  }
  std::string_view text() const { return {digits_.data(), size_}; }

 private:
  std::array<char, 20> digits_{};  // an int64 in decimal: a sign and 19 digits
  std::size_t size_ = 0;
};

std::optional<Clock::time_point> decode(const std::string& stored) {
  std::int64_t nanoseconds = 0;
  const auto [end, error] = std::from_chars(stored.data(), stored.data() + stored.size(), nanoseconds);
  if (error != std::errc() || end != stored.data() + stored.size()) return std::nullopt;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanoseconds)));
}

// The entry lives exactly as long as the bucket is not full, so an idle client's bucket vanishes by itself.
std::chrono::milliseconds ttl_for(Clock::time_point full_at, Clock::time_point now) {
  return std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(full_at - now));
}

}  // namespace

RateLimiter::RateLimiter(cache::Cache& cache, double tokens_per_second, int burst) : cache_(cache), burst_(burst) {
  if (!std::isfinite(tokens_per_second) || tokens_per_second <= 0) {
    throw std::invalid_argument("rate limit: tokens_per_second must be a positive number");
  }
  if (burst < 1) throw std::invalid_argument("rate limit: burst must be at least 1");
  // Bounded so that burst * interval fits the clock's 64-bit nanoseconds with room to spare.
  constexpr double kMaxFillSeconds = 30.0 * 365 * 24 * 3600;
  if (burst / tokens_per_second > kMaxFillSeconds) {
    throw std::invalid_argument("rate limit: burst / tokens_per_second must not exceed 30 years");
  }
  interval_ =
      std::max(Clock::duration(1),
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / tokens_per_second)));
  capacity_ = interval_ * burst;
}

RateLimiter::Decision RateLimiter::take(std::string_view key, Clock::time_point now) {
  // kKeyPrefix + key, on the stack for the usual key.
  boost::container::small_vector<char, 96> cache_key_bytes(kKeyPrefix.begin(), kKeyPrefix.end());
  cache_key_bytes.insert(cache_key_bytes.end(), key.begin(), key.end());
  const std::string_view cache_key(cache_key_bytes.data(), cache_key_bytes.size());
  try {
    auto full_at = now;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      const auto stored = cache_.get(cache_key);
      // A missing bucket, one full in the past or an unreadable value is full now.
      const auto decoded = stored ? decode(*stored) : std::nullopt;
      full_at = std::clamp(decoded.value_or(now), now, now + capacity_);
      const auto after_take = full_at + interval_;
      if (after_take - now > capacity_) {
        // A bucket further than a whole bucket ahead was written by an instance whose clock runs ahead
        // (or by hand). Storing it clamped bounds what the client loses to one bucket's time.
        if (decoded && *decoded > full_at) {
          cache_.compare_and_set(cache_key, stored, EncodedTime(full_at).text(), ttl_for(full_at, now));
        }
        return refused(full_at, now);
      }
      if (cache_.compare_and_set(cache_key, stored, EncodedTime(after_take).text(), ttl_for(after_take, now))) {
        return Decision{.allowed = true,
                        .limit = burst_,
                        .remaining = static_cast<int>((capacity_ - (after_take - now)) / interval_),
                        .reset_s = ceil_seconds(after_take - now),
                        .retry_after_s = 0};
      }
    }
    // Every round lost to other requests of the same client, which is sending in parallel bursts: refuse
    // rather than spin, and let it retry in a second.
    auto decision = refused(full_at, now);
    decision.remaining = 0;
    return decision;
  } catch (const cache::CacheUnavailable& error) {
    return let_through_unchecked(error.what(), now);
  }
}

RateLimiter::Decision RateLimiter::refused(Clock::time_point full_at, Clock::time_point now) const {
  const auto after_take = full_at + interval_;
  return Decision{.allowed = false,
                  .limit = burst_,
                  .remaining = std::max(0, static_cast<int>((capacity_ - (full_at - now)) / interval_)),
                  .reset_s = ceil_seconds(full_at - now),
                  // One token is back when the bucket is no more than (burst - 1) tokens short of full.
                  .retry_after_s = std::max(1, ceil_seconds(after_take - capacity_ - now))};
}

// Fail open: with the cache (Redis) down, the limiter lets requests through unchecked instead of refusing
// them. Refusing would turn a cache outage into an outage of the whole API, since every request passes
// here; letting through only loses flood protection for the length of the outage, which the warning and
// the gateway's failed-open metric make visible. The headers describe a full bucket, as for a new client.
RateLimiter::Decision RateLimiter::let_through_unchecked(const char* reason, Clock::time_point now) {
  const auto now_count = now.time_since_epoch().count();
  auto last = last_warning_.load(std::memory_order_relaxed);
  const auto interval = std::chrono::duration_cast<Clock::duration>(kWarningInterval).count();
  if ((now_count - last >= interval || now_count < last) &&
      last_warning_.compare_exchange_strong(last, now_count, std::memory_order_relaxed)) {
    log::warn("rate limits are not enforced: their cache is unavailable, so requests are let through",
              {{"cache", cache_.adapter_name()}, {"reason", reason}});
  }
  return Decision{.allowed = true,
                  .limit = burst_,
                  .remaining = burst_ - 1,
                  .reset_s = ceil_seconds(interval_),
                  .retry_after_s = 0,
                  .failed_open = true};
}

std::string client_key(std::string_view api_key_id, std::string_view user_id, std::string_view remote_ip) {
  if (!api_key_id.empty()) return "key:" + std::string(api_key_id);
  if (!user_id.empty()) return "user:" + std::string(user_id);
  return "ip:" + std::string(remote_ip);
}

void add_rate_limit_headers(const RateLimiter::Decision& decision, http::FieldLines& out) {
  const auto add = [&out](std::string_view name, int value) {
    std::array<char, 12> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
    out.add(name, std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
  };
  add("RateLimit-Limit", decision.limit);
  add("RateLimit-Remaining", decision.remaining);
  add("RateLimit-Reset", decision.reset_s);
  if (!decision.allowed) add("Retry-After", decision.retry_after_s);
}

}  // namespace intercab::gateway
