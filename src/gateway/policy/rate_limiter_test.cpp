// Tests of the rate limiter: burst, refill, header values, concurrency, bounded memory.
#include "gateway/policy/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <stdexcept>
#include <thread>

namespace intercab::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

const Clock::time_point t0 = Clock::time_point{} + 1000s;

TEST(RateLimiter, AllowsTheBurstThenRefuses) {
  RateLimiter limiter(1.0, 3);
  for (int expected_remaining : {2, 1, 0}) {
    const auto decision = limiter.take("ip:1.2.3.4", t0);
    EXPECT_TRUE(decision.allowed);
    EXPECT_EQ(decision.limit, 3);
    EXPECT_EQ(decision.remaining, expected_remaining);
    EXPECT_EQ(decision.retry_after_s, 0);
  }
  const auto refused = limiter.take("ip:1.2.3.4", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 3);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.reset_s, 3);
  EXPECT_EQ(refused.retry_after_s, 1);
}

TEST(RateLimiter, ResetCountsSecondsUntilFullRoundedUp) {
  RateLimiter limiter(2.0, 5);                        // half a second per token
  EXPECT_EQ(limiter.take("k", t0).reset_s, 1);        // 0.5 s short
  EXPECT_EQ(limiter.take("k", t0).reset_s, 1);        // 1.0 s
  EXPECT_EQ(limiter.take("k", t0).reset_s, 2);        // 1.5 s
  const auto later = limiter.take("k", t0 + 1200ms);  // 1.5 - 1.2 + 0.5 = 0.8 s short
  EXPECT_TRUE(later.allowed);
  EXPECT_EQ(later.reset_s, 1);
  EXPECT_EQ(later.remaining, 3);
}

TEST(RateLimiter, RefillsOverTimeUpToTheBurstOnly) {
  RateLimiter limiter(1.0, 2);
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
  RateLimiter slow(0.1, 1);  // one token per 10 s
  EXPECT_TRUE(slow.take("k", t0).allowed);
  EXPECT_EQ(slow.take("k", t0).retry_after_s, 10);
  EXPECT_EQ(slow.take("k", t0 + 2500ms).retry_after_s, 8);  // 7.5 s -> 8
  const auto almost = slow.take("k", t0 + 9999ms);
  EXPECT_FALSE(almost.allowed);
  EXPECT_EQ(almost.retry_after_s, 1);
  EXPECT_EQ(almost.reset_s, 1);
  EXPECT_TRUE(slow.take("k", t0 + 10s).allowed);

  RateLimiter fast(100.0, 1);  // 10 ms per token: still "retry after 1 s", never 0
  EXPECT_TRUE(fast.take("k", t0).allowed);
  const auto refused = fast.take("k", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 1);
}

TEST(RateLimiter, WaitingRetryAfterAlwaysSucceeds) {
  RateLimiter limiter(0.3, 4);
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
  RateLimiter limiter(1.0, 1);
  EXPECT_TRUE(limiter.take("ip:1.1.1.1", t0).allowed);
  EXPECT_FALSE(limiter.take("ip:1.1.1.1", t0).allowed);
  EXPECT_TRUE(limiter.take("ip:2.2.2.2", t0).allowed);
  EXPECT_TRUE(limiter.take("user:u1", t0).allowed);
  EXPECT_EQ(limiter.tracked_keys(), 3U);
}

TEST(RateLimiter, ConcurrentTakesAllowExactlyTheBurst) {
  constexpr int kThreads = 8;
  constexpr int kTakesPerThread = 500;
  RateLimiter limiter(1.0, 1000);
  std::atomic<int> allowed_shared{0};
  std::atomic<int> allowed_own{0};
  std::vector<std::thread> threads;
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
  EXPECT_EQ(allowed_shared.load(), 1000);                     // 4000 asked for one bucket of 1000
  EXPECT_EQ(allowed_own.load(), kThreads * kTakesPerThread);  // 500 each from buckets of 1000
  EXPECT_EQ(limiter.tracked_keys(), 1U + kThreads);
}

TEST(RateLimiter, MemoryIsBoundedAndTheMostUsedBucketsAreKept) {
  constexpr std::size_t kPerShard = 8;
  RateLimiter limiter(1.0, 10, kPerShard);
  // "hot" empties its bucket: full again at t0 + 10 s.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.take("hot", t0).allowed);
  // A flood of clients that use one token each (full again at t0 + 1 s).
  for (int i = 0; i < 5000; ++i) limiter.take("ip:10.0." + std::to_string(i), t0);
  EXPECT_LE(limiter.tracked_keys(), RateLimiter::kShards * kPerShard);
  EXPECT_FALSE(limiter.take("hot", t0).allowed) << "the most-used bucket was forgotten";

  // By t0 + 1.5 s the first flood's buckets are full (idle); a second flood replaces them.
  for (int i = 0; i < 5000; ++i) limiter.take("ip:10.1." + std::to_string(i), t0 + 1500ms);
  EXPECT_LE(limiter.tracked_keys(), RateLimiter::kShards * kPerShard);
  const auto hot = limiter.take("hot", t0 + 1500ms);
  EXPECT_TRUE(hot.allowed);
  EXPECT_EQ(hot.remaining, 0) << "a forgotten bucket would have had 9 left";
}

TEST(RateLimiter, ForgettingIdleBucketsChangesNoDecision) {
  RateLimiter limiter(1.0, 2, 1);  // one client per shard
  for (int i = 0; i < 100; ++i) {
    const auto now = t0 + std::chrono::seconds(3 * i);  // every bucket is full again by the next round
    const auto key = "ip:" + std::to_string(i % 7);
    EXPECT_EQ(limiter.take(key, now).remaining, 1);
    EXPECT_EQ(limiter.take(key, now).remaining, 0);
    EXPECT_FALSE(limiter.take(key, now).allowed);
  }
  EXPECT_LE(limiter.tracked_keys(), RateLimiter::kShards);
}

TEST(RateLimiter, RejectsNonsenseSettings) {
  EXPECT_THROW(RateLimiter(0.0, 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(-1.0, 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(std::numeric_limits<double>::quiet_NaN(), 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(std::numeric_limits<double>::infinity(), 1), std::invalid_argument);
  EXPECT_THROW(RateLimiter(1.0, 0), std::invalid_argument);
  EXPECT_THROW(RateLimiter(1e-9, 1000), std::invalid_argument);
  EXPECT_THROW(RateLimiter(1.0, 1, 0), std::invalid_argument);
  EXPECT_NO_THROW(RateLimiter(1e9, 1));
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
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(rate_limit_headers({.allowed = true, .limit = 10, .remaining = 9, .reset_s = 1, .retry_after_s = 0}),
            (Headers{{"RateLimit-Limit", "10"}, {"RateLimit-Remaining", "9"}, {"RateLimit-Reset", "1"}}));
  EXPECT_EQ(
      rate_limit_headers({.allowed = false, .limit = 10, .remaining = 0, .reset_s = 10, .retry_after_s = 1}),
      (Headers{
          {"RateLimit-Limit", "10"}, {"RateLimit-Remaining", "0"}, {"RateLimit-Reset", "10"}, {"Retry-After", "1"}}));
}

}  // namespace
}  // namespace intercab::gateway
