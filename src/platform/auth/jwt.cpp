// JWT issuing and verification. Verification runs the cheap structural checks first, then the
// signature, and reads the claims only once the signature is known to be good.
#include "platform/auth/jwt.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <limits>
#include <stdexcept>

#include "platform/auth/base64url.hpp"
#include "platform/auth/sodium.hpp"
#include "platform/auth/strict_json.hpp"

namespace intercab::auth {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

// Header parameters that would make us take a key, or a processing rule, from the token itself
// (RFC 8725 §3.10; RFC 7515 §4.1.11 requires rejecting a "crit" we do not understand).
constexpr std::array<std::string_view, 5> kRejectedHeaderParameters = {"crit", "jku", "jwk", "x5u", "x5c"};

// NumericDate bounds: no negative times, nothing past year 9999 (keeps chrono arithmetic safe).
constexpr std::int64_t kMaxNumericDate = 253402300799;

std::int64_t unix_seconds(TimePoint time) {
  return std::chrono::duration_cast<seconds>(time.time_since_epoch()).count();
}

TimePoint from_unix_seconds(std::int64_t value) { return TimePoint(seconds(value)); }

std::string random_token_id() {
  ensure_sodium_initialized();
  std::array<unsigned char, 16> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return base64url_encode({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

std::string sign_compact(const SigningKey& key, std::string_view type, const json::object& claims) {
  const json::object header{{"alg", to_string(key.algorithm())}, {"typ", type}, {"kid", key.kid()}};
  auto signing_input = base64url_encode(json::serialize(header));
  signing_input += '.';
  signing_input += base64url_encode(json::serialize(claims));
  const auto signature = key.sign(signing_input);
  signing_input += '.';
  signing_input += base64url_encode(signature);
  return signing_input;
}

const SigningKey& signing_key_of(const std::shared_ptr<const KeySet>& keys) {
  if (!keys || keys->signing_key() == nullptr) throw KeyError("issuing tokens needs a key set with a signing key");
  return *keys->signing_key();
}

[[noreturn]] void reject(TokenProblem problem, const std::string& detail) { throw TokenRejected(problem, detail); }

std::optional<json::object> decode_json_object(std::string_view part) {
  const auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  auto value = parse_json_strict(*bytes);
  if (!value || !value->is_object()) return std::nullopt;
  return std::move(value->as_object());
}

// The claims object, with a readable error for each missing or mistyped member.
class ClaimReader {
 public:
  explicit ClaimReader(const json::object& claims) : claims_(claims) {}

  std::optional<std::string> text(std::string_view name, bool required) const {
    const auto* value = claims_.if_contains(name);
    if (value == nullptr) {
      if (required) reject(TokenProblem::invalid_claims, "the token has no " + std::string(name) + " claim");
      return std::nullopt;
    }
    if (!value->is_string() || value->as_string().empty()) {
      reject(TokenProblem::invalid_claims, "the " + std::string(name) + " claim must be a non-empty string");
    }
    return std::string(value->as_string());
  }

  // RFC 7519 NumericDate; we issue whole seconds and accept only integers.
  std::optional<std::int64_t> numeric_date(std::string_view name, bool required) const {
    const auto* value = claims_.if_contains(name);
    if (value == nullptr) {
      if (required) reject(TokenProblem::invalid_claims, "the token has no " + std::string(name) + " claim");
      return std::nullopt;
    }
    std::int64_t seconds_since_epoch = -1;
    if (value->is_int64()) seconds_since_epoch = value->as_int64();
    if (value->is_uint64() && value->as_uint64() <= static_cast<std::uint64_t>(kMaxNumericDate)) {
      seconds_since_epoch = static_cast<std::int64_t>(value->as_uint64());
    }
    if (seconds_since_epoch < 0 || seconds_since_epoch > kMaxNumericDate) {
      reject(TokenProblem::invalid_claims,
             "the " + std::string(name) + " claim must be a NumericDate (integer seconds)");
    }
    return seconds_since_epoch;
  }

  std::optional<std::vector<std::string>> text_array(std::string_view name, bool required) const {
    const auto* value = claims_.if_contains(name);
    if (value == nullptr) {
      if (required) reject(TokenProblem::invalid_claims, "the token has no " + std::string(name) + " claim");
      return std::nullopt;
    }
    if (!value->is_array())
      reject(TokenProblem::invalid_claims, "the " + std::string(name) + " claim must be an array");
    std::vector<std::string> out;
    for (const auto& element : value->as_array()) {
      if (!element.is_string()) {
        reject(TokenProblem::invalid_claims, "the " + std::string(name) + " claim must hold only strings");
      }
      out.emplace_back(element.as_string());
    }
    return out;
  }

  std::optional<bool> boolean(std::string_view name, bool required) const {
    const auto* value = claims_.if_contains(name);
    if (value == nullptr) {
      if (required) reject(TokenProblem::invalid_claims, "the token has no " + std::string(name) + " claim");
      return std::nullopt;
    }
    if (!value->is_bool())
      reject(TokenProblem::invalid_claims, "the " + std::string(name) + " claim must be a boolean");
    return value->as_bool();
  }

  // "aud" is a string or an array of strings (RFC 7519 §4.1.3); ours must be among them.
  bool audience_contains(std::string_view audience) const {
    const auto* value = claims_.if_contains("aud");
    if (value == nullptr) reject(TokenProblem::invalid_claims, "the token has no aud claim");
    if (value->is_string()) return value->as_string() == audience;
    if (!value->is_array() || value->as_array().empty()) {
      reject(TokenProblem::invalid_claims, "the aud claim must be a string or a non-empty array of strings");
    }
    bool found = false;
    for (const auto& element : value->as_array()) {
      if (!element.is_string()) reject(TokenProblem::invalid_claims, "the aud claim must hold only strings");
      found = found || element.as_string() == audience;
    }
    return found;
  }

 private:
  const json::object& claims_;
};

}  // namespace

Clock system_clock() {
  return [] { return std::chrono::system_clock::now(); };
}

bool Claims::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string_view to_string(TokenProblem problem) {
  switch (problem) {
    case TokenProblem::too_large:
      return "too_large";
    case TokenProblem::malformed:
      return "malformed";
    case TokenProblem::unsupported_algorithm:
      return "unsupported_algorithm";
    case TokenProblem::unknown_key:
      return "unknown_key";
    case TokenProblem::algorithm_key_mismatch:
      return "algorithm_key_mismatch";
    case TokenProblem::bad_signature:
      return "bad_signature";
    case TokenProblem::wrong_type:
      return "wrong_type";
    case TokenProblem::wrong_issuer:
      return "wrong_issuer";
    case TokenProblem::wrong_audience:
      return "wrong_audience";
    case TokenProblem::expired:
      return "expired";
    case TokenProblem::not_yet_valid:
      return "not_yet_valid";
    case TokenProblem::invalid_claims:
      return "invalid_claims";
  }
  return "unknown";
}

TokenRejected::TokenRejected(TokenProblem problem, const std::string& detail)
    : errors::Unauthorized(detail, "Bearer error=\"invalid_token\", error_description=\"" + detail + "\""),
      problem_(problem) {}

// --- AccessTokenIssuer

AccessTokenIssuer::AccessTokenIssuer(std::shared_ptr<const KeySet> keys, AccessTokenSettings settings, Clock clock)
    : keys_(std::move(keys)), settings_(std::move(settings)), clock_(std::move(clock)) {
  signing_key_of(keys_);
  if (settings_.issuer.empty() || settings_.audience.empty()) {
    throw std::invalid_argument("access tokens need an issuer and an audience");
  }
  if (settings_.lifetime <= seconds(0)) throw std::invalid_argument("the access token lifetime must be positive");
}

IssuedToken AccessTokenIssuer::issue(const AccessTokenGrant& grant) const {
  if (grant.user_id.empty() || grant.client_id.empty()) {
    throw std::invalid_argument("an access token needs a user id and a client id");
  }
  const auto now = unix_seconds(clock_());
  const auto expires = now + settings_.lifetime.count();
  auto jwt_id = random_token_id();
  json::array roles;
  for (const auto& role : grant.roles) roles.emplace_back(role);
  const json::object claims{{"iss", settings_.issuer},
                            {"sub", grant.user_id},
                            {"aud", settings_.audience},
                            {"client_id", grant.client_id},
                            {"exp", expires},
                            {"iat", now},
                            {"nbf", now},
                            {"jti", jwt_id},
                            {"roles", std::move(roles)},
                            {"verified", grant.verified}};
  return {sign_compact(signing_key_of(keys_), kAccessTokenType, claims), std::move(jwt_id), from_unix_seconds(expires)};
}

// --- ServiceTokenIssuer

ServiceTokenIssuer::ServiceTokenIssuer(std::shared_ptr<const KeySet> internal_keys, ServiceTokenSettings settings,
                                       Clock clock)
    : keys_(std::move(internal_keys)), settings_(std::move(settings)), clock_(std::move(clock)) {
  signing_key_of(keys_);
  if (settings_.issuer.empty() || settings_.calling_service.empty()) {
    throw std::invalid_argument("service tokens need an issuer and the calling service's name");
  }
  if (settings_.lifetime <= seconds(0) || settings_.renew_before < seconds(0) ||
      settings_.renew_before >= settings_.lifetime) {
    throw std::invalid_argument("service tokens need 0 <= renew_before < lifetime");
  }
}

IssuedToken ServiceTokenIssuer::issue(std::string_view called_service) const {
  if (called_service.empty()) throw std::invalid_argument("a service token needs the called service's name");
  const auto now = unix_seconds(clock_());
  const auto expires = now + settings_.lifetime.count();
  auto jwt_id = random_token_id();
  const json::object claims{{"iss", settings_.issuer},
                            {"sub", settings_.calling_service},
                            {"aud", called_service},
                            {"exp", expires},
                            {"iat", now},
                            {"nbf", now},
                            {"jti", jwt_id}};
  return {sign_compact(signing_key_of(keys_), kServiceTokenType, claims), std::move(jwt_id),
          from_unix_seconds(expires)};
}

std::string ServiceTokenIssuer::token_for(std::string_view called_service) {
  const auto now = clock_();
  {
    std::lock_guard lock(mutex_);
    const auto cached = cache_.find(called_service);
    if (cached != cache_.end() && cached->second.expires_at - now > settings_.renew_before) return cached->second.token;
  }
  // Signed outside the lock; two threads renewing at once both sign, and the later one is kept.
  auto fresh = issue(called_service);
  std::lock_guard lock(mutex_);
  if (cache_.size() >= kMaxCachedAudiences && !cache_.contains(called_service)) {
    std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires_at <= now; });
    if (cache_.size() >= kMaxCachedAudiences) cache_.clear();
  }
  auto token = fresh.token;
  cache_.insert_or_assign(std::string(called_service), std::move(fresh));
  return token;
}

// --- TokenVerifier

VerifierSettings VerifierSettings::access_tokens(std::string issuer, std::string audience) {
  VerifierSettings settings;
  settings.token_type = kAccessTokenType;
  settings.issuer = std::move(issuer);
  settings.audience = std::move(audience);
  settings.max_lifetime = std::chrono::hours(1);
  return settings;
}

VerifierSettings VerifierSettings::service_tokens(std::string issuer, std::string own_service) {
  VerifierSettings settings;
  settings.token_type = kServiceTokenType;
  settings.issuer = std::move(issuer);
  settings.audience = std::move(own_service);
  settings.max_lifetime = std::chrono::minutes(5);
  return settings;
}

TokenVerifier::TokenVerifier(std::shared_ptr<const KeySet> keys, VerifierSettings settings, Clock clock)
    : keys_(std::move(keys)), settings_(std::move(settings)), clock_(std::move(clock)) {
  if (!keys_ || keys_->empty()) throw KeyError("verifying tokens needs at least one key");
  if (settings_.algorithms.empty()) settings_.algorithms = keys_->algorithms();
  if (settings_.token_type.empty() || settings_.issuer.empty() || settings_.audience.empty()) {
    throw std::invalid_argument("a token verifier needs the expected typ, iss and aud");
  }
}

Claims TokenVerifier::verify(std::string_view token) const {
  if (token.size() > settings_.max_token_bytes) {
    reject(TokenProblem::too_large, "the token is larger than " + std::to_string(settings_.max_token_bytes) + " bytes");
  }
  const auto first_dot = token.find('.');
  const auto second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos) {
    reject(TokenProblem::malformed, "the token must have three dot-separated parts");
  }
  const auto header_part = token.substr(0, first_dot);
  const auto payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const auto signature_part = token.substr(second_dot + 1);
  if (header_part.empty() || payload_part.empty() || signature_part.empty()) {
    reject(TokenProblem::malformed, "the token has an empty part");
  }

