// Rules both cache adapters apply the same way.
#include "platform/cache/value_rules.hpp"

#include <charconv>

#include "platform/cache/cache.hpp"

namespace intercab::cache::detail {

void check_ttl(std::optional<std::chrono::milliseconds> ttl) {
  if (ttl && ttl->count() < 1) {
    throw CacheError("cache TTL must be at least 1 ms, got " + std::to_string(ttl->count()) + " ms");
  }
}

std::optional<std::int64_t> parse_canonical_integer(std::string_view text) {
  const std::string_view digits = text.starts_with('-') ? text.substr(1) : text;
  if (digits.empty() || digits.front() < '0' || digits.front() > '9') return std::nullopt;
  if (digits.front() == '0' && text.size() > 1) return std::nullopt;  // "01", "-0", "-01"
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace intercab::cache::detail
