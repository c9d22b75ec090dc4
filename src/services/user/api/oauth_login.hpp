// "Continue with Google/Facebook": the OpenID Connect authorization code flow with PKCE, state and
// nonce, for the providers of auth.oauth.providers. The pending login (state -> provider, nonce,
// code verifier) lives in the cache for ten minutes, so start and callback may reach different
// instances of the user service.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/cache/cache.hpp"
#include "platform/config/config.hpp"
#include "platform/http/client.hpp"

namespace intercab::services::user {

// Who the provider says signed in, after the ID token passed every check.
struct OAuthIdentity {
  std::string provider;
  std::string subject;  // the provider's stable user id ("sub")
  std::optional<std::string> email;
  bool email_verified = false;
  std::string name;
};

// Where start sends the browser, and the random value that binds the login to that browser: the
// handler sets it as a cookie, and finish requires it back (no login CSRF with a stolen state).
struct OAuthStart {
  std::string location;
  std::string browser_binding;
  bool secure_cookie = false;  // the callback is https: the cookie must never travel in clear
};

inline constexpr std::string_view kOAuthCookie = "intercab_oauth";

class OAuthLogin {
 public:
  OAuthLogin(std::vector<config::AuthSettings::OAuthProvider> providers, http::Client& client, cache::Cache& cache);
  ~OAuthLogin();
  OAuthLogin(const OAuthLogin&) = delete;
  OAuthLogin& operator=(const OAuthLogin&) = delete;

  std::vector<std::string> provider_names() const;
  // The provider's authorization URL for a new login; 404 for an unknown provider, 502 when its
  // discovery document cannot be fetched.
  OAuthStart start(const std::string& provider);
  // Checks state, exchanges the code (with the PKCE verifier) and verifies the ID token (issuer,
  // audience, signature by the provider's JWKS, expiry, nonce). 401/422 when anything is off.
  OAuthIdentity finish(const std::string& provider, const std::map<std::string, std::string>& query,
                       std::string_view browser_binding);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace intercab::services::user
