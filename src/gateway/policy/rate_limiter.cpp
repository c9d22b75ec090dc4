// Token buckets kept as "full again at" times (GCRA) in mutex-guarded shards with bounded size.
#include "gateway/policy/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace intercab::gateway {
namespace {

using Clock = RateLimiter::Clock;

// Whole seconds covering `duration`, so a client that waits that long is never refused again.
int ceil_seconds(Clock::duration duration) {
  if (duration <= Clock::duration::zero()) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(duration).count());
}

}  // namespace

RateLimiter::RateLimiter(double tokens_per_second, int burst, std::size_t max_keys_per_shard)
    : burst_(burst), max_keys_per_shard_(max_keys_per_shard) {
  if (!std::isfinite(tokens_per_second) || tokens_per_second <= 0) {
    throw std::invalid_argument("rate limit: tokens_per_second must be a positive number");
  }
  if (burst < 1) throw std::invalid_argument("rate limit: burst must be at least 1");
  // Bounded so that burst * interval fits the clock's 64-bit nanoseconds with room to spare.
  constexpr double kMaxFillSeconds = 30.0 * 365 * 24 * 3600;
  if (burst / tokens_per_second > kMaxFillSeconds) {
    throw std::invalid_argument("rate limit: burst / tokens_per_second must not exceed 30 years");
  }
  if (max_keys_per_shard < 1) throw std::invalid_argument("rate limit: max_keys_per_shard must be at least 1");
  interval_ =
      std::max(Clock::duration(1),
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / tokens_per_second)));
  capacity_ = interval_ * burst;
}

RateLimiter::Decision RateLimiter::take(std::string_view key, Clock::time_point now) {
  auto& shard = shards_[TransparentHash{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.full_at.find(key);
  if (it == shard.full_at.end()) {
    if (shard.full_at.size() >= max_keys_per_shard_) make_room(shard.full_at, now);
    it = shard.full_at.emplace(std::string(key), now).first;
  }
  // A bucket full in the past is simply full now.
  const auto full_at = std::max(it->second, now);
  const auto after_take = full_at + interval_;

  Decision decision;
  decision.limit = burst_;
  if (after_take - now <= capacity_) {
    it->second = after_take;
    decision.allowed = true;
    decision.remaining = static_cast<int>((capacity_ - (after_take - now)) / interval_);
    decision.reset_s = ceil_seconds(after_take - now);
  } else {
    // Zero in practice; clamped because a caller may pass a `now` earlier than a previous one.
    decision.remaining = std::max(0, static_cast<int>((capacity_ - (full_at - now)) / interval_));
    decision.reset_s = ceil_seconds(full_at - now);
    // One token is back when the bucket is no more than (burst - 1) tokens short of full.
    decision.retry_after_s = std::max(1, ceil_seconds(after_take - capacity_ - now));
  }
  return decision;
}

void RateLimiter::make_room(FullAt& full_at, Clock::time_point now) const {
  std::erase_if(full_at, [&](const auto& entry) { return entry.second <= now; });
  // Evict down to three quarters rather than by one, so a flood of new clients costs one sweep
  // per quarter of the shard instead of one per request.
  const auto low_water = max_keys_per_shard_ - max_keys_per_shard_ / 4 - 1;
  if (full_at.size() <= low_water) return;
  std::vector<FullAt::iterator> by_fullness;
  by_fullness.reserve(full_at.size());
  for (auto it = full_at.begin(); it != full_at.end(); ++it) by_fullness.push_back(it);
  const auto evict = by_fullness.size() - low_water;
  std::nth_element(by_fullness.begin(), by_fullness.begin() + static_cast<std::ptrdiff_t>(evict), by_fullness.end(),
                   [](const auto& a, const auto& b) { return a->second < b->second; });
  for (std::size_t i = 0; i < evict; ++i) full_at.erase(by_fullness[i]);
}

std::size_t RateLimiter::tracked_keys() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.full_at.size();
  }
  return total;
}

std::string client_key(std::string_view api_key_id, std::string_view user_id, std::string_view remote_ip) {
  if (!api_key_id.empty()) return "key:" + std::string(api_key_id);
  if (!user_id.empty()) return "user:" + std::string(user_id);
  return "ip:" + std::string(remote_ip);
}

std::vector<std::pair<std::string, std::string>> rate_limit_headers(const RateLimiter::Decision& decision) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"RateLimit-Limit", std::to_string(decision.limit)},
      {"RateLimit-Remaining", std::to_string(decision.remaining)},
      {"RateLimit-Reset", std::to_string(decision.reset_s)},
  };
  if (!decision.allowed) headers.emplace_back("Retry-After", std::to_string(decision.retry_after_s));
  return headers;
}

}  // namespace intercab::gateway
