#include "platform/auth/api_key.hpp"

#include <gtest/gtest.h>

#include <set>

namespace intercab::auth {
namespace {

TEST(ApiKey, GeneratedKeysHaveTheDocumentedShape) {
  const auto key = generate_api_key();
  EXPECT_EQ(key.text().size(), kApiKeyCharacters);
  EXPECT_EQ(key.text().size(), 58U);
  EXPECT_TRUE(key.id_prefix.starts_with("ick_"));
  EXPECT_EQ(key.id_prefix.size(), 15U);
  EXPECT_EQ(key.secret.size(), 43U);
  const auto parsed = parse_api_key(key.text());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->id_prefix, key.id_prefix);
  EXPECT_EQ(parsed->secret, key.secret);
}

TEST(ApiKey, GeneratedKeysAreDistinct) {
  std::set<std::string> ids;
  std::set<std::string> secrets;
  for (int i = 0; i < 1000; ++i) {
    const auto key = generate_api_key();
    ids.insert(key.id_prefix);
    secrets.insert(key.secret);
  }
  EXPECT_EQ(ids.size(), 1000U);
  EXPECT_EQ(secrets.size(), 1000U);
}

TEST(ApiKey, HashMatchesOnlyTheSameKey) {
  const auto key = generate_api_key();
  const auto stored = hash_api_key(key);
  EXPECT_EQ(stored.size(), 64U);
  EXPECT_EQ(stored.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(hash_api_key(key), stored);  // deterministic: no salt needed for 256 random bits
  EXPECT_EQ(stored.find(key.secret), std::string::npos);
  EXPECT_TRUE(api_key_matches(*parse_api_key(key.text()), stored));

  auto wrong_secret = key;
  wrong_secret.secret[5] = wrong_secret.secret[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(api_key_matches(wrong_secret, stored));
  auto wrong_id = key;
  wrong_id.id_prefix[6] = wrong_id.id_prefix[6] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(api_key_matches(wrong_id, stored));
  EXPECT_FALSE(api_key_matches(key, stored.substr(1)));
  EXPECT_FALSE(api_key_matches(key, ""));
  EXPECT_FALSE(api_key_matches(key, std::string(64, '0')));
}

TEST(ApiKey, KnownVector) {
  // BLAKE2b-256 of the whole key text (independently: `b2sum -l 256` of the same 58 bytes).
  const ApiKey key{"ick_AAAAAAAAAAA", std::string(43, 'A')};
  EXPECT_EQ(hash_api_key(key), "e86a73473339de482a8d0e0109b35307d844530b49cdd2172934d603a95906e1");
}

TEST(ApiKey, ParseRejectsAnythingElse) {
  const auto text = generate_api_key().text();
  auto non_canonical = text;
  // The last character of a 32-byte secret carries 2 unused bits; setting one spells the same bytes differently.
  const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  non_canonical.back() = alphabet[alphabet.find(text.back()) | 1U];
  for (const auto& bad : {std::string(""), std::string("ick_"), text.substr(0, 57), text + "A", "ick-" + text.substr(4),
                          "ICK_" + text.substr(4), "xk_" + text.substr(3), text.substr(0, 20) + "+" + text.substr(21),
                          text.substr(0, 20) + "/" + text.substr(21), text.substr(0, 20) + "=" + text.substr(21),
                          " " + text.substr(1), non_canonical}) {
    EXPECT_FALSE(parse_api_key(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace intercab::auth
