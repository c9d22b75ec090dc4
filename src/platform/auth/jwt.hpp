// JSON Web Tokens (RFC 7519) as compact JWS, following the JWT best practices of RFC 8725: access
// tokens for users (RFC 9068, typ "at+jwt") and service tokens between our services (typ
// "svc+jwt"), each family with its own keys, issuer and verifier.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "platform/auth/claims.hpp"
#include "platform/auth/keys.hpp"
#include "platform/errors/errors.hpp"

namespace intercab::auth {

// Where issuers and verifiers read the time; tests pass a fixed one.
using Clock = std::function<TimePoint()>;
Clock system_clock();

// Why a token was rejected, for logs and metrics; the 401 detail says it in words.
enum class TokenProblem {
  too_large,
  malformed,               // not three strict base64url parts of JSON objects
  unsupported_algorithm,   // "alg" not in this verifier's allow-list ("none" never is)
  unknown_key,             // no "kid", or one that names no key of the set
  algorithm_key_mismatch,  // "alg" differs from the algorithm of the key named by "kid"
  bad_signature,
  wrong_type,
  wrong_issuer,
  wrong_audience,
  expired,
  not_yet_valid,
  invalid_claims,  // a claim missing or of the wrong type, iat in the future, lifetime too long
};
std::string_view to_string(TokenProblem problem);

// A 401 for a rejected token. The detail names the problem, never the token or its contents;
// WWW-Authenticate carries error="invalid_token" (RFC 6750 §3).
class TokenRejected : public errors::Unauthorized {
 public:
  TokenRejected(TokenProblem problem, const std::string& detail);
  TokenProblem problem() const { return problem_; }

 private:
  TokenProblem problem_;
};

struct IssuedToken {
  std::string token;
  std::string jwt_id;
  TimePoint expires_at;
};

// --- Access tokens (RFC 9068)

struct AccessTokenSettings {
  std::string issuer;    // e.g. "intercab"; verifiers expect exactly this
  std::string audience;  // e.g. "intercab-api"
  std::chrono::seconds lifetime{std::chrono::minutes(15)};
};

struct AccessTokenGrant {
  std::string user_id;
  std::string client_id;  // the OAuth client (web app, driver app) the token was issued to
  std::vector<std::string> roles;
  bool verified = false;
};

class AccessTokenIssuer {
 public:
  // Throws KeyError if `keys` has no signing key.
  AccessTokenIssuer(std::shared_ptr<const KeySet> keys, AccessTokenSettings settings, Clock clock = system_clock());
  IssuedToken issue(const AccessTokenGrant& grant) const;

 private:
  std::shared_ptr<const KeySet> keys_;
  AccessTokenSettings settings_;
  Clock clock_;
};

// --- Service tokens

struct ServiceTokenSettings {
  std::string issuer;           // e.g. "intercab-internal"
  std::string calling_service;  // this process's service name, the token's "sub"
  std::chrono::seconds lifetime{60};
  std::chrono::seconds renew_before{15};  // a cached token is replaced when less than this is left
};

// Issues the tokens this service presents to the services it calls ("aud" = the called service),
// signed with the internal key, which must differ from the user token key
// (require_distinct_keys). Thread-safe.
class ServiceTokenIssuer {
 public:
  // Throws KeyError if `internal_keys` has no signing key, std::invalid_argument on bad settings.
  ServiceTokenIssuer(std::shared_ptr<const KeySet> internal_keys, ServiceTokenSettings settings,
                     Clock clock = system_clock());

  // A token for calling `called_service`: the cached one while it has more than renew_before
  // left, else a new one (signing costs tens of microseconds; a call every few ms adds up).
  std::string token_for(std::string_view called_service);
  // Always a new token, bypassing the cache.
  IssuedToken issue(std::string_view called_service) const;

 private:
  static constexpr std::size_t kMaxCachedAudiences = 64;  // far above the number of services

