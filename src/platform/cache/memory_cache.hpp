// The memory adapter of the cache port: one process's entries in mutex-guarded shards, with a bound on
// their number. Expired entries go when read, and a little at a time with each write to their shard.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "platform/cache/cache.hpp"

namespace intercab::cache {

// Default arguments repeat the port's, so that calls through a MemoryCache read like calls through a Cache.
class MemoryCache final : public Cache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kShards = 32;

  // Holds at most `max_entries` rounded up to a multiple of kShards. A write of a new key into a full
  // shard first drops the shard's expired entries, then the least recently written ones, down to 7/8 of
  // the shard, so that a flood of new keys costs one pass per eighth of a shard rather than one per key.
  // Throws std::invalid_argument when max_entries is 0.
  explicit MemoryCache(std::size_t max_entries = CacheOptions{}.memory_max_entries);

  std::optional<std::string> get(std::string_view key) override;
  void set(std::string_view key, std::string_view value,
           std::optional<std::chrono::milliseconds> ttl = std::nullopt) override;
  bool erase(std::string_view key) override;
  std::int64_t increment(std::string_view key, std::int64_t delta,
                         std::optional<std::chrono::milliseconds> ttl_on_create = std::nullopt) override;
  bool compare_and_set(std::string_view key, const std::optional<std::string>& expected, std::string_view desired,
                       std::optional<std::chrono::milliseconds> ttl = std::nullopt) override;
  std::optional<std::string> unavailable_reason() override { return std::nullopt; }
  std::string_view adapter_name() const override { return "memory"; }

  // Entries held, including expired ones not yet swept; for tests and metrics.
  std::size_t size() const;

 private:
  struct Entry {
    std::string value;
    Clock::time_point expires_at;  // time_point::max() when it does not expire
    std::uint64_t written;         // the shard's write counter at the last write, for "least recently written"
  };
  struct TransparentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  using Entries = std::unordered_map<std::string, Entry, TransparentHash, std::equal_to<>>;
  struct Shard {
    mutable std::mutex mutex;
    Entries entries;
    std::uint64_t writes = 0;
    std::size_t sweep_cursor = 0;  // the next bucket the incremental sweep looks at
  };

  Shard& shard_for(std::string_view key);
  // The entry of `key` if it exists and has not expired; an expired one is erased on the way.
  static Entries::iterator find_live(Shard& shard, std::string_view key, Clock::time_point now);
  // Stores `value` under `key` (created if absent, making room first), replacing value and expiry.
  void write(Shard& shard, Entries::iterator existing, std::string_view key, std::string_view value,
             std::optional<std::chrono::milliseconds> ttl, Clock::time_point now);
  void make_room(Shard& shard, Clock::time_point now) const;
  static void sweep_some(Shard& shard, Clock::time_point now);

  std::size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace intercab::cache
