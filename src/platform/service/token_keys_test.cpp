#include "platform/service/token_keys.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "platform/auth/jwt.hpp"
#include "process.hpp"

namespace intercab::service {
namespace {

config::Config load_with(const testing::TempDir& home, config::Environment env, const std::string& yaml = {}) {
  env["INTERCAB_HOME"] = home.path().string();
  if (!yaml.empty()) {
    std::filesystem::create_directories(home.path() / "config");
    std::ofstream(home.path() / "config" / "intercab.yaml") << yaml;
  }
  return config::load({env, std::nullopt});
}

TEST(TokenKeys, WithoutConfiguredKeysEveryModuleOfTheProcessSharesOneRandomSecret) {
  testing::TempDir home("intercab-token-keys");
  const auto config = load_with(home, {});
  const auto first = access_token_keys(config, true);
  const auto second = access_token_keys(config, false);
  ASSERT_NE(first->signing_key(), nullptr);
  EXPECT_TRUE(first->signing_key()->verification_key().same_key_as(second->signing_key()->verification_key()));
  // Service tokens get a secret of their own.
  const auto internal = internal_token_keys(config);
  EXPECT_FALSE(internal->signing_key()->verification_key().same_key_as(first->signing_key()->verification_key()));
  EXPECT_EQ(internal_token_issuer(config), "intercab-internal");
}

TEST(TokenKeys, RotatedEd25519KeysStayAcceptedAndPublished) {
  testing::TempDir home("intercab-token-rotation");
  const auto old_key = auth::write_new_ed25519_key_file(home.path() / "old.pem");
  const auto new_key = auth::write_new_ed25519_key_file(home.path() / "new.pem");
  const auto config = load_with(home, {}, "auth:\n  ed25519_key_file: " + (home.path() / "new.pem").string() +
                                              "\n  retired_ed25519_key_files: [" + (home.path() / "old.pem").string() +
                                              "]\n");
  const auto keys = access_token_keys(config, true);
  EXPECT_EQ(keys->signing_key()->kid(), new_key.kid());
  EXPECT_NE(keys->find(old_key.kid()), nullptr);
  EXPECT_EQ(keys->jwks().at("keys").as_array().size(), 2U);

  // A token the old key signed before the rotation still verifies at a verifier built from config.
  const auth::AccessTokenIssuer before(std::make_shared<const auth::KeySet>(old_key), {"intercab", "intercab-api"});
  const auth::TokenVerifier verifier(access_token_keys(config, false),
                                     auth::VerifierSettings::access_tokens("intercab", "intercab-api"));
  EXPECT_EQ(verifier.verify(before.issue({"usr_1", "web", {"rider"}, true}).token).subject, "usr_1");
}

TEST(TokenKeys, TheSameKeyForUsersAndServicesIsRefused) {
  testing::TempDir home("intercab-token-same");
  auth::write_new_ed25519_key_file(home.path() / "key.pem");
  const auto path = (home.path() / "key.pem").string();
  const auto config =
      load_with(home, {}, "auth:\n  ed25519_key_file: " + path + "\n  internal_key_file: " + path + "\n");
  EXPECT_THROW(internal_token_keys(config), std::invalid_argument);
  EXPECT_THROW(access_token_keys(load_with(home, {}, "auth:\n  ed25519_key_file: /nonexistent.pem\n"), true),
               std::invalid_argument);
}

}  // namespace
}  // namespace intercab::service