  std::shared_ptr<const KeySet> keys_;
  ServiceTokenSettings settings_;
  Clock clock_;
  std::mutex mutex_;
  std::map<std::string, IssuedToken, std::less<>> cache_;
};

// --- Verification

struct VerifierSettings {
  std::string token_type;  // the exact "typ" accepted
  std::string issuer;      // the exact "iss" accepted
  std::string audience;    // must be "aud", or one element of an "aud" array
  // The allow-list of "alg" values, fixed for the verifier's life. Empty: the algorithms of the key
  // set when the verifier is built. "none" can never be allowed.
  std::vector<Algorithm> algorithms;
  std::chrono::seconds leeway{30};                           // clock skew tolerated on exp, nbf and iat
  std::chrono::seconds max_lifetime{std::chrono::hours(1)};  // exp - iat above this is rejected
  std::size_t max_token_bytes = 8192;                        // rejected before any parsing

  // User access tokens: typ at+jwt; client_id, roles and verified required.
  static VerifierSettings access_tokens(std::string issuer, std::string audience);
  // Service tokens for the internal endpoints of `own_service` (its name is the audience).
  static VerifierSettings service_tokens(std::string issuer, std::string own_service);
};

// Checks a compact JWS and returns its claims, or throws TokenRejected. Thread-safe.
class TokenVerifier {
 public:
  // Throws KeyError if `keys` is empty.
  TokenVerifier(std::shared_ptr<const KeySet> keys, VerifierSettings settings, Clock clock = system_clock());

  Claims verify(std::string_view token) const;
  const std::vector<Algorithm>& algorithms() const { return settings_.algorithms; }
  const VerifierSettings& settings() const { return settings_; }
  // The time on the clock verify() checks against.
  TimePoint now() const { return clock_(); }

 private:
  std::shared_ptr<const KeySet> keys_;
  VerifierSettings settings_;
  Clock clock_;
};

// Remembers the claims of tokens a TokenVerifier accepted, keyed by the token's exact bytes, so that
// a client sending the same token with every request has it verified once: a full verification (two
// strict JSON parses, base64url, HMAC or Ed25519) costs more than the rest of a proxied request's
// policy. A remembered token is accepted again only while the verifier's clock reads between the end
// of its verification and its exp (less any negative leeway): within that span every time-dependent
// check of verify() passes again (nbf and iat only get easier as time goes on, exp is not reached),
// and the verifier's keys and settings do not change. A key retired from the KeySet behind the
// verifier while tokens it signed are remembered is still honoured for them until their exp. Rejected
// tokens are never remembered: each is verified again and rejected with the same problem. Bounded,
// least recently used first out. Thread-safe.
class VerifiedTokenCache {
 public:
  static constexpr std::size_t kDefaultMaxEntries = 4096;
  // Larger tokens are verified every time, so the cache's memory stays bounded by about
  // max_entries * kMaxTokenBytes.
  static constexpr std::size_t kMaxTokenBytes = 4096;

  // Throws std::invalid_argument for a null verifier or max_entries 0.
  explicit VerifiedTokenCache(std::shared_ptr<const TokenVerifier> verifier,
                              std::size_t max_entries = kDefaultMaxEntries);

  // As TokenVerifier::verify: the claims, or TokenRejected.
  std::shared_ptr<const Claims> verify(std::string_view token);
  std::size_t size() const;

 private:
  struct Entry {
    std::string token;
    std::shared_ptr<const Claims> claims;
    TimePoint verified_at;  // the clock after the verification; earlier readings do not count
    TimePoint valid_until;  // exclusive
  };
  using Entries = std::list<Entry>;  // most recently used first; nodes never move, so keys stay valid

  std::shared_ptr<const TokenVerifier> verifier_;
  std::size_t max_entries_;
  mutable std::mutex mutex_;
  Entries entries_;
  std::unordered_map<std::string_view, Entries::iterator> index_;  // views into Entry::token
};

// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive, RFC
// 7235), or nullopt if the value uses another scheme or carries no token.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// The claims of the bearer token in an Authorization header value, checked by `verifier`. Throws
// errors::Unauthorized saying what to send when the header is missing or not Bearer, and
// TokenRejected when the token does not verify. `what` names the token in the message ("an access
// token", "a service token").
Claims verify_bearer(const TokenVerifier& verifier, std::string_view authorization, std::string_view what);

}  // namespace intercab::auth