  // Header: which algorithm, which key, which kind of token. All of it is attacker-chosen until
  // the signature is checked, so it only selects among what we already have.
  const auto header = decode_json_object(header_part);
  if (!header) reject(TokenProblem::malformed, "the token header is not a base64url JSON object");
  for (const auto name : kRejectedHeaderParameters) {
    if (header->contains(name)) reject(TokenProblem::malformed, "the token header has an unsupported parameter");
  }
  const auto* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string()) reject(TokenProblem::malformed, "the token header has no alg");
  const auto allowed = std::find_if(settings_.algorithms.begin(), settings_.algorithms.end(),
                                    [&](Algorithm a) { return to_string(a) == alg->as_string(); });
  if (allowed == settings_.algorithms.end())
    reject(TokenProblem::unsupported_algorithm, "the token's alg is not accepted");
  const auto* typ = header->if_contains("typ");
  if (typ == nullptr || !typ->is_string() || typ->as_string() != settings_.token_type) {
    reject(TokenProblem::wrong_type, "the token is not of type " + settings_.token_type);
  }
  const auto* kid = header->if_contains("kid");
  if (kid == nullptr || !kid->is_string()) reject(TokenProblem::unknown_key, "the token names no key (kid)");
  const auto* key = keys_->find(kid->as_string());
  if (key == nullptr) reject(TokenProblem::unknown_key, "the token's key is unknown or retired");
  // The key decides the algorithm: an Ed25519 public key is never used as an HMAC secret.
  if (key->algorithm() != *allowed)
    reject(TokenProblem::algorithm_key_mismatch, "the token's alg does not match its key");

  const auto signature = base64url_decode(signature_part);
  if (!signature) reject(TokenProblem::malformed, "the token signature is not strict base64url");
  if (!key->verify(token.substr(0, second_dot), *signature)) {
    reject(TokenProblem::bad_signature, "the token signature is invalid");
  }

  // Claims: authentic from here on, but still checked for shape and time.
  const auto payload = decode_json_object(payload_part);
  if (!payload) reject(TokenProblem::malformed, "the token claims are not a base64url JSON object");
  const ClaimReader reader(*payload);
  const bool user_token = settings_.token_type == kAccessTokenType;
  Claims claims;
  claims.token_type = settings_.token_type;
  claims.key_id = key->kid();
  claims.issuer = reader.text("iss", true).value();
  claims.subject = reader.text("sub", true).value();
  claims.jwt_id = reader.text("jti", true).value();
  claims.client_id = reader.text("client_id", user_token).value_or("");
  claims.roles = reader.text_array("roles", user_token).value_or(std::vector<std::string>{});
  claims.verified = reader.boolean("verified", user_token).value_or(false);
  const auto expires = reader.numeric_date("exp", true).value();
  const auto issued = reader.numeric_date("iat", true).value();
  const auto not_before = reader.numeric_date("nbf", false).value_or(issued);
  const bool audience_matches = reader.audience_contains(settings_.audience);

  if (claims.issuer != settings_.issuer) reject(TokenProblem::wrong_issuer, "the token is from another issuer");
  if (!audience_matches) reject(TokenProblem::wrong_audience, "the token is meant for another audience");
  const auto now = unix_seconds(clock_());
  const auto leeway = settings_.leeway.count();
  if (now >= expires + leeway) reject(TokenProblem::expired, "the token has expired");
  if (now + leeway < not_before) reject(TokenProblem::not_yet_valid, "the token is not valid yet");
  if (issued > now + leeway) reject(TokenProblem::invalid_claims, "the token was issued in the future");
  if (expires <= issued || expires - issued > settings_.max_lifetime.count()) {
    reject(TokenProblem::invalid_claims, "the token's lifetime is not acceptable");
  }
  claims.audience = settings_.audience;
  claims.expires_at = from_unix_seconds(expires);
  claims.issued_at = from_unix_seconds(issued);
  claims.not_before = from_unix_seconds(not_before);
  return claims;
}

