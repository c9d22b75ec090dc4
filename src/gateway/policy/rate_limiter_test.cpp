// Tests of the rate limiter: burst, refill, header values, concurrency, its use of the cache (one
// value per client, TTL = time to refill) and failing open when the cache is unavailable.
#include "gateway/policy/rate_limiter.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "platform/cache/memory_cache.hpp"
#include "platform/log/log.hpp"

namespace intercab::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;
using ::testing::HasSubstr;

const Clock::time_point t0 = Clock::time_point{} + 1000s;

// A cache whose entries never expire by themselves, so that tests can move `now` freely without real
// time running out a TTL underneath them. It records the TTLs it is given, and can play an unavailable
// cache or one that other writers keep changing.
class FakeCache final : public cache::Cache {
 public:
  std::optional<std::string> get(std::string_view key) override {
    std::lock_guard lock(mutex_);
    throw_if_down();
    auto it = values_.find(std::string(key));
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  void set(std::string_view key, std::string_view value, std::optional<std::chrono::milliseconds> ttl) override {
    std::lock_guard lock(mutex_);
    throw_if_down();
    values_[std::string(key)] = std::string(value);
    ttls_[std::string(key)] = ttl;
  }
  bool erase(std::string_view key) override {
    std::lock_guard lock(mutex_);
    throw_if_down();
    return values_.erase(std::string(key)) > 0;
  }
  std::int64_t increment(std::string_view, std::int64_t, std::optional<std::chrono::milliseconds>) override {
    throw std::logic_error("the rate limiter does not increment");
  }
  bool compare_and_set(std::string_view key, const std::optional<std::string>& expected, std::string_view desired,
                       std::optional<std::chrono::milliseconds> ttl) override {
    std::lock_guard lock(mutex_);
    throw_if_down();
    ++compare_and_sets;
    if (always_lose_races) return false;
    auto it = values_.find(std::string(key));
    const auto current = it == values_.end() ? std::nullopt : std::optional<std::string>(it->second);
    if (current != expected) return false;
    values_[std::string(key)] = std::string(desired);
    ttls_[std::string(key)] = ttl;
    return true;
  }
  std::optional<std::string> unavailable_reason() override {
    if (down) return "down for the test";
    return std::nullopt;
  }
  std::string_view adapter_name() const override { return "fake"; }

  std::optional<std::chrono::milliseconds> ttl_of(const std::string& key) {
    std::lock_guard lock(mutex_);
    return ttls_.at(key);
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return values_.size();
  }

  std::atomic<bool> down{false};
  std::atomic<bool> always_lose_races{false};
  std::atomic<int> compare_and_sets{0};

 private:
  void throw_if_down() const {
    if (down) throw cache::CacheUnavailable("Redis at 127.0.0.1:1/0: connection refused");
  }

  std::mutex mutex_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::optional<std::chrono::milliseconds>> ttls_;
};

TEST(RateLimiter, AllowsTheBurstThenRefuses) {
  FakeCache cache;
  RateLimiter limiter(cache, 1.0, 3);
  for (int expected_remaining : {2, 1, 0}) {
    const auto decision = limiter.take("ip:1.2.3.4", t0);
    EXPECT_TRUE(decision.allowed);
    EXPECT_EQ(decision.limit, 3);
    EXPECT_EQ(decision.remaining, expected_remaining);
    EXPECT_EQ(decision.retry_after_s, 0);
    EXPECT_FALSE(decision.failed_open);
  }
  const auto refused = limiter.take("ip:1.2.3.4", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 3);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.reset_s, 3);
  EXPECT_EQ(refused.retry_after_s, 1);
}

TEST(RateLimiter, ResetCountsSecondsUntilFullRoundedUp) {
  FakeCache cache;
  RateLimiter limiter(cache, 2.0, 5);                 // half a second per token
  EXPECT_EQ(limiter.take("k", t0).reset_s, 1);        // 0.5 s short
  EXPECT_EQ(limiter.take("k", t0).reset_s, 1);        // 1.0 s
  EXPECT_EQ(limiter.take("k", t0).reset_s, 2);        // 1.5 s
  const auto later = limiter.take("k", t0 + 1200ms);  // 1.5 - 1.2 + 0.5 = 0.8 s short
  EXPECT_TRUE(later.allowed);
  EXPECT_EQ(later.reset_s, 1);
  EXPECT_EQ(later.remaining, 3);
}

