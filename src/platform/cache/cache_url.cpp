// Cache URLs, parsed with Boost.URL so that percent-encoded credentials and IPv6 hosts are handled.
#include "platform/cache/cache_url.hpp"

#include <boost/url/parse.hpp>
#include <charconv>
#include <optional>
#include <stdexcept>

namespace intercab::cache {
namespace {

constexpr std::string_view kAcceptedForms = R"("" or "mem://" (memory) or "redis://[user:password@]host[:port][/db]")";

[[noreturn]] void refuse(const std::string& url, std::string_view problem) {
  throw std::invalid_argument("cache URL \"" + redact_url(url) + "\" " + std::string(problem) + "; expected " +
                              std::string(kAcceptedForms));
}

// Digits only, within [min, max]; nullopt otherwise (no sign, no spaces, no trailing junk).
std::optional<int> parse_bounded(std::string_view text, int min, int max) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value < min || value > max) return std::nullopt;
  return value;
}

}  // namespace

std::string RedisAddress::describe() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(database);
}

std::string redact_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const auto authority_start = scheme_end + 3;
  // The last '@', so that a password holding an unencoded '@' is masked whole; masking too much of a
  // malformed URL is harmless, showing part of a password is not.
  const auto at = url.rfind('@');
  if (at == std::string::npos || at < authority_start) return url;
  const auto colon = url.find(':', authority_start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

CacheLocation parse_cache_url(const std::string& url) {
  if (url.empty() || url == "mem://") return CacheLocation{};
  if (!url.starts_with("redis://")) refuse(url, "has an unsupported scheme");
  const auto parsed = boost::urls::parse_uri(url);
  if (!parsed) refuse(url, "is not a valid URL");
  const auto& uri = *parsed;
  if (uri.has_query() || uri.has_fragment()) refuse(url, "must not have a query or fragment");

  CacheLocation location;
  location.adapter = CacheLocation::Adapter::redis;
  auto& redis = location.redis;
  redis.host = uri.host_address();
  if (redis.host.empty()) refuse(url, "has no host");
  if (uri.has_port()) {
    const auto port = parse_bounded(uri.port(), 1, 65535);
    if (!port) refuse(url, "has a port that is not a number from 1 to 65535");
    redis.port = static_cast<std::uint16_t>(*port);
  }
  if (uri.has_userinfo()) {
    if (!uri.has_password() || uri.password().empty()) refuse(url, "has credentials without a password");
    redis.user = uri.user();
    redis.password = uri.password();
  }
  const std::string_view path = uri.encoded_path();
  if (path.size() > 1) {
    const auto database = parse_bounded(path.substr(1), 0, 1'000'000);
    if (!database) refuse(url, "has a path that is not a database number");
    redis.database = *database;
  }
  return location;
}

}  // namespace intercab::cache
