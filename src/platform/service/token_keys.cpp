// Key sets from configuration; see token_keys.hpp.
#include "platform/service/token_keys.hpp"

#include <sodium.h>

#include <mutex>
#include <stdexcept>

#include "platform/auth/sodium.hpp"
#include "platform/log/log.hpp"

namespace intercab::service {
namespace {

// One random secret per purpose and process: every module of `serve --target=all` must agree on it.
const std::string& process_secret(std::string_view purpose) {
  static std::mutex mutex;
  static std::map<std::string, std::string, std::less<>> secrets;
  std::lock_guard lock(mutex);
  auto it = secrets.find(purpose);
  if (it != secrets.end()) return it->second;
  auth::ensure_sodium_initialized();
  std::string secret(48, '\0');
  randombytes_buf(secret.data(), secret.size());
  log::warn(std::string("no key configured for ") + std::string(purpose) +
            ": using a random secret made at start-up, so these tokens do not survive a restart and no other "
            "process accepts them; configure one for anything but a single local process");
  return secrets.emplace(std::string(purpose), std::move(secret)).first->second;
}

auth::SigningKey load_signing_key(const std::filesystem::path& path, const std::string& key) {
  try {
    return auth::SigningKey::load_ed25519_file(path);
  } catch (const auth::KeyError& error) {
    throw std::invalid_argument("config key " + key + " (" + path.string() + "): " + error.what());
  }
}

}  // namespace

std::shared_ptr<const auth::KeySet> access_token_keys(const config::Config& config, bool need_signing_key) {
  if (!config.auth.ed25519_key_file.empty()) {
    auto signing = load_signing_key(config.auth.ed25519_key_file, "auth.ed25519_key_file");
    auto keys = need_signing_key ? std::make_shared<auth::KeySet>(std::move(signing)) : std::make_shared<auth::KeySet>();
    if (!need_signing_key) keys->add_verification_key(signing.verification_key());
    for (const auto& file : config.auth.retired_ed25519_key_files) {
      try {
        keys->add_verification_key(auth::VerificationKey::load_ed25519_file(file));
      } catch (const auth::KeyError& error) {
        throw std::invalid_argument("config key auth.retired_ed25519_key_files (" + file.string() + "): " + error.what());
      }
    }
    return keys;
  }
  if (!config.jwt_secret.empty())
    return std::make_shared<const auth::KeySet>(auth::SigningKey::hs256(config.jwt_secret));
  return std::make_shared<const auth::KeySet>(
      auth::SigningKey::hs256(process_secret("access tokens (JWT_SECRET or auth.ed25519_key_file)")));
}

std::shared_ptr<const auth::KeySet> internal_token_keys(const config::Config& config) {
  std::shared_ptr<const auth::KeySet> keys;
  if (!config.auth.internal_key_file.empty()) {
    keys =
        std::make_shared<const auth::KeySet>(load_signing_key(config.auth.internal_key_file, "auth.internal_key_file"));
  } else if (!config.auth.internal_jwt_secret.empty()) {
    keys = std::make_shared<const auth::KeySet>(auth::SigningKey::hs256(config.auth.internal_jwt_secret));
  } else {
    keys = std::make_shared<const auth::KeySet>(
        auth::SigningKey::hs256(process_secret("service tokens (INTERNAL_JWT_SECRET or auth.internal_key_file)")));
  }
  try {
    auth::require_distinct_keys(*access_token_keys(config, false), *keys);
  } catch (const auth::KeyError& error) {
    throw std::invalid_argument(std::string("config keys auth.internal_key_file / INTERNAL_JWT_SECRET: ") +
                                error.what());
  }
  return keys;
}

std::string internal_token_issuer(const config::Config& config) { return config.auth.issuer + "-internal"; }

}  // namespace intercab::service