TEST(RateLimiter, RefillsOverTimeUpToTheBurstOnly) {
  FakeCache cache;
  RateLimiter limiter(cache, 1.0, 2);
  EXPECT_TRUE(limiter.take("k", t0).allowed);
  EXPECT_TRUE(limiter.take("k", t0).allowed);
  EXPECT_FALSE(limiter.take("k", t0 + 999ms).allowed);
  EXPECT_TRUE(limiter.take("k", t0 + 1s).allowed);
  EXPECT_FALSE(limiter.take("k", t0 + 1s).allowed);
  // An hour idle refills two tokens, not 3600.
  EXPECT_TRUE(limiter.take("k", t0 + 1h).allowed);
  EXPECT_TRUE(limiter.take("k", t0 + 1h).allowed);
  EXPECT_FALSE(limiter.take("k", t0 + 1h).allowed);
}

TEST(RateLimiter, RetryAfterIsTheWaitForOneTokenRoundedUpAndAtLeastOne) {
  FakeCache cache;
  RateLimiter slow(cache, 0.1, 1);  // one token per 10 s
  EXPECT_TRUE(slow.take("slow", t0).allowed);
  EXPECT_EQ(slow.take("slow", t0).retry_after_s, 10);
  EXPECT_EQ(slow.take("slow", t0 + 2500ms).retry_after_s, 8);  // 7.5 s -> 8
  const auto almost = slow.take("slow", t0 + 9999ms);
  EXPECT_FALSE(almost.allowed);
  EXPECT_EQ(almost.retry_after_s, 1);
  EXPECT_EQ(almost.reset_s, 1);
  EXPECT_TRUE(slow.take("slow", t0 + 10s).allowed);

  RateLimiter fast(cache, 100.0, 1);  // 10 ms per token: still "retry after 1 s", never 0
  EXPECT_TRUE(fast.take("fast", t0).allowed);
  const auto refused = fast.take("fast", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 1);
}

TEST(RateLimiter, WaitingRetryAfterAlwaysSucceeds) {
  FakeCache cache;
  RateLimiter limiter(cache, 0.3, 4);
  auto now = t0;
  for (int i = 0; i < 50; ++i) {
    auto decision = limiter.take("k", now);
    if (!decision.allowed) {
      now += std::chrono::seconds(decision.retry_after_s);
      decision = limiter.take("k", now);
      EXPECT_TRUE(decision.allowed) << "after waiting Retry-After at step " << i;
    }
    now += 700ms;
  }
}

TEST(RateLimiter, KeysHaveSeparateBuckets) {
  FakeCache cache;
  RateLimiter limiter(cache, 1.0, 1);
  EXPECT_TRUE(limiter.take("ip:1.1.1.1", t0).allowed);
  EXPECT_FALSE(limiter.take("ip:1.1.1.1", t0).allowed);
  EXPECT_TRUE(limiter.take("ip:2.2.2.2", t0).allowed);
  EXPECT_TRUE(limiter.take("user:u1", t0).allowed);
  EXPECT_EQ(cache.size(), 3U);
}

TEST(RateLimiter, KeepsOneValuePerClientThatLivesUntilTheBucketIsFull) {
  FakeCache cache;
  RateLimiter limiter(cache, 2.0, 10);  // 500 ms per token
  limiter.take("ip:1.2.3.4", t0);
  const auto stored = cache.get("ratelimit:ip:1.2.3.4");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(*stored, std::to_string(std::chrono::nanoseconds(t0.time_since_epoch() + 500ms).count()))
      << "the time the bucket is full again, in nanoseconds since the epoch";
  EXPECT_EQ(cache.ttl_of("ratelimit:ip:1.2.3.4"), 500ms);
  limiter.take("ip:1.2.3.4", t0 + 100ms);  // full at t0 + 1 s, 900 ms from now
  EXPECT_EQ(cache.ttl_of("ratelimit:ip:1.2.3.4"), 900ms);
  RateLimiter fast(cache, 1e9, 1);  // a nanosecond per token: the TTL is still at least 1 ms
  fast.take("fast", t0);
  EXPECT_EQ(cache.ttl_of("ratelimit:fast"), 1ms);
}

