// API key generation, parsing and hashing.
#include "platform/auth/api_key.hpp"

#include <sodium.h>

#include <array>

#include "platform/auth/base64url.hpp"
#include "platform/auth/sodium.hpp"

namespace intercab::auth {
namespace {

std::string random_base64url(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  auto encoded = base64url_encode(raw);
  sodium_memzero(raw.data(), raw.size());
  return encoded;
}

}  // namespace

ApiKey generate_api_key() {
  ensure_sodium_initialized();
  return {std::string(kApiKeyPrefix) + random_base64url(8), random_base64url(32)};
}

std::optional<ApiKey> parse_api_key(std::string_view presented) {
  if (presented.size() != kApiKeyCharacters || !presented.starts_with(kApiKeyPrefix)) return std::nullopt;
  const auto id = presented.substr(kApiKeyPrefix.size(), kApiKeyIdCharacters);
  const auto secret = presented.substr(kApiKeyPrefix.size() + kApiKeyIdCharacters);
  // Strict decoding also rejects non-canonical last characters: one key, one spelling.
  if (!base64url_decode(id) || !base64url_decode(secret)) return std::nullopt;
  return ApiKey{std::string(presented.substr(0, kApiKeyPrefix.size() + kApiKeyIdCharacters)), std::string(secret)};
}

std::string hash_api_key(const ApiKey& key) {
  ensure_sodium_initialized();
  const auto text = key.text();
  std::array<unsigned char, crypto_generichash_BYTES> digest{};  // 32 bytes: BLAKE2b-256
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                     nullptr, 0);
  std::array<char, crypto_generichash_BYTES * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return hex.data();
}

bool api_key_matches(const ApiKey& presented, std::string_view stored_hash) {
  const auto computed = hash_api_key(presented);
  return stored_hash.size() == computed.size() &&
         sodium_memcmp(stored_hash.data(), computed.data(), computed.size()) == 0;
}

}  // namespace intercab::auth
