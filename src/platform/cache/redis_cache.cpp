// The Redis adapter: hiredis's synchronous API over a small pool of connections. Compare-and-set and
// increment-with-expiry run as Lua scripts, which Redis executes atomically.
#include "platform/cache/redis_cache.hpp"

#include <hiredis.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "platform/cache/value_rules.hpp"

namespace intercab::cache {
namespace {

using namespace std::chrono_literals;

// KEYS[1]: the key. ARGV[1]: "1" when a current value is expected, "0" when the key must be absent;
// ARGV[2]: the expected value; ARGV[3]: the value to write; ARGV[4]: its TTL in ms, "0" for none.
constexpr std::string_view kCompareAndSetLua = R"lua(
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[4] == '0' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
)lua";

// KEYS[1]: the key. ARGV[1]: the delta; ARGV[2]: the TTL in ms if this call creates the key.
// Returns the new value with GET rather than INCRBY's result: Lua numbers are doubles, exact only to 2^53.
constexpr std::string_view kIncrementLua = R"lua(
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('INCRBY', KEYS[1], ARGV[1])
if created then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('GET', KEYS[1])
)lua";

// How long operations fail at once after Redis could not be reached. Without it, every request of a
// service that fails open (the gateway's rate limiter) would wait up to the connect timeout against a
// black-holed Redis; with it, one attempt per interval pays that price and the rest fail in microseconds.
constexpr auto kRetryBackoff = 100ms;
// unavailable_reason() answers /ready, which must be quick even when Redis hangs.
constexpr auto kProbeTimeout = 250ms;
constexpr std::size_t kMaxArguments = 8;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval value{};
  value.tv_sec = static_cast<time_t>(duration.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return value;
}

std::string sha1_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("cannot compute the SHA-1 of a Redis script");
  }
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    std::array<char, 3> pair{};
    std::snprintf(pair.data(), pair.size(), "%02x", digest[i]);
    hex += pair.data();
  }
  return hex;
}

std::string reply_text(const redisReply& reply) { return std::string(reply.str, reply.len); }

// hiredis writes with write(2), which raises SIGPIPE when Redis has closed the connection, and the
// default action of SIGPIPE kills the process. A server wants EPIPE instead, so the adapter ignores the
// signal unless the process already chose how to handle it.
void ignore_sigpipe_unless_handled() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;
      sigemptyset(&ignore.sa_mask);
      ::sigaction(SIGPIPE, &ignore, nullptr);
    }
  });
}

// True while nothing is waiting to be read: an idle connection that became readable was closed by the
// server (Redis restarted, idle timeout) or holds bytes that would desynchronise the protocol.
bool still_open(const redisContext* context) {
  pollfd descriptor{context->fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&descriptor, 1, 0) == 0;
}

bool is_unavailable_error(std::string_view message) {
  // Replies of a Redis that cannot serve anyone right now, or not this client: not the caller's fault.
  for (std::string_view prefix : {"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOAUTH",
                                  "WRONGPASS", "NOPERM", "OOM"}) {
    if (message.starts_with(prefix)) return true;
  }
  return false;
}

// Copies a reply into the tree callers see. Only RESP2 types arrive: the pool never switches to RESP3.
RedisValue to_value(const redisReply& reply) {
  RedisValue value;
  switch (reply.type) {
    case REDIS_REPLY_NIL:
      return value;
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::integer;
      value.integer = reply.integer;
      return value;
    case REDIS_REPLY_STRING:
      value.type = RedisValue::Type::string;
      value.text = reply_text(reply);
      return value;
    case REDIS_REPLY_STATUS:
      value.type = RedisValue::Type::status;
      value.text = reply_text(reply);
      return value;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::array;
      value.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) value.elements.push_back(to_value(*reply.element[i]));
      return value;
    case REDIS_REPLY_ERROR:
      // Only nested in an array (a script returning error tables); a top-level error was thrown already.
      throw CacheError("Redis answered with an error inside a reply: " + reply_text(reply));
    default:
      throw CacheError("Redis answered with a reply of unexpected type " + std::to_string(reply.type));
  }
}

}  // namespace

