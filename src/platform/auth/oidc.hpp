// "Continue with Google/Facebook": the OpenID Connect authorization code flow with PKCE (RFC 6749, RFC 7636,
// OpenID Connect Core 1.0 §3.1) as a relying party, and the verification of the ID tokens it returns.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/auth/jwt.hpp"
#include "platform/errors/errors.hpp"

namespace intercab::http {
class Client;
}

namespace intercab::auth {

// How the client authenticates at the token endpoint (RFC 6749 §2.3.1, OIDC Core §9).
enum class TokenEndpointAuth {
  automatic,  // client_secret_basic if discovery lists it (or lists nothing), else client_secret_post
  client_secret_basic,
  client_secret_post,  // e.g. Facebook, whose discovery document has no token endpoint at all
};

struct OidcProviderSettings {
  std::string name;    // "google": for logs and error messages
  std::string issuer;  // must equal the discovery document's "issuer" and every ID token's "iss", byte for byte
  // Explicit endpoints win; any left empty is taken from discovery at <issuer>/.well-known/openid-configuration.
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::string client_id;
  std::string client_secret;
  std::string redirect_uri;  // registered with the provider; the token request repeats it
  std::vector<std::string> scopes{"openid", "email", "profile"};
  TokenEndpointAuth token_endpoint_auth = TokenEndpointAuth::automatic;
  std::chrono::seconds leeway{60};                           // clock skew tolerated on exp, nbf and iat
  std::chrono::seconds jwks_max_age{std::chrono::hours(1)};  // then the key set is fetched again
  std::chrono::seconds jwks_refetch_interval{60};            // an unknown kid refetches the key set at most this often
  std::chrono::milliseconds http_timeout{10'000};            // per call to the provider
};

// What begin_login hands the browser (url) and what the caller must keep, bound to that browser (for example
// in an encrypted cookie), until the provider redirects back: the redirect's `state` must equal `state`, and
// `nonce` and `code_verifier` go to complete_login.
struct AuthorizationRequest {
  std::string url;
  std::string state;
  std::string nonce;
  std::string code_verifier;
};

// The user as the provider vouches for them in a verified ID token.
struct IdentityClaims {
  std::string issuer;
  std::string subject;  // stable per provider; (issuer, subject) identifies the account, never the email
  std::string email;    // empty when the provider sent none
  bool email_verified = false;
  std::string name;  // empty when the provider sent none
};

// Why a login was refused, for logs and tests; the 401 detail says it in words.
enum class LoginProblem {
  code_rejected,  // the token endpoint refused the code (wrong code_verifier, replayed or expired code)
  malformed_token,
  unsupported_algorithm,   // "alg" outside RS256, ES256, EdDSA ("none" and HS* never are accepted)
  unknown_key,             // no "kid", or one that the provider's key set does not have
  algorithm_key_mismatch,  // "alg" differs from the algorithm of the key named by "kid"
  bad_signature,
  wrong_issuer,
  wrong_audience,  // "aud" does not name our client id, or "azp" names another client
  expired,
  issued_in_future,
  nonce_mismatch,
  invalid_claims,  // a required claim missing or of the wrong type
};
std::string_view to_string(LoginProblem problem);

// 401: the login cannot be trusted. The detail names the problem, never the token or its contents.
class LoginRejected : public errors::Unauthorized {
 public:
  LoginRejected(LoginProblem problem, const std::string& detail);
  LoginProblem problem() const { return problem_; }

 private:
  LoginProblem problem_;
};

// 502: the identity provider could not be reached, or answered with something that is not a valid OIDC response
// (this includes a misconfigured client: the user can do nothing about either).
class IdentityProviderFailed : public errors::Problem {
 public:
  explicit IdentityProviderFailed(const std::string& detail);
};

// The signature keys of a provider's JWK Set (RFC 7517). Keys of other types or uses, RSA keys under 2048 bits
// and malformed entries are skipped, so one odd key does not lock every user out. Immutable, thread-safe.
class ProviderKeys {
 public:
  struct Key;  // an OpenSSL public key and the one algorithm it may verify

  // Throws IdentityProviderFailed if `jwks_json` is not a JSON object with a "keys" array.
  static ProviderKeys parse(std::string_view jwks_json);

  bool contains(std::string_view key_id) const;
  std::size_t size() const { return keys_.size(); }
  const Key* find(std::string_view key_id) const;

 private:
  std::map<std::string, std::shared_ptr<const Key>, std::less<>> keys_;
};

struct IdTokenExpectations {
  std::string issuer;
  std::string client_id;
  std::string nonce;
  std::chrono::seconds leeway{60};
};

// Verifies an ID token (OIDC Core §3.1.3.7) as compact JWS: alg in {RS256, ES256, EdDSA} and equal to that of the
// key named by "kid", the signature, iss, aud (and azp), exp, iat, nbf and nonce. Throws LoginRejected.
IdentityClaims verify_id_token(std::string_view id_token, const ProviderKeys& keys, const IdTokenExpectations& expected,
                               TimePoint now);

// One identity provider as seen by one of our OAuth clients. Thread-safe; its methods block on HTTP calls, so
// call them from worker threads, never from an io thread.
class OidcClient {
 public:
  // Throws std::invalid_argument if issuer, client_id or redirect_uri is empty or "openid" is not a scope.
  OidcClient(OidcProviderSettings settings, http::Client& http, Clock clock = system_clock());

  // Fetches and checks the discovery document when an endpoint is not configured explicitly; otherwise does
  // nothing. Called by begin_login and complete_login as needed; call it at start-up to fail early.
  // Throws IdentityProviderFailed.
  void discover();

  // A fresh state, nonce and PKCE verifier (256 random bits each) and the authorization URL carrying them.
  AuthorizationRequest begin_login();

  // Redeems `code` at the token endpoint with `code_verifier` and verifies the returned ID token against
  // `expected_nonce`. Throws LoginRejected (401) or IdentityProviderFailed (502).
  IdentityClaims complete_login(std::string_view code, std::string_view code_verifier, std::string_view expected_nonce);

  const OidcProviderSettings& settings() const { return settings_; }

 private:
  struct Endpoints {
    std::string authorization;
    std::string token;
    std::string jwks;
    TokenEndpointAuth token_auth = TokenEndpointAuth::client_secret_basic;
  };

  Endpoints endpoints();
  std::shared_ptr<const ProviderKeys> keys(bool refetch_for_unknown_kid);
  std::string fetch(const std::string& what, const std::string& url);

  OidcProviderSettings settings_;
  http::Client& http_;
  Clock clock_;

  std::mutex mutex_;
  std::optional<Endpoints> endpoints_;
  std::shared_ptr<const ProviderKeys> keys_;
  TimePoint keys_fetched_at_{};
};

}  // namespace intercab::auth
