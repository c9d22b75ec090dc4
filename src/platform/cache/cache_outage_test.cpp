// A Redis outage seen through the cache port: operations fail fast with CacheUnavailable while Redis is
// down, and the same Cache object works again once Redis is back on the same port.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "platform/cache/cache.hpp"
#include "redis_server.hpp"

namespace intercab::cache {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Generous for a loaded CI machine, yet far below a hang: the timeout is 500 ms per attempt.
constexpr auto kBoundPerOperation = 3s;

template <typename Operation>
void expect_unavailable_quickly(Operation operation, const char* name) {
  const auto start = Clock::now();
  EXPECT_THROW(operation(), CacheUnavailable) << name;
  EXPECT_LT(Clock::now() - start, kBoundPerOperation) << name << " took too long to fail";
}

TEST(CacheOutage, FailsFastWhileRedisIsDownAndRecoversWithoutANewCache) {
  testing::RedisServer redis;
  auto cache = open_cache(redis.url(), CacheOptions{.redis_pool_size = 4, .redis_timeout = 500ms});
  cache->set("before", "1");
  EXPECT_EQ(cache->increment("counter", 1), 1);
  ASSERT_EQ(cache->unavailable_reason(), std::nullopt);

  redis.stop();
  expect_unavailable_quickly([&] { cache->get("before"); }, "get");
  expect_unavailable_quickly([&] { cache->set("k", "v"); }, "set");
  expect_unavailable_quickly([&] { cache->erase("k"); }, "erase");
  expect_unavailable_quickly([&] { cache->increment("counter", 1); }, "increment");
  expect_unavailable_quickly([&] { cache->increment("counter", 1, 10s); }, "increment with ttl");
  expect_unavailable_quickly([&] { cache->compare_and_set("k", std::nullopt, "v"); }, "compare_and_set");
  const auto probe_start = Clock::now();
  const auto reason = cache->unavailable_reason();
  EXPECT_LT(Clock::now() - probe_start, kBoundPerOperation);
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("127.0.0.1:" + std::to_string(redis.port())), std::string::npos) << *reason;

  // Many callers at once while Redis is down: none hangs (the pool is smaller than the callers).
  std::vector<std::thread> callers;
  std::atomic<int> unavailable{0};
  const auto burst_start = Clock::now();
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        try {
          cache->get("before");
        } catch (const CacheUnavailable&) {
          ++unavailable;
        }
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(unavailable.load(), 8 * 20);
  EXPECT_LT(Clock::now() - burst_start, 10s);

  redis.start();  // same port, empty: nothing is persisted
  // The probe does not wait for the failure backoff, so it sees Redis back at once.
  EXPECT_EQ(cache->unavailable_reason(), std::nullopt);
  // Connections from before the outage were closed by the old server; they are replaced, not reused.
  std::optional<std::string> value;
  EXPECT_NO_THROW(value = cache->get("before"));
  EXPECT_EQ(value, std::nullopt) << "the restarted Redis starts empty";
  cache->set("after", "2");
  EXPECT_EQ(cache->get("after"), "2");
  EXPECT_EQ(cache->increment("counter", 5, 10s), 5);
  EXPECT_TRUE(cache->compare_and_set("after", std::string("2"), "3"));
  EXPECT_EQ(cache->unavailable_reason(), std::nullopt);
}

TEST(CacheOutage, IdleConnectionsSurviveARestartBetweenCalls) {
  testing::RedisServer redis;
  auto cache = open_cache(redis.url(), CacheOptions{.redis_pool_size = 4});
  // Open every pooled connection, so that each is stale after the restart.
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) cache->set("warm:" + std::to_string(t), std::to_string(i));
    });
  }
  for (auto& caller : callers) caller.join();

  redis.stop();
  redis.start();
  // No call happened during the outage: the first calls after it must succeed, not fail on a dead socket.
  for (int i = 0; i < 10; ++i) {
    EXPECT_NO_THROW(cache->set("k" + std::to_string(i), "v")) << i;
    EXPECT_EQ(cache->get("k" + std::to_string(i)), "v");
  }
}

TEST(CacheOutage, NothingListeningFromTheStart) {
  testing::RedisServer redis;
  const auto url = redis.url();
  redis.stop();
  auto cache = open_cache(url);  // lazy: opening does not need Redis
  EXPECT_TRUE(cache->unavailable_reason().has_value());
  expect_unavailable_quickly([&] { cache->get("k"); }, "get");
  redis.start();
  EXPECT_EQ(cache->unavailable_reason(), std::nullopt);
  cache->set("k", "v");
  EXPECT_EQ(cache->get("k"), "v");
}

}  // namespace
}  // namespace intercab::cache
