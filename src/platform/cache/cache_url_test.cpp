// Tests of cache URL parsing, password masking, open_cache()'s choice of adapter and the shared value rules.
#include "platform/cache/cache_url.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "platform/cache/cache.hpp"
#include "platform/cache/value_rules.hpp"

namespace intercab::cache {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string refusal(const std::string& url) {
  try {
    parse_cache_url(url);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(accepted)";
}

TEST(CacheUrl, EmptyAndMemSchemeMeanMemory) {
  EXPECT_EQ(parse_cache_url("").adapter, CacheLocation::Adapter::memory);
  EXPECT_EQ(parse_cache_url("mem://").adapter, CacheLocation::Adapter::memory);
}

TEST(CacheUrl, RedisDefaults) {
  const auto location = parse_cache_url("redis://cache.internal");
  EXPECT_EQ(location.adapter, CacheLocation::Adapter::redis);
  EXPECT_EQ(location.redis.host, "cache.internal");
  EXPECT_EQ(location.redis.port, 6379);
  EXPECT_EQ(location.redis.user, "");
  EXPECT_EQ(location.redis.password, "");
  EXPECT_EQ(location.redis.database, 0);
  EXPECT_EQ(parse_cache_url("redis://cache.internal/").redis.database, 0);
}

TEST(CacheUrl, RedisWithEverything) {
  const auto redis = parse_cache_url("redis://app:s%40cret%3A1@10.0.0.5:6380/3").redis;
  EXPECT_EQ(redis.host, "10.0.0.5");
  EXPECT_EQ(redis.port, 6380);
  EXPECT_EQ(redis.user, "app");
  EXPECT_EQ(redis.password, "s@cret:1") << "user and password are percent-decoded";
  EXPECT_EQ(redis.database, 3);
  EXPECT_EQ(redis.describe(), "10.0.0.5:6380/3");
}

TEST(CacheUrl, PasswordWithoutUserAndIpv6Host) {
  const auto redis = parse_cache_url("redis://:pw@[::1]:7000").redis;
  EXPECT_EQ(redis.user, "");
  EXPECT_EQ(redis.password, "pw");
  EXPECT_EQ(redis.host, "::1");
  EXPECT_EQ(redis.port, 7000);
  EXPECT_EQ(redis.describe(), "[::1]:7000/0");
}

TEST(CacheUrl, RefusesWhatItCannotServeAndSaysWhatItAccepts) {
  for (const std::string url :
       {"mem:", "memory://", "redis:/host", "rediss://host", "http://host", "redis://", "redis://host:0",
        "redis://host:65536", "redis://host:port", "redis://host/db1", "redis://host/1/2", "redis://host/-1",
        "redis://host?db=1", "redis://host#x", "redis://user@host", "redis://user:@host", " redis://host"}) {
    EXPECT_THAT(refusal(url), AllOf(HasSubstr("mem://"), HasSubstr("redis://[user:password@]host[:port][/db]"))) << url;
  }
}

TEST(CacheUrl, RefusalNamesTheUrlButNotItsPassword) {
  const auto message = refusal("redis://app:hunter2@host:notaport");
  EXPECT_THAT(message, AllOf(HasSubstr("redis://app:***@host:notaport"), Not(HasSubstr("hunter2"))));
}

TEST(CacheUrl, RedactMasksOnlyThePassword) {
  EXPECT_EQ(redact_url("redis://app:hunter2@host:6379/1"), "redis://app:***@host:6379/1");
  EXPECT_EQ(redact_url("redis://:hunter2@host"), "redis://:***@host");
  EXPECT_EQ(redact_url("redis://:hun@ter2@host"), "redis://:***@host");
  EXPECT_EQ(redact_url("redis://host:6379"), "redis://host:6379");
  EXPECT_EQ(redact_url("redis://user@host"), "redis://user@host");
  EXPECT_EQ(redact_url(""), "");
}

TEST(OpenCache, PicksTheAdapterFromTheUrl) {
  EXPECT_EQ(open_cache("")->adapter_name(), "memory");
  EXPECT_EQ(open_cache("mem://")->adapter_name(), "memory");
  // Connects lazily, so this works with nothing listening.
  EXPECT_EQ(open_cache("redis://127.0.0.1:1")->adapter_name(), "redis");
  EXPECT_THROW(open_cache("postgres://host"), std::invalid_argument);
  EXPECT_THROW(open_cache("", CacheOptions{.memory_max_entries = 0}), std::invalid_argument);
  EXPECT_THROW(open_cache("redis://host", CacheOptions{.redis_pool_size = 0}), std::invalid_argument);
  EXPECT_THROW(open_cache("redis://host", CacheOptions{.redis_timeout = std::chrono::milliseconds(0)}),
               std::invalid_argument);
}

TEST(ValueRules, CanonicalIntegersOnly) {
  using detail::parse_canonical_integer;
  EXPECT_EQ(parse_canonical_integer("0"), 0);
  EXPECT_EQ(parse_canonical_integer("42"), 42);
  EXPECT_EQ(parse_canonical_integer("-42"), -42);
  EXPECT_EQ(parse_canonical_integer("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_canonical_integer("-9223372036854775808"), INT64_MIN);
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "01", "-0", "-01", "1.0", "1e3", "0x10", "abc",
                          "9223372036854775808", "-9223372036854775809"}) {
    EXPECT_EQ(parse_canonical_integer(bad), std::nullopt) << bad;
  }
}

TEST(ValueRules, TtlOfAtLeastOneMillisecond) {
  EXPECT_NO_THROW(detail::check_ttl(std::nullopt));
  EXPECT_NO_THROW(detail::check_ttl(std::chrono::milliseconds(1)));
  EXPECT_THROW(detail::check_ttl(std::chrono::milliseconds(0)), CacheError);
  EXPECT_THROW(detail::check_ttl(std::chrono::milliseconds(-5)), CacheError);
}

}  // namespace
}  // namespace intercab::cache