RedisCache::Script::Script(std::string_view lua) : source(lua), sha1(sha1_hex(lua)) {}

void RedisCache::ContextFree::operator()(redisContext* context) const { redisFree(context); }
void RedisCache::ReplyFree::operator()(redisReply* reply) const { freeReplyObject(reply); }

RedisCache::Lease::~Lease() { owner_.give_back(std::move(context_)); }

RedisCache::RedisCache(RedisAddress address, const CacheOptions& options)
    : address_(std::move(address)),
      pool_size_(options.redis_pool_size),
      timeout_(options.redis_timeout),
      compare_and_set_script_(kCompareAndSetLua),
      increment_script_(kIncrementLua) {
  if (pool_size_ < 1) throw std::invalid_argument("redis cache: redis_pool_size must be at least 1");
  if (timeout_ < 1ms) throw std::invalid_argument("redis cache: redis_timeout must be at least 1 ms");
  ignore_sigpipe_unless_handled();
}

RedisCache::~RedisCache() = default;

void RedisCache::fail(const std::string& reason) {
  {
    std::lock_guard lock(failure_mutex_);
    last_failure_ = reason;
  }
  retry_not_before_ns_.store(steady_ns() + std::chrono::nanoseconds(kRetryBackoff).count(), std::memory_order_relaxed);
  throw CacheUnavailable(reason);
}

RedisCache::Context RedisCache::reserve(std::chrono::milliseconds timeout, bool respect_backoff) {
  if (respect_backoff && steady_ns() < retry_not_before_ns_.load(std::memory_order_relaxed)) {
    std::lock_guard lock(failure_mutex_);
    throw CacheUnavailable(last_failure_);
  }
  std::unique_lock lock(pool_mutex_);
  if (!slot_freed_.wait_for(lock, timeout, [&] { return !idle_.empty() || open_ < pool_size_; })) {
    throw CacheUnavailable("all " + std::to_string(pool_size_) + " connections to Redis at " + address_.describe() +
                           " stayed busy for " + std::to_string(timeout.count()) + " ms");
  }
  if (idle_.empty()) {
    ++open_;
    return nullptr;
  }
  auto context = std::move(idle_.back());
  idle_.pop_back();
  return context;
}

RedisCache::Lease::Lease(RedisCache& owner, std::chrono::milliseconds timeout, bool respect_backoff)
    : owner_(owner), context_(owner.reserve(timeout, respect_backoff)) {
  // From here this lease holds one slot of the pool, given back by the destructor, or below if the
  // constructor throws (when no destructor runs).
  try {
    if (!context_ || !still_open(context_.get())) {
      context_.reset();
      context_ = owner_.connect(timeout);
    }
  } catch (...) {
    owner_.give_back(nullptr);
    throw;
  }
}

void RedisCache::give_back(Context context) {
  {
    std::lock_guard lock(pool_mutex_);
    if (context) {
      idle_.push_back(std::move(context));
    } else {
      --open_;
    }
  }
  slot_freed_.notify_one();
}

