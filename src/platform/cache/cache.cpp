// open_cache(): the one place that turns a cache URL into an adapter.
#include "platform/cache/cache.hpp"

#include "platform/cache/cache_url.hpp"
#include "platform/cache/memory_cache.hpp"
#include "platform/cache/redis_cache.hpp"

namespace intercab::cache {

Cache::~Cache() = default;

std::unique_ptr<Cache> open_cache(const std::string& url, const CacheOptions& options) {
  auto location = parse_cache_url(url);
  switch (location.adapter) {
    case CacheLocation::Adapter::memory:
      return std::make_unique<MemoryCache>(options.memory_max_entries);
    case CacheLocation::Adapter::redis:
      return std::make_unique<RedisCache>(std::move(location.redis), options);
  }
  throw std::logic_error("open_cache: unknown adapter");
}

}  // namespace intercab::cache
