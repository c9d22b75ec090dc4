// API keys of machine clients (sent as X-API-Key): generated once, shown once, stored only as a hash.
//
// Format: "ick_" + 11 base64url characters (a random 64-bit id) + 43 base64url characters (a
// random 256-bit secret), 58 characters in all, no separator (so a double click selects the whole
// key). The first 15 characters, the id prefix, are not secret: they are stored in clear, looked
// up, and shown in key lists so that people can tell their keys apart.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace intercab::auth {

inline constexpr std::string_view kApiKeyPrefix = "ick_";
inline constexpr std::size_t kApiKeyIdCharacters = 11;      // 8 random bytes
inline constexpr std::size_t kApiKeySecretCharacters = 43;  // 32 random bytes
inline constexpr std::size_t kApiKeyCharacters = 4 + kApiKeyIdCharacters + kApiKeySecretCharacters;

struct ApiKey {
  std::string id_prefix;  // "ick_" + id: the database lookup key, safe to show
  std::string secret;     // never stored, never logged

  // The key as the client sends it.
  std::string text() const { return id_prefix + secret; }
};

// A new random key. Show text() to its owner once; store id_prefix and hash_api_key(key).
ApiKey generate_api_key();

// Splits a presented key, or nullopt if it is not exactly in our format (wrong prefix or length,
// characters outside strict base64url).
std::optional<ApiKey> parse_api_key(std::string_view presented);

// BLAKE2b-256 of the whole key, 64 hex digits. A fast hash is right here, unlike for passwords:
// the key carries 256 random bits, so no guessing attack benefits from a slow hash, and a slow
// one would cost every API request tens of milliseconds.
std::string hash_api_key(const ApiKey& key);

// Whether `presented` hashes to `stored_hash`, compared in constant time.
bool api_key_matches(const ApiKey& presented, std::string_view stored_hash);

}  // namespace intercab::auth