RedisCache::Context RedisCache::connect(std::chrono::milliseconds timeout) {
  Context context(redisConnectWithTimeout(address_.host.c_str(), address_.port, to_timeval(timeout)));
  if (!context) fail("cannot allocate a connection to Redis");
  if (context->err != 0) fail("cannot connect to Redis at " + address_.describe() + ": " + context->errstr);
  if (redisSetTimeout(context.get(), to_timeval(timeout_)) != REDIS_OK) {
    fail("cannot set the timeout of a connection to Redis at " + address_.describe());
  }
  const auto setup = [&](std::span<const std::string_view> arguments, std::string_view what) {
    std::array<const char*, kMaxArguments> argv{};
    std::array<std::size_t, kMaxArguments> lengths{};
    for (std::size_t i = 0; i < arguments.size(); ++i) {
      argv[i] = arguments[i].data();
      lengths[i] = arguments[i].size();
    }
    Reply reply(static_cast<redisReply*>(
        redisCommandArgv(context.get(), static_cast<int>(arguments.size()), argv.data(), lengths.data())));
    if (!reply)
      fail("Redis at " + address_.describe() + " failed during " + std::string(what) + ": " + context->errstr);
    if (reply->type == REDIS_REPLY_ERROR) {
      fail("Redis at " + address_.describe() + " refused " + std::string(what) + ": " + reply_text(*reply));
    }
  };
  if (!address_.password.empty()) {
    if (address_.user.empty()) {
      const std::array<std::string_view, 2> auth{"AUTH", address_.password};
      setup(auth, "AUTH");
    } else {
      const std::array<std::string_view, 3> auth{"AUTH", address_.user, address_.password};
      setup(auth, "AUTH");
    }
  }
  if (address_.database != 0) {
    const auto database = std::to_string(address_.database);
    const std::array<std::string_view, 2> select{"SELECT", database};
    setup(select, "SELECT " + database);
  }
  return context;
}

RedisCache::Reply RedisCache::send(Lease& lease, std::span<const std::string_view> arguments) {
  // Scripts and raw commands take any number of arguments (ZREM of many members): allocating these two
  // vectors costs nothing next to the round trip.
  std::vector<const char*> argv(arguments.size());
  std::vector<std::size_t> lengths(arguments.size());
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    argv[i] = arguments[i].data();
    lengths[i] = arguments[i].size();
  }
  auto* raw = redisCommandArgv(lease.get(), static_cast<int>(arguments.size()), argv.data(), lengths.data());
  if (raw == nullptr) {
    // The connection is unusable after any transport error (hiredis keeps the error in the context).
    const std::string detail = lease.get()->errstr;
    lease.mark_broken();
    if (detail == std::strerror(EAGAIN)) {
      fail("Redis at " + address_.describe() + " did not answer within " + std::to_string(timeout_.count()) + " ms");
    }
    fail("lost the connection to Redis at " + address_.describe() + ": " + detail);
  }
  return Reply(static_cast<redisReply*>(raw));
}

RedisCache::Reply RedisCache::run(std::span<const std::string_view> arguments) {
  Reply reply;
  {
    Lease lease(*this, timeout_, true);
    reply = send(lease, arguments);
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    const auto message = reply_text(*reply);
    if (is_unavailable_error(message)) fail("Redis at " + address_.describe() + " cannot serve: " + message);
    throw CacheError("Redis refused " + std::string(arguments.front()) + ": " + message);
  }
  return reply;
}

RedisCache::Reply RedisCache::run_script(const Script& script, std::size_t key_count,
                                         std::span<const std::string_view> keys_and_arguments) {
  if (key_count > keys_and_arguments.size()) throw std::logic_error("redis cache: more script keys than arguments");
  const auto key_count_text = std::to_string(key_count);
  std::vector<std::string_view> arguments{"EVALSHA", script.sha1, key_count_text};
  arguments.insert(arguments.end(), keys_and_arguments.begin(), keys_and_arguments.end());
  const std::span<const std::string_view> command(arguments);
  Reply reply;
  {
    Lease lease(*this, timeout_, true);
    reply = send(lease, command);
    if (reply->type == REDIS_REPLY_ERROR && reply_text(*reply).starts_with("NOSCRIPT")) {
      // EVAL also caches the script, so later calls go back to EVALSHA.
      arguments[0] = "EVAL";
      arguments[1] = script.source;
      reply = send(lease, command);
    }
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    const auto message = reply_text(*reply);
    if (is_unavailable_error(message)) fail("Redis at " + address_.describe() + " cannot serve: " + message);
    throw CacheError("Redis refused a cache script: " + message);
  }
  return reply;
}

