// Tests of what only the memory adapter promises: its bound on entries, which entries it drops first,
// and that expired entries are swept without being read. The shared behaviour is in cache_contract_test.
#include "platform/cache/memory_cache.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace intercab::cache {
namespace {

using namespace std::chrono_literals;

// Polls `condition` every 20 ms for up to 10 s: expiry depends on the clock, never on a fixed sleep.
template <typename Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST(MemoryCache, NeverHoldsMoreThanItsBound) {
  MemoryCache cache(MemoryCache::kShards * 8);
  for (int i = 0; i < 20'000; ++i) cache.set("key:" + std::to_string(i), "v");
  EXPECT_LE(cache.size(), MemoryCache::kShards * 8);
  EXPECT_GT(cache.size(), MemoryCache::kShards * 4) << "evicts a fraction of a shard, not all of it";
  EXPECT_EQ(cache.get("key:19999"), "v") << "the newest entry is kept";
}

TEST(MemoryCache, EvictsTheLeastRecentlyWrittenFirst) {
  MemoryCache cache(MemoryCache::kShards * 8);
  cache.set("kept", "1");
  for (int i = 0; i < 20'000; ++i) {
    cache.set("flood:" + std::to_string(i), "v");
    if (i % 16 == 0) cache.increment("kept", 1);  // rewritten all along, so never the oldest
  }
  EXPECT_EQ(cache.get("kept"), std::to_string(1 + 20'000 / 16));
  EXPECT_EQ(cache.get("flood:0"), std::nullopt);
}

TEST(MemoryCache, DropsExpiredEntriesBeforeLiveOnes) {
  constexpr std::size_t kBound = MemoryCache::kShards * 64;
  MemoryCache cache(kBound);
  for (int i = 0; i < 200; ++i) cache.set("live:" + std::to_string(i), "v");
  for (int i = 0; i < 1000; ++i) cache.set("short:" + std::to_string(i), "v", 1ms);
  std::this_thread::sleep_for(20ms);  // the short entries have expired
  // Enough new keys to overflow shards that still held their expired entries: the live entries, the
  // oldest of all, survive because the expired ones make room first.
  for (int i = 0; i < 1000; ++i) cache.set("new:" + std::to_string(i), "v");
  for (int i = 0; i < 200; ++i) EXPECT_EQ(cache.get("live:" + std::to_string(i)), "v") << i;
  EXPECT_LE(cache.size(), kBound);
}

TEST(MemoryCache, SweepsExpiredEntriesNobodyReads) {
  MemoryCache cache;
  for (int i = 0; i < 1000; ++i) cache.set("short:" + std::to_string(i), "v", 50ms);
  std::this_thread::sleep_for(60ms);
  // Writes of other keys sweep a few buckets of their shard each; the short entries are never read again.
  // (1000 other keys, so that every shard is written to: a shard nobody writes keeps its expired entries
  // until they are read or the shard fills up.)
  int written = 0;
  EXPECT_TRUE(eventually([&] {
    for (int i = 0; i < 1000; ++i) cache.set("other:" + std::to_string(written++ % 1000), "v");
    return cache.size() <= 1000;
  }));
}

TEST(MemoryCache, TtlsOfCenturiesDoNotOverflow) {
  MemoryCache cache;
  cache.set("k", "v", std::chrono::milliseconds::max());
  EXPECT_EQ(cache.get("k"), "v");
  EXPECT_EQ(cache.increment("n", 1, std::chrono::hours(24 * 365 * 1000)), 1);
  EXPECT_EQ(cache.get("n"), "1");
}

TEST(MemoryCache, RejectsAZeroBound) { EXPECT_THROW(MemoryCache(0), std::invalid_argument); }

}  // namespace
}  // namespace intercab::cache
