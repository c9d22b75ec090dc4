// The Redis adapter of the cache port: a pool of synchronous hiredis connections that reconnect by
// themselves, so every instance of a service shares one store and survives a Redis restart.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/cache/cache.hpp"
#include "platform/cache/cache_url.hpp"

struct redisContext;
struct redisReply;

namespace intercab::cache {

// One reply of Redis (RESP2), as command() and eval() return it. Error replies are never values: they are
// thrown (CacheError, or CacheUnavailable for the replies of a Redis that cannot serve).
struct RedisValue {
  enum class Type { nil, integer, string, status, array };
  Type type = Type::nil;
  std::int64_t integer = 0;          // Type::integer
  std::string text;                  // Type::string and Type::status
  std::vector<RedisValue> elements;  // Type::array
};

class RedisCache final : public Cache {
 public:
  // A Lua script for eval(), hashed once when built so that calls send only its SHA-1.
  struct Script {
    explicit Script(std::string_view lua);
    std::string source;
    std::string sha1;  // hex, for EVALSHA
  };

  // Connects lazily: nothing is opened until the first operation. Throws std::invalid_argument on a
  // pool size below 1 or a timeout below 1 ms.
  RedisCache(RedisAddress address, const CacheOptions& options);
  ~RedisCache() override;

  std::optional<std::string> get(std::string_view key) override;
  void set(std::string_view key, std::string_view value,
           std::optional<std::chrono::milliseconds> ttl = std::nullopt) override;
  bool erase(std::string_view key) override;
  std::int64_t increment(std::string_view key, std::int64_t delta,
                         std::optional<std::chrono::milliseconds> ttl_on_create = std::nullopt) override;
  bool compare_and_set(std::string_view key, const std::optional<std::string>& expected, std::string_view desired,
                       std::optional<std::chrono::milliseconds> ttl = std::nullopt) override;
  std::optional<std::string> unavailable_reason() override;
  std::string_view adapter_name() const override { return "redis"; }

  // Raw access for adapters built on Redis data types other than strings (geo sets, hashes, sorted
  // sets). One command on a pooled connection, with the reconnects, backoff and errors of every other
  // operation. Commands that change the state of a connection (SELECT, AUTH, HELLO, MULTI, WATCH,
  // SUBSCRIBE, CLIENT ...) must not be sent: the connection goes back to the pool afterwards.
  RedisValue command(std::span<const std::string_view> arguments);
  // Runs `script` with EVALSHA (EVAL when Redis does not know it yet), atomically, same errors as command();
  // a Lua error is a CacheError.
  RedisValue eval(const Script& script, std::span<const std::string_view> keys,
                  std::span<const std::string_view> arguments);

 private:
  struct ContextFree {
    void operator()(redisContext* context) const;
  };
  struct ReplyFree {
    void operator()(redisReply* reply) const;
  };
  using Context = std::unique_ptr<redisContext, ContextFree>;
  using Reply = std::unique_ptr<redisReply, ReplyFree>;

  // A connection borrowed from the pool: a pooled one that is still open, or a new one. `timeout` bounds
  // the wait for a free slot and the connect; with `respect_backoff`, fails at once while the last
  // failure is recent. Given back on destruction, or dropped if marked broken.
  class Lease {
   public:
    Lease(RedisCache& owner, std::chrono::milliseconds timeout, bool respect_backoff);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    redisContext* get() const { return context_.get(); }
    void mark_broken() { context_.reset(); }

   private:
    RedisCache& owner_;
    Context context_;
  };

  // Reserves one of the pool's slots: an idle connection, or null when a new one may be opened.
  Context reserve(std::chrono::milliseconds timeout, bool respect_backoff);
  Context connect(std::chrono::milliseconds timeout);
  void give_back(Context context);
  // Sends one command on `lease`; a transport failure breaks the lease and throws CacheUnavailable.
  // Error replies are returned as they are.
  Reply send(Lease& lease, std::span<const std::string_view> arguments);
  // Lease + send + give back, throwing for error replies (CacheError, or CacheUnavailable for the
  // replies of a Redis that cannot serve: LOADING, BUSY, NOAUTH...).
  Reply run(std::span<const std::string_view> arguments);
  // EVALSHA, falling back to EVAL when Redis does not know the script (restarted, SCRIPT FLUSH). The first
  // `key_count` of `keys_and_arguments` are the script's KEYS, the rest its ARGV.
  Reply run_script(const Script& script, std::size_t key_count, std::span<const std::string_view> keys_and_arguments);
  [[noreturn]] void fail(const std::string& reason);

  const RedisAddress address_;
  const int pool_size_;
  const std::chrono::milliseconds timeout_;
  const Script compare_and_set_script_;
  const Script increment_script_;

  std::mutex pool_mutex_;
  std::condition_variable slot_freed_;
  std::vector<Context> idle_;  // open connections nobody uses, most recently used last
  int open_ = 0;               // connections in idle_ plus those leased or being connected

  // After a failure, operations fail at once for a short while instead of each paying a connect
  // timeout against a Redis that is known to be down (see redis_cache.cpp).
  std::atomic<std::int64_t> retry_not_before_ns_{0};
  std::mutex failure_mutex_;
  std::string last_failure_;
};

}  // namespace intercab::cache
