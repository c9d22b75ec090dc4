// Small text helpers shared by the platform libraries: UTF-8 decoding and repair, joining, ids.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::text {

// One character decoded from UTF-8 (Unicode table 3-7: no overlong forms, surrogates or values
// past U+10FFFF). When `valid` is false, `size` is the length of the maximal ill-formed subpart,
// which Unicode recommends replacing with one U+FFFD; it is at least 1.
struct Utf8Char {
  char32_t value = 0;
  std::size_t size = 1;
  bool valid = false;
};

// Decodes the character starting at byte `at` (< text.size()).
Utf8Char decode_utf8(std::string_view text, std::size_t at);

bool is_valid_utf8(std::string_view text);

// `text` with every ill-formed subpart replaced by U+FFFD, so that it can go into JSON or a
// Prometheus label whatever a client sent.
std::string replace_invalid_utf8(std::string_view text);

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

std::string join(const std::vector<std::string>& parts, std::string_view separator);

// A random UUID (version 4) in its 36-character text form, for request and event ids.
std::string new_uuid_v4();

// A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids made later sort
// later, which keeps B-tree inserts at the right edge and gives lists a stable creation order.
std::string new_uuid_v7(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// RFC 3339 in UTC with a Z and whole seconds: "2026-11-24T06:30:00Z" (API conventions).
std::string format_rfc3339_utc(std::chrono::system_clock::time_point time);

// Parses "2026-11-24T06:30:00Z" or "2026-11-24T06:30:00.123456Z" (UTC only, up to 9 fraction digits,
// kept to microseconds); nullopt for anything else, including impossible dates (2026-02-30).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339_utc(std::string_view text);

}  // namespace intercab::text
