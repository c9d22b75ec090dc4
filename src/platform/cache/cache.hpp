// The cache port: a key-value store with expiry, counters and compare-and-set, and open_cache(), which
// picks its adapter from a URL: in-process memory (one instance) or Redis (shared by every instance).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace intercab::cache {

// A request the store refuses whatever its health: increment() of a value that is not a canonical
// integer ("12", "-3"; not "+3", "012" or " 3") or that would overflow int64, or a TTL below 1 ms.
class CacheError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The backend cannot be reached or did not answer in time (Redis down, refused, timed out).
// The operation may or may not have been applied; calls after the backend is back succeed again.
class CacheUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CacheOptions {
  // Upper bound of the memory adapter, rounded up to a multiple of its shard count.
  std::size_t memory_max_entries = 1'000'000;
  // Connections to Redis; callers beyond this many wait (up to redis_timeout) for a free one.
  int redis_pool_size = 8;
  // Bound on connecting and on each command's round trip.
  std::chrono::milliseconds redis_timeout{500};
};

// Keys and values are arbitrary bytes (NUL included). A `ttl` is relative to the call and must be at
// least 1 ms; without one the entry does not expire (set() and compare_and_set() then remove any earlier
// TTL, as Redis SET does). Every method is thread-safe and throws CacheUnavailable when the backend
// cannot be reached.
class Cache {
 public:
  Cache() = default;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;
  virtual ~Cache();

  virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void set(std::string_view key, std::string_view value,
                   std::optional<std::chrono::milliseconds> ttl = std::nullopt) = 0;
  // True if the key existed (and had not expired).
  virtual bool erase(std::string_view key) = 0;
  // Adds `delta` to the integer stored at `key` (a missing key counts as 0) and returns the result.
  // `ttl_on_create` applies only when this call creates the key; an existing key keeps its expiry.
  // Throws CacheError when the stored value is not an integer or the result would overflow.
  virtual std::int64_t increment(std::string_view key, std::int64_t delta,
                                 std::optional<std::chrono::milliseconds> ttl_on_create = std::nullopt) = 0;
  // Writes `desired` only if the current value equals `expected` (nullopt: the key must be absent),
  // atomically with respect to every other writer of the store. True when written.
  virtual bool compare_and_set(std::string_view key, const std::optional<std::string>& expected,
                               std::string_view desired,
                               std::optional<std::chrono::milliseconds> ttl = std::nullopt) = 0;
  // Nullopt when the backend answers now; otherwise why not, for /ready. Never throws.
  virtual std::optional<std::string> unavailable_reason() = 0;
  // "memory" or "redis".
  virtual std::string_view adapter_name() const = 0;
};

// "" or "mem://": the memory adapter. "redis://[user:password@]host[:port][/db]": the Redis adapter
// (port 6379 and database 0 by default; user and password percent-encoded). The Redis adapter connects
// lazily, so this does not fail when Redis is down: ask unavailable_reason(). Anything else throws
// std::invalid_argument naming the URL (password masked) and the accepted forms.
std::unique_ptr<Cache> open_cache(const std::string& url, const CacheOptions& options = {});

}  // namespace intercab::cache
