// The memory adapter: 32 shards, each a mutex and a hash map, so unrelated keys rarely contend.
#include "platform/cache/memory_cache.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "platform/cache/value_rules.hpp"

namespace intercab::cache {
namespace {

using Clock = MemoryCache::Clock;

// Buckets the incremental sweep visits per write: at least one per write, so the sweep goes round the
// table at least as fast as keys are added and expired entries never pile up in untouched buckets.
constexpr std::size_t kSweepBucketsPerWrite = 2;

Clock::time_point expiry(std::optional<std::chrono::milliseconds> ttl, Clock::time_point now) {
  if (!ttl) return Clock::time_point::max();
  // Saturates instead of overflowing the clock's nanoseconds for TTLs of centuries.
  const auto until_end_of_clock = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  return *ttl >= until_end_of_clock ? Clock::time_point::max() : now + *ttl;
}

}  // namespace

MemoryCache::MemoryCache(std::size_t max_entries) : max_per_shard_((max_entries + kShards - 1) / kShards) {
  if (max_entries == 0) throw std::invalid_argument("memory cache: max_entries must be at least 1");
}

MemoryCache::Shard& MemoryCache::shard_for(std::string_view key) {
  // The high bits pick the shard; the map inside uses the hash modulo its (prime) bucket count.
  return shards_[(TransparentHash{}(key) >> 32) % kShards];
}

MemoryCache::Entries::iterator MemoryCache::find_live(Shard& shard, std::string_view key, Clock::time_point now) {
  auto it = shard.entries.find(key);
  if (it != shard.entries.end() && it->second.expires_at <= now) {
    shard.entries.erase(it);
    return shard.entries.end();
  }
  return it;
}

void MemoryCache::write(Shard& shard, Entries::iterator existing, std::string_view key, std::string_view value,
                        std::optional<std::chrono::milliseconds> ttl, Clock::time_point now) {
  if (existing == shard.entries.end()) {
    if (shard.entries.size() >= max_per_shard_) make_room(shard, now);
    existing = shard.entries.try_emplace(std::string(key)).first;
  }
  auto& entry = existing->second;
  entry.value.assign(value);
  entry.expires_at = expiry(ttl, now);
  entry.written = ++shard.writes;
  sweep_some(shard, now);
}

void MemoryCache::make_room(Shard& shard, Clock::time_point now) const {
  auto& entries = shard.entries;
  std::erase_if(entries, [&](const auto& entry) { return entry.second.expires_at <= now; });
  const auto low_water = max_per_shard_ - max_per_shard_ / 8 - 1;
  if (entries.size() <= low_water) return;
  std::vector<Entries::iterator> by_age;
  by_age.reserve(entries.size());
  for (auto it = entries.begin(); it != entries.end(); ++it) by_age.push_back(it);
  const auto evict = by_age.size() - low_water;
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(evict), by_age.end(),
                   [](const auto& a, const auto& b) { return a->second.written < b->second.written; });
  for (std::size_t i = 0; i < evict; ++i) entries.erase(by_age[i]);
}

void MemoryCache::sweep_some(Shard& shard, Clock::time_point now) {
  auto& entries = shard.entries;
  const auto buckets = entries.bucket_count();
  for (std::size_t visited = 0; visited < kSweepBucketsPerWrite; ++visited) {
    const auto bucket = shard.sweep_cursor++ % buckets;
    // Erasing invalidates the bucket's local iterators, so scan again after each erase (buckets hold
    // about one entry, the map keeping its load factor at most 1).
    bool erased = true;
    while (erased) {
      erased = false;
      for (auto it = entries.begin(bucket); it != entries.end(bucket); ++it) {
        if (it->second.expires_at <= now) {
          entries.erase(entries.find(it->first));
          erased = true;
          break;
        }
      }
    }
  }
}

std::optional<std::string> MemoryCache::get(std::string_view key) {
  auto& shard = shard_for(key);
  const auto now = Clock::now();
  std::lock_guard lock(shard.mutex);
  auto it = find_live(shard, key, now);
  if (it == shard.entries.end()) return std::nullopt;
  return it->second.value;
}

void MemoryCache::set(std::string_view key, std::string_view value, std::optional<std::chrono::milliseconds> ttl) {
  detail::check_ttl(ttl);
  auto& shard = shard_for(key);
  const auto now = Clock::now();
  std::lock_guard lock(shard.mutex);
  write(shard, shard.entries.find(key), key, value, ttl, now);
}

bool MemoryCache::erase(std::string_view key) {
  auto& shard = shard_for(key);
  const auto now = Clock::now();
  std::lock_guard lock(shard.mutex);
  auto it = find_live(shard, key, now);
  if (it == shard.entries.end()) return false;
  shard.entries.erase(it);
  return true;
}

std::int64_t MemoryCache::increment(std::string_view key, std::int64_t delta,
                                    std::optional<std::chrono::milliseconds> ttl_on_create) {
  detail::check_ttl(ttl_on_create);
  auto& shard = shard_for(key);
  const auto now = Clock::now();
  std::lock_guard lock(shard.mutex);
  auto it = find_live(shard, key, now);
  if (it == shard.entries.end()) {
    write(shard, it, key, std::to_string(delta), ttl_on_create, now);
    return delta;
  }
  const auto current = detail::parse_canonical_integer(it->second.value);
  if (!current) throw CacheError("cache value of this key is not an integer, so it cannot be incremented");
  std::int64_t result = 0;
  if (__builtin_add_overflow(*current, delta, &result)) {
    throw CacheError("cache increment would overflow a 64-bit integer");
  }
  it->second.value = std::to_string(result);
  it->second.written = ++shard.writes;  // keeps its expiry, as INCRBY does
  return result;
}

bool MemoryCache::compare_and_set(std::string_view key, const std::optional<std::string>& expected,
                                  std::string_view desired, std::optional<std::chrono::milliseconds> ttl) {
  detail::check_ttl(ttl);
  auto& shard = shard_for(key);
  const auto now = Clock::now();
  std::lock_guard lock(shard.mutex);
  auto it = find_live(shard, key, now);
  const bool present = it != shard.entries.end();
  if (present != expected.has_value()) return false;
  if (present && it->second.value != *expected) return false;
  write(shard, it, key, desired, ttl, now);
  return true;
}

std::size_t MemoryCache::size() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.entries.size();
  }
  return total;
}

}  // namespace intercab::cache