TEST(RateLimiter, TreatsAnUnreadableOrFarFutureBucketAsBounded) {
  FakeCache cache;
  RateLimiter limiter(cache, 1.0, 2);
  cache.set("ratelimit:garbage", "not a time", std::nullopt);
  EXPECT_EQ(limiter.take("garbage", t0).remaining, 1) << "an unreadable bucket counts as full";
  // A bucket written by an instance whose clock runs a day ahead costs at most one bucket.
  cache.set("ratelimit:ahead", std::to_string(std::chrono::nanoseconds((t0 + 24h).time_since_epoch()).count()),
            std::nullopt);
  const auto refused = limiter.take("ahead", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.reset_s, 2);
  EXPECT_TRUE(limiter.take("ahead", t0 + 1s).allowed);
}

TEST(RateLimiter, LimitersSharingACacheShareTheLimit) {
  cache::MemoryCache cache;
  RateLimiter first(cache, 1.0, 4);
  RateLimiter second(cache, 1.0, 4);
  EXPECT_EQ(first.take("ip:1.2.3.4", t0).remaining, 3);
  EXPECT_EQ(second.take("ip:1.2.3.4", t0).remaining, 2);
  EXPECT_EQ(first.take("ip:1.2.3.4", t0).remaining, 1);
  EXPECT_EQ(second.take("ip:1.2.3.4", t0).remaining, 0);
  EXPECT_FALSE(first.take("ip:1.2.3.4", t0).allowed);
  EXPECT_FALSE(second.take("ip:1.2.3.4", t0).allowed);
}

