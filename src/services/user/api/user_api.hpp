// The user service's HTTP API: accounts, verification, login and sessions, password reset, profiles,
// roles, API keys, OAuth login and the internal endpoints other services call. Each handler checks
// its input, then runs one transaction on the user database; events go out through the outbox.
#pragma once

#include <memory>

#include "platform/auth/jwt.hpp"
#include "platform/auth/keys.hpp"
#include "platform/auth/password.hpp"
#include "platform/cache/cache.hpp"
#include "platform/config/config.hpp"
#include "platform/db/db.hpp"
#include "platform/http/router.hpp"
#include "platform/metrics/metrics.hpp"
#include "services/user/domain/account.hpp"

namespace intercab::services::user {

class OAuthLogin;  // oauth_login.hpp

struct UserApiDependencies {
  db::Database* store = nullptr;
  cache::Cache* cache = nullptr;                      // login throttling and OAuth login state, shared across instances
  std::shared_ptr<const auth::KeySet> access_keys;    // must hold a signing key
  std::shared_ptr<const auth::KeySet> internal_keys;  // verifies service tokens on /internal/v1
  std::string internal_issuer;                        // "iss" of service tokens
  config::AuthSettings settings;
  auth::Clock clock = auth::system_clock();
  domain::RandomBytes random;            // defaults to libsodium randombytes_buf
  std::shared_ptr<OAuthLogin> oauth;     // null when no provider is configured
  metrics::Registry* metrics = nullptr;  // optional: login and token counters
};

class UserApi {
 public:
  explicit UserApi(UserApiDependencies dependencies);
  ~UserApi();
  UserApi(const UserApi&) = delete;
  UserApi& operator=(const UserApi&) = delete;

  // Adds every route of the service; the routes keep what they need alive.
  void add_routes(http::Router& router);

  // Creates the account, or adds the admin role to an existing one with that email; used by
  // `intercab user create-admin`. Returns the user id and whether the account was new.
  std::pair<std::string, bool> create_admin(const std::string& name, const std::string& email,
                                            const std::string& password);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace intercab::services::user
