// The contract of the cache port (cache.hpp), run against every adapter: memory, and Redis on a
// throwaway redis-server. An adapter passes only if it behaves like the others, byte for byte.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "platform/cache/cache.hpp"
#include "process.hpp"
#include "redis_server.hpp"

namespace intercab::cache {
namespace {

using namespace std::chrono_literals;

constexpr auto kShortTtl = 200ms;

// Polls `condition` every 20 ms for up to 10 s: expiry is observed, never assumed after a fixed sleep.
template <typename Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(byte(generator));
  return bytes;
}

// The Big List of Naughty Strings (tests/corpora/blns).
std::vector<std::string> naughty_strings() {
  const auto path =
      std::filesystem::path(testing::required_env("INTERCAB_SOURCE_DIR")) / "tests/corpora/blns/blns.json";
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> strings;
  const auto document = boost::json::parse(text.str());
  for (const auto& value : document.as_array()) strings.emplace_back(value.as_string());
  return strings;
}

class CacheContract : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { redis_.reset(); }

  void SetUp() override {
    if (GetParam() == "redis") {
      if (!redis_) redis_ = std::make_unique<testing::RedisServer>();
      cache_ = open_cache(redis_->url());
    } else {
      cache_ = open_cache("mem://");
    }
    ASSERT_EQ(cache_->adapter_name(), GetParam());
    ASSERT_EQ(cache_->unavailable_reason(), std::nullopt);
    // Tests share one Redis: each works under its own key prefix.
    prefix_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ":";
  }

  std::string key(std::string_view name) const { return prefix_ + std::string(name); }

  static std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<Cache> cache_;
  std::string prefix_;
};

std::unique_ptr<testing::RedisServer> CacheContract::redis_;

TEST_P(CacheContract, GetSetErase) {
  auto& cache = *cache_;
  EXPECT_EQ(cache.get(key("a")), std::nullopt);
  cache.set(key("a"), "1");
  EXPECT_EQ(cache.get(key("a")), "1");
  cache.set(key("a"), "22");
  EXPECT_EQ(cache.get(key("a")), "22");
  cache.set(key("empty"), "");
  EXPECT_EQ(cache.get(key("empty")), "") << "an empty value is not an absent one";
  EXPECT_TRUE(cache.erase(key("a")));
  EXPECT_FALSE(cache.erase(key("a")));
  EXPECT_EQ(cache.get(key("a")), std::nullopt);
  EXPECT_FALSE(cache.erase(key("never")));
  EXPECT_TRUE(cache.erase(key("empty")));
}

TEST_P(CacheContract, EntriesExpireAfterTheirTtl) {
  auto& cache = *cache_;
  cache.set(key("persisted"), "p", kShortTtl);
  cache.set(key("persisted"), "p");  // a set without TTL removes the earlier one
  cache.set(key("long"), "l", 60s);
  cache.set(key("short"), "s", kShortTtl);
  EXPECT_EQ(cache.get(key("long")), "l");
  EXPECT_TRUE(eventually([&] { return !cache.get(key("short")); })) << "an entry outlived its TTL";
  EXPECT_FALSE(cache.erase(key("short"))) << "an expired entry does not exist";
  EXPECT_EQ(cache.get(key("persisted")), "p");
  EXPECT_EQ(cache.get(key("long")), "l");
  // A TTL shorter than 1 ms is refused, as Redis refuses PX 0.
  EXPECT_THROW(cache.set(key("zero"), "z", 0ms), CacheError);
  EXPECT_THROW(cache.increment(key("zero"), 1, -1ms), CacheError);
  EXPECT_THROW(cache.compare_and_set(key("zero"), std::nullopt, "z", 0ms), CacheError);
  EXPECT_EQ(cache.get(key("zero")), std::nullopt);
}

TEST_P(CacheContract, IncrementCountsFromZero) {
  auto& cache = *cache_;
  EXPECT_EQ(cache.increment(key("n"), 1), 1);
  EXPECT_EQ(cache.increment(key("n"), 41), 42);
  EXPECT_EQ(cache.increment(key("n"), -50), -8);
  EXPECT_EQ(cache.get(key("n")), "-8");
  cache.set(key("set"), "100");
  EXPECT_EQ(cache.increment(key("set"), 0), 100);
  cache.set(key("max"), "9223372036854775806");
  EXPECT_EQ(cache.increment(key("max"), 1), INT64_MAX);
  EXPECT_THROW(cache.increment(key("max"), 1), CacheError);
  EXPECT_EQ(cache.get(key("max")), "9223372036854775807") << "a refused increment changes nothing";
}

