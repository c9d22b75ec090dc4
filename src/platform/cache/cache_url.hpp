// Parsing of cache URLs ("mem://", "redis://user:password@host:port/db") into what the adapters need.
#pragma once

#include <cstdint>
#include <string>

namespace intercab::cache {

struct RedisAddress {
  std::string host;
  std::uint16_t port = 6379;
  std::string user;      // empty: AUTH with the password alone (the "default" user)
  std::string password;  // empty: no AUTH
  int database = 0;

  // "host:port/db", without credentials, for messages and logs.
  std::string describe() const;
};

struct CacheLocation {
  enum class Adapter { memory, redis };
  Adapter adapter = Adapter::memory;
  RedisAddress redis;  // only for Adapter::redis
};

// "" or "mem://" -> memory; "redis://[user:password@]host[:port][/db]" -> redis, with user and password
// percent-decoded and IPv6 hosts in brackets. Anything else throws std::invalid_argument naming the URL
// (its password masked) and the accepted forms.
CacheLocation parse_cache_url(const std::string& url);

// The URL with its password replaced by "***", safe to log or put in an error message.
std::string redact_url(const std::string& url);

}  // namespace intercab::cache