VerifiedTokenCache::VerifiedTokenCache(std::shared_ptr<const TokenVerifier> verifier, std::size_t max_entries)
    : verifier_(std::move(verifier)), max_entries_(max_entries) {
  if (verifier_ == nullptr) throw std::invalid_argument("verified token cache: the verifier is null");
  if (max_entries_ == 0) throw std::invalid_argument("verified token cache: max_entries must be at least 1");
}

std::shared_ptr<const Claims> VerifiedTokenCache::verify(std::string_view token) {
  const auto now = verifier_->now();
  {
    std::lock_guard lock(mutex_);
    const auto found = index_.find(token);
    if (found != index_.end()) {
      const auto entry = found->second;
      if (entry->verified_at <= now && now < entry->valid_until) {
        entries_.splice(entries_.begin(), entries_, entry);
        return entry->claims;
      }
      // Expired, or the clock went back before its verification: verify afresh.
      index_.erase(found);
      entries_.erase(entry);
    }
  }
  const auto before = verifier_->now();
  auto claims = std::make_shared<const Claims>(verifier_->verify(token));
  const auto after = verifier_->now();
  const auto leeway = verifier_->settings().leeway;
  const auto valid_until = claims->expires_at + std::min(leeway, std::chrono::seconds::zero());
  // A clock that went back during the verification leaves no reading that verify() is known to
  // have used: nothing is remembered then.
  if (token.size() > kMaxTokenBytes || before > after || after >= valid_until) return claims;
  std::lock_guard lock(mutex_);
  if (index_.contains(token)) return claims;  // another thread verified it meanwhile
  entries_.push_front(Entry{std::string(token), claims, after, valid_until});
  index_.emplace(entries_.front().token, entries_.begin());
  while (entries_.size() > max_entries_) {
    index_.erase(entries_.back().token);
    entries_.pop_back();
  }
  return claims;
}

std::size_t VerifiedTokenCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() || authorization[kScheme.size()] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return std::nullopt;
  }
  auto token = authorization.substr(kScheme.size() + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.find(' ') != std::string_view::npos) return std::nullopt;
  return token;
}

Claims verify_bearer(const TokenVerifier& verifier, std::string_view authorization, std::string_view what) {
  if (authorization.empty()) {
    throw errors::Unauthorized("this endpoint needs " + std::string(what) + ": Authorization: Bearer <token>");
  }
  const auto token = bearer_token(authorization);
  if (!token) throw errors::Unauthorized("the Authorization header must use the Bearer scheme");
  return verifier.verify(*token);
}

}  // namespace intercab::auth