TEST_P(CacheContract, IncrementRefusesValuesThatAreNotCanonicalIntegers) {
  auto& cache = *cache_;
  const std::vector<std::string> values{"abc", "", "1.5", "+5", "05", " 5", "5 ", "-0", std::string("5\0", 2)};
  for (const auto& value : values) {
    cache.set(key("bad"), value);
    EXPECT_THROW(cache.increment(key("bad"), 1), CacheError) << "value \"" << value << "\"";
    EXPECT_THROW(cache.increment(key("bad"), 1, 10s), CacheError) << "value \"" << value << "\"";
    EXPECT_EQ(cache.get(key("bad")), value);
  }
}

TEST_P(CacheContract, IncrementSetsTheTtlOnlyWhenItCreatesTheKey) {
  auto& cache = *cache_;
  // Created with a TTL: expires, then counts from zero again.
  EXPECT_EQ(cache.increment(key("window"), 1, kShortTtl), 1);
  EXPECT_EQ(cache.increment(key("window"), 1, 1h), 2) << "an existing key keeps its expiry";
  EXPECT_TRUE(eventually([&] { return !cache.get(key("window")); })) << "the first TTL was replaced";
  EXPECT_EQ(cache.increment(key("window"), 5, kShortTtl), 5);
  // An existing key without TTL does not get one.
  cache.set(key("forever"), "10");
  EXPECT_EQ(cache.increment(key("forever"), 1, kShortTtl), 11);
  cache.set(key("witness"), "w", kShortTtl);
  EXPECT_TRUE(eventually([&] { return !cache.get(key("witness")); }));
  EXPECT_EQ(cache.get(key("forever")), "11");
}

TEST_P(CacheContract, CompareAndSet) {
  auto& cache = *cache_;
  EXPECT_TRUE(cache.compare_and_set(key("c"), std::nullopt, "v1")) << "absent as expected";
  EXPECT_EQ(cache.get(key("c")), "v1");
  EXPECT_FALSE(cache.compare_and_set(key("c"), std::nullopt, "v2")) << "present, absence expected";
  EXPECT_FALSE(cache.compare_and_set(key("c"), std::string("other"), "v2")) << "mismatch";
  EXPECT_EQ(cache.get(key("c")), "v1");
  EXPECT_TRUE(cache.compare_and_set(key("c"), std::string("v1"), "v2")) << "match";
  EXPECT_EQ(cache.get(key("c")), "v2");
  EXPECT_FALSE(cache.compare_and_set(key("missing"), std::string("v1"), "v2")) << "absent, a value expected";
  EXPECT_EQ(cache.get(key("missing")), std::nullopt);
  // An empty value is present.
  cache.set(key("empty"), "");
  EXPECT_FALSE(cache.compare_and_set(key("empty"), std::nullopt, "x"));
  EXPECT_TRUE(cache.compare_and_set(key("empty"), std::string(""), "x"));
  EXPECT_EQ(cache.get(key("empty")), "x");
}

TEST_P(CacheContract, CompareAndSetWithTtlAndAfterExpiry) {
  auto& cache = *cache_;
  EXPECT_TRUE(cache.compare_and_set(key("lease"), std::nullopt, "holder-1", kShortTtl));
  EXPECT_FALSE(cache.compare_and_set(key("lease"), std::nullopt, "holder-2", kShortTtl));
  EXPECT_TRUE(eventually([&] { return !cache.get(key("lease")); }));
  EXPECT_TRUE(cache.compare_and_set(key("lease"), std::nullopt, "holder-2")) << "an expired entry is absent";
  // A write without TTL removes the earlier TTL.
  EXPECT_TRUE(cache.compare_and_set(key("kept"), std::nullopt, "a", kShortTtl));
  EXPECT_TRUE(cache.compare_and_set(key("kept"), std::string("a"), "b"));
  cache.set(key("witness"), "w", kShortTtl);
  EXPECT_TRUE(eventually([&] { return !cache.get(key("witness")); }));
  EXPECT_EQ(cache.get(key("kept")), "b");
  EXPECT_EQ(cache.get(key("lease")), "holder-2");
}

