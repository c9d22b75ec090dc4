// Rules both cache adapters apply the same way: the smallest TTL, and which values count as integers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace intercab::cache::detail {

// Throws CacheError for a TTL below 1 ms: Redis refuses those, so the memory adapter does too.
void check_ttl(std::optional<std::chrono::milliseconds> ttl);

// The value as Redis's INCRBY reads it: an optional '-', then digits without leading zeros ("0" alone is
// fine, "-0" is not), within int64. Nullopt otherwise ("+1", " 1", "01", "1.0", "").
std::optional<std::int64_t> parse_canonical_integer(std::string_view text);

}  // namespace intercab::cache::detail