TEST(RateLimiter, IdleBucketsVanishFromAMemoryCache) {
  cache::MemoryCache cache;
  RateLimiter limiter(cache, 20.0, 2);  // full again 100 ms after the last take
  EXPECT_TRUE(limiter.take("ip:9.9.9.9", Clock::now()).allowed);
  EXPECT_TRUE(cache.get("ratelimit:ip:9.9.9.9").has_value());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (cache.get("ratelimit:ip:9.9.9.9") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(cache.get("ratelimit:ip:9.9.9.9"), std::nullopt);
}

TEST(RateLimiter, ConcurrentTakesAllowExactlyTheBurst) {
  constexpr int kThreads = 8;
  constexpr int kTakesPerThread = 500;
  cache::MemoryCache cache;
  RateLimiter limiter(cache, 1.0, 1000);
  std::atomic<int> allowed_shared{0};
  std::atomic<int> allowed_own{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const auto own_key = "user:u" + std::to_string(t);
      for (int i = 0; i < kTakesPerThread; ++i) {
        if (limiter.take("key:shared", t0).allowed) ++allowed_shared;
        if (limiter.take(own_key, t0).allowed) ++allowed_own;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // 4000 asked for one bucket of 1000. A take that loses kMaxAttempts races in a row is refused, so this
  // is exact only because such streaks do not happen between 8 threads on one process's memory cache.
  EXPECT_EQ(allowed_shared.load(), 1000);
  EXPECT_EQ(allowed_own.load(), kThreads * kTakesPerThread);  // 500 each from buckets of 1000
}

TEST(RateLimiter, ForgettingIdleBucketsChangesNoDecision) {
  cache::MemoryCache cache(1);  // one entry per shard: buckets are forgotten all the time
  RateLimiter limiter(cache, 1.0, 2);
  for (int i = 0; i < 100; ++i) {
    const auto now = t0 + std::chrono::seconds(3 * i);  // every bucket is full again by the next round
    const auto key = "ip:" + std::to_string(i % 7);
    EXPECT_EQ(limiter.take(key, now).remaining, 1);
    EXPECT_EQ(limiter.take(key, now).remaining, 0);
    EXPECT_FALSE(limiter.take(key, now).allowed);
  }
  EXPECT_LE(cache.size(), cache::MemoryCache::kShards);
}

TEST(RateLimiter, RefusesAfterBoundedAttemptsOnABucketOthersKeepChanging) {
  FakeCache cache;
  RateLimiter limiter(cache, 1.0, 10);
  cache.always_lose_races = true;
  const auto decision = limiter.take("k", t0);
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.remaining, 0);
  EXPECT_EQ(decision.retry_after_s, 1);
  EXPECT_FALSE(decision.failed_open);
  EXPECT_EQ(cache.compare_and_sets.load(), RateLimiter::kMaxAttempts);
}

TEST(RateLimiter, FailsOpenWhenTheCacheIsUnavailableAndWarnsAtMostEveryFewSeconds) {
  std::vector<std::string> lines;
  std::mutex lines_mutex;
  log::init({.level = "info", .service = "gateway", .sink = [&](std::string_view line) {
               std::lock_guard lock(lines_mutex);
               lines.emplace_back(line);
             }});
  FakeCache cache;
  RateLimiter limiter(cache, 1.0, 2);
  cache.down = true;
  for (int i = 0; i < 100; ++i) {
    const auto decision = limiter.take("ip:1.2.3.4", t0 + std::chrono::milliseconds(10 * i));
    EXPECT_TRUE(decision.allowed);
    EXPECT_TRUE(decision.failed_open);
    EXPECT_EQ(decision.limit, 2);
    EXPECT_EQ(decision.remaining, 1);
    EXPECT_EQ(decision.retry_after_s, 0);
  }
  EXPECT_TRUE(limiter.take("ip:1.2.3.4", t0 + RateLimiter::kWarningInterval + 1s).failed_open);
  cache.down = false;
  EXPECT_FALSE(limiter.take("ip:1.2.3.4", t0 + 10s).failed_open);
  log::init({});
  std::lock_guard lock(lines_mutex);
  ASSERT_EQ(lines.size(), 2U) << "one warning per interval, not one per request";
  EXPECT_THAT(lines[0], HasSubstr("connection refused"));
  EXPECT_THAT(lines[0], HasSubstr("\"level\":\"warn\""));
}

TEST(RateLimiter, RejectsNonsenseSettings) {
  FakeCache cache;
  EXPECT_THROW(RateLimiter(cache, 0.0, 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(cache, -1.0, 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(cache, std::numeric_limits<double>::quiet_NaN(), 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(cache, std::numeric_limits<double>::infinity(), 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(cache, 1.0, 0), std::invalid_argument);
  EXPECT_THROW(RateLimiter(cache, 1e-9, 1000), std::invalid_argument);
  EXPECT_NO_THROW(RateLimiter(cache, 1e9, 1));
}

TEST(ClientKey, PrefersApiKeyThenUserThenIp) {
  EXPECT_EQ(client_key("abc", "u1", "1.2.3.4"), "key:abc");
  EXPECT_EQ(client_key("", "u1", "1.2.3.4"), "user:u1");
  EXPECT_EQ(client_key("", "", "1.2.3.4"), "ip:1.2.3.4");
  EXPECT_EQ(client_key("", "", "::1"), "ip:::1");
  // The prefixes keep the three spaces apart: a user named like an IP is another client.
  EXPECT_NE(client_key("", "1.2.3.4", "9.9.9.9"), client_key("", "", "1.2.3.4"));
}

TEST(RateLimitHeaders, CarryTheDecision) {
  const auto headers = [](const RateLimiter::Decision& decision) {
    http::FieldLines fields;
    add_rate_limit_headers(decision, fields);
    return fields.text();
  };
  EXPECT_EQ(headers({.allowed = true, .limit = 10, .remaining = 9, .reset_s = 1, .retry_after_s = 0}),
            "RateLimit-Limit: 10\r\nRateLimit-Remaining: 9\r\nRateLimit-Reset: 1\r\n");
  EXPECT_EQ(headers({.allowed = false, .limit = 2147483647, .remaining = 0, .reset_s = 10, .retry_after_s = 1}),
            "RateLimit-Limit: 2147483647\r\nRateLimit-Remaining: 0\r\nRateLimit-Reset: 10\r\nRetry-After: 1\r\n");
}

}  // namespace
}  // namespace intercab::gateway