TEST_P(CacheContract, BinaryKeysAndValues) {
  auto& cache = *cache_;
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const std::string with_nul("a\0b\0\0c", 6);
  cache.set(key(with_nul), every_byte);
  EXPECT_EQ(cache.get(key(with_nul)), every_byte);
  EXPECT_EQ(cache.get(key("a")), std::nullopt) << "a key is not cut at its NUL byte";
  EXPECT_TRUE(cache.compare_and_set(key(with_nul), every_byte, with_nul));
  EXPECT_EQ(cache.get(key(with_nul)), with_nul);
  EXPECT_FALSE(cache.compare_and_set(key(with_nul), std::string("a"), "x")) << "compares every byte";
  EXPECT_EQ(cache.increment(key(every_byte), 3), 3);
  EXPECT_TRUE(cache.erase(key(with_nul)));
}

TEST_P(CacheContract, NaughtyStringsRoundTrip) {
  auto& cache = *cache_;
  const auto strings = naughty_strings();
  ASSERT_GT(strings.size(), 400U);
  for (std::size_t i = 0; i < strings.size(); ++i) {
    cache.set(key("value:" + std::to_string(i)), strings[i]);
    cache.set(key("key:" + strings[i]), std::to_string(i));
  }
  for (std::size_t i = 0; i < strings.size(); ++i) {
    EXPECT_EQ(cache.get(key("value:" + std::to_string(i))), strings[i]) << i;
    // Duplicates in the list map to the last index that wrote them.
    const auto stored = cache.get(key("key:" + strings[i]));
    ASSERT_TRUE(stored.has_value()) << i;
    EXPECT_EQ(strings[std::stoul(*stored)], strings[i]) << i;
  }
}

TEST_P(CacheContract, LargeValues) {
  auto& cache = *cache_;
  const auto one_megabyte = random_bytes(1 << 20, 1);
  const auto another = random_bytes(1 << 20, 2);
  cache.set(key("big"), one_megabyte, 60s);
  EXPECT_EQ(cache.get(key("big")), one_megabyte);
  EXPECT_FALSE(cache.compare_and_set(key("big"), another, "x"));
  EXPECT_TRUE(cache.compare_and_set(key("big"), one_megabyte, another));
  EXPECT_EQ(cache.get(key("big")), another);
}

TEST_P(CacheContract, CompareAndSetLoopsFromManyThreadsLoseNoUpdate) {
  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 500;
  std::atomic<int> errors{0};
  std::atomic<long> attempts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      try {
        for (int i = 0; i < kIncrementsPerThread; ++i) {
          while (true) {
            ++attempts;
            const auto current = cache_->get(key("counter"));
            const auto next = std::to_string((current ? std::stol(*current) : 0) + 1);
            if (cache_->compare_and_set(key("counter"), current, next, 60s)) break;
          }
        }
      } catch (const std::exception& error) {
        ++errors;
        ADD_FAILURE() << error.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(cache_->get(key("counter")), std::to_string(kThreads * kIncrementsPerThread));
  RecordProperty("cas_attempts", std::to_string(attempts.load()));
}

TEST_P(CacheContract, IncrementsFromManyThreadsAreAtomic) {
  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 500;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kIncrementsPerThread; ++i) {
          cache_->increment(key("plain"), 1);
          cache_->increment(key("with_ttl"), 2, 60s);
          cache_->increment(key("own:" + std::to_string(t)), 1, 60s);
        }
      } catch (const std::exception& error) {
        ++errors;
        ADD_FAILURE() << error.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(cache_->get(key("plain")), std::to_string(kThreads * kIncrementsPerThread));
  EXPECT_EQ(cache_->get(key("with_ttl")), std::to_string(2 * kThreads * kIncrementsPerThread));
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(cache_->get(key("own:" + std::to_string(t))), "500");
}

INSTANTIATE_TEST_SUITE_P(Adapters, CacheContract, ::testing::Values("memory", "redis"),
                         [](const auto& adapter) { return adapter.param; });

}  // namespace
}  // namespace intercab::cache