RedisValue RedisCache::command(std::span<const std::string_view> arguments) {
  if (arguments.empty()) throw std::invalid_argument("redis cache: a command needs at least its name");
  return to_value(*run(arguments));
}

RedisValue RedisCache::eval(const Script& script, std::span<const std::string_view> keys,
                            std::span<const std::string_view> arguments) {
  std::vector<std::string_view> keys_and_arguments(keys.begin(), keys.end());
  keys_and_arguments.insert(keys_and_arguments.end(), arguments.begin(), arguments.end());
  return to_value(*run_script(script, keys.size(), keys_and_arguments));
}

std::optional<std::string> RedisCache::get(std::string_view key) {
  const std::array<std::string_view, 2> command{"GET", key};
  const auto reply = run(command);
  if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
  if (reply->type != REDIS_REPLY_STRING) throw CacheError("Redis answered GET with a value that is not a string");
  return reply_text(*reply);
}

void RedisCache::set(std::string_view key, std::string_view value, std::optional<std::chrono::milliseconds> ttl) {
  detail::check_ttl(ttl);
  if (ttl) {
    const auto milliseconds = std::to_string(ttl->count());
    const std::array<std::string_view, 5> command{"SET", key, value, "PX", milliseconds};
    run(command);
  } else {
    const std::array<std::string_view, 3> command{"SET", key, value};
    run(command);
  }
}

bool RedisCache::erase(std::string_view key) {
  const std::array<std::string_view, 2> command{"DEL", key};
  return run(command)->integer > 0;
}

std::int64_t RedisCache::increment(std::string_view key, std::int64_t delta,
                                   std::optional<std::chrono::milliseconds> ttl_on_create) {
  detail::check_ttl(ttl_on_create);
  const auto delta_text = std::to_string(delta);
  if (!ttl_on_create) {
    const std::array<std::string_view, 3> command{"INCRBY", key, delta_text};
    return run(command)->integer;
  }
  const auto milliseconds = std::to_string(ttl_on_create->count());
  const std::array<std::string_view, 3> keys_and_arguments{key, delta_text, milliseconds};
  const auto reply = run_script(increment_script_, 1, keys_and_arguments);
  const auto value =
      reply->type == REDIS_REPLY_STRING ? detail::parse_canonical_integer(reply_text(*reply)) : std::nullopt;
  if (!value) throw CacheError("Redis answered an increment with something other than an integer");
  return *value;
}

bool RedisCache::compare_and_set(std::string_view key, const std::optional<std::string>& expected,
                                 std::string_view desired, std::optional<std::chrono::milliseconds> ttl) {
  detail::check_ttl(ttl);
  const auto milliseconds = ttl ? std::to_string(ttl->count()) : std::string("0");
  const std::array<std::string_view, 5> keys_and_arguments{
      key, expected ? "1" : "0", expected ? std::string_view(*expected) : std::string_view(), desired, milliseconds};
  return run_script(compare_and_set_script_, 1, keys_and_arguments)->integer == 1;
}

std::optional<std::string> RedisCache::unavailable_reason() {
  const auto probe_timeout = std::min(timeout_, std::chrono::milliseconds(kProbeTimeout));
  try {
    // Not held back by the failure backoff: this probe is how readiness notices that Redis is back.
    Lease lease(*this, probe_timeout, false);
    redisSetTimeout(lease.get(), to_timeval(probe_timeout));
    const std::array<std::string_view, 1> ping{"PING"};
    const auto reply = send(lease, ping);
    redisSetTimeout(lease.get(), to_timeval(timeout_));
    if (reply->type == REDIS_REPLY_STATUS && reply_text(*reply) == "PONG") {
      retry_not_before_ns_.store(0, std::memory_order_relaxed);
      return std::nullopt;
    }
    return "Redis at " + address_.describe() + " answered PING with: " + reply_text(*reply);
  } catch (const std::exception& error) {
    return std::string(error.what());
  }
}

}  // namespace intercab::cache
