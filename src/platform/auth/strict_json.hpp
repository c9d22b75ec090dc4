// A JSON parser for untrusted security-relevant documents (JWT headers and claims, JWKS).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string_view>

namespace intercab::auth {

// Parses exactly one JSON document, or returns nullopt. Unlike boost::json::parse (which, in
// Boost 1.81, silently keeps the last of duplicate keys) this rejects an object with a repeated
// key: two parsers reading {"sub":"a","sub":"b"} differently is a known token-confusion trick
// (RFC 8725 §2.8, RFC 7515 §5.2). Also rejects invalid UTF-8, comments, trailing commas and
// nesting deeper than `max_depth`.
std::optional<boost::json::value> parse_json_strict(std::string_view text, std::size_t max_depth = 16);

}  // namespace intercab::auth
