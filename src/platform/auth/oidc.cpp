// OpenID Connect relying party: discovery, the authorization URL, the code exchange and ID token verification
// (JWK parsing and signatures through OpenSSL 3, random values and hashes through libsodium).
#include "platform/auth/oidc.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "platform/auth/base64url.hpp"
#include "platform/auth/sodium.hpp"
#include "platform/auth/strict_json.hpp"
#include "platform/http/client.hpp"
#include "platform/log/log.hpp"

namespace intercab::auth {

namespace json = boost::json;

// An OpenSSL public key and the single JWS algorithm it is allowed to verify.
struct ProviderKeys::Key {
  enum class Algorithm { rs256, es256, eddsa };
  Algorithm algorithm;
  std::shared_ptr<EVP_PKEY> public_key;
};

namespace {

using KeyAlgorithm = ProviderKeys::Key::Algorithm;

constexpr std::size_t kMaxIdTokenBytes = 16 * 1024;
constexpr std::size_t kMinRsaModulusBits = 2048;
constexpr std::size_t kRandomBytes = 32;  // 256 bits for state, nonce and the PKCE verifier

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

std::string_view algorithm_name(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::rs256:
      return "RS256";
    case KeyAlgorithm::es256:
      return "ES256";
    case KeyAlgorithm::eddsa:
      return "EdDSA";
  }
  return "";
}

// The fixed allow-list: anything else, "none" and the HMAC family above all, is refused before a key is looked at.
std::optional<KeyAlgorithm> allowed_algorithm(std::string_view name) {
  if (name == "RS256") return KeyAlgorithm::rs256;
  if (name == "ES256") return KeyAlgorithm::es256;
  if (name == "EdDSA") return KeyAlgorithm::eddsa;
  return std::nullopt;
}

// --- OpenSSL helpers

struct ParamBuildFree {
  void operator()(OSSL_PARAM_BLD* build) const { OSSL_PARAM_BLD_free(build); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct BignumFree {
  void operator()(BIGNUM* number) const { BN_free(number); }
};
struct PkeyContextFree {
  void operator()(EVP_PKEY_CTX* context) const { EVP_PKEY_CTX_free(context); }
};
struct DigestContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
struct EcdsaSignatureFree {
  void operator()(ECDSA_SIG* signature) const { ECDSA_SIG_free(signature); }
};
using BignumPtr = std::unique_ptr<BIGNUM, BignumFree>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* key) { return {key, EVP_PKEY_free}; }

BignumPtr big_endian_number(std::string_view bytes) {
  return BignumPtr(BN_bin2bn(bytes_of(bytes), static_cast<int>(bytes.size()), nullptr));
}

// A public key from OpenSSL 3 parameters; null when OpenSSL refuses them (a point off the curve, for one).
std::shared_ptr<EVP_PKEY> key_from_params(const char* type, OSSL_PARAM_BLD* build) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(build));
  std::unique_ptr<EVP_PKEY_CTX, PkeyContextFree> context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  auto owned = own(key);
  std::unique_ptr<EVP_PKEY_CTX, PkeyContextFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return owned;
}

std::shared_ptr<EVP_PKEY> rsa_public_key(std::string_view modulus, std::string_view exponent) {
  BignumPtr n = big_endian_number(modulus);
  BignumPtr e = big_endian_number(exponent);
  if (!n || !e || static_cast<std::size_t>(BN_num_bits(n.get())) < kMinRsaModulusBits) return nullptr;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBuildFree> build(OSSL_PARAM_BLD_new());
  if (!build || OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return nullptr;
  }
  return key_from_params("RSA", build.get());
}

std::shared_ptr<EVP_PKEY> p256_public_key(std::string_view x, std::string_view y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04";  // uncompressed SEC 1 point
  point.append(x).append(y);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBuildFree> build(OSSL_PARAM_BLD_new());
  if (!build || OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return nullptr;
  }
  return key_from_params("EC", build.get());
}

std::shared_ptr<EVP_PKEY> ed25519_public_key(std::string_view x) {
  if (x.size() != 32) return nullptr;
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes_of(x), x.size());
  return key ? own(key) : nullptr;
}

// JWS ES256 signatures are r || s (RFC 7518 §3.4); OpenSSL verifies the DER form.
std::optional<std::string> es256_signature_as_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, EcdsaSignatureFree> signature(ECDSA_SIG_new());
  BignumPtr r = big_endian_number(raw.substr(0, 32));
  BignumPtr s = big_endian_number(raw.substr(32));
  if (!signature || !r || !s || ECDSA_SIG_set0(signature.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // owned by `signature` now
  s.release();
  unsigned char* der = nullptr;
  const int size = i2d_ECDSA_SIG(signature.get(), &der);
  if (size <= 0) return std::nullopt;
  std::string result(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return result;
}

bool signature_valid(const ProviderKeys::Key& key, std::string_view signing_input, std::string_view signature) {
  std::string der;
  if (key.algorithm == KeyAlgorithm::es256) {
    auto converted = es256_signature_as_der(signature);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, DigestContextFree> context(EVP_MD_CTX_new());
  // Ed25519 hashes internally, so it takes no digest; RSA gets PKCS #1 v1.5 padding by default.
  const EVP_MD* digest = key.algorithm == KeyAlgorithm::eddsa ? nullptr : EVP_sha256();
  return context && EVP_DigestVerifyInit(context.get(), nullptr, digest, nullptr, key.public_key.get()) == 1 &&
         EVP_DigestVerify(context.get(), bytes_of(signature), signature.size(), bytes_of(signing_input),
                          signing_input.size()) == 1;
}

// --- JSON helpers

const json::string* string_member(const json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  return value ? value->if_string() : nullptr;
}

std::optional<std::string> decoded_member(const json::object& object, std::string_view name) {
  const auto* text = string_member(object, name);
  if (!text) return std::nullopt;
  return base64url_decode(std::string_view(*text));
}

// One JWK as a verification key, or nullopt if it is not one we can or may use.
std::optional<ProviderKeys::Key> parse_jwk(const json::object& jwk) {
  const auto* key_type = string_member(jwk, "kty");
  if (!key_type) return std::nullopt;
  if (const auto* use = jwk.if_contains("use"); use && !(use->is_string() && use->get_string() == "sig")) {
    return std::nullopt;
  }
  ProviderKeys::Key key{};
  if (*key_type == "RSA") {
    const auto n = decoded_member(jwk, "n");
    const auto e = decoded_member(jwk, "e");
    if (!n || !e) return std::nullopt;
    key = {KeyAlgorithm::rs256, rsa_public_key(*n, *e)};
  } else if (*key_type == "EC") {
    const auto* curve = string_member(jwk, "crv");
    const auto x = decoded_member(jwk, "x");
    const auto y = decoded_member(jwk, "y");
    if (!curve || *curve != "P-256" || !x || !y) return std::nullopt;
    key = {KeyAlgorithm::es256, p256_public_key(*x, *y)};
  } else if (*key_type == "OKP") {
    const auto* curve = string_member(jwk, "crv");
    const auto x = decoded_member(jwk, "x");
    if (!curve || *curve != "Ed25519" || !x) return std::nullopt;
    key = {KeyAlgorithm::eddsa, ed25519_public_key(*x)};
  } else {
    return std::nullopt;
  }
  if (!key.public_key) return std::nullopt;
  // A key that declares its algorithm may only be used with that one (RFC 7517 §4.4): an RSA key for PS256 is
  // not an RS256 key.
  if (const auto* declared = jwk.if_contains("alg");
      declared && !(declared->is_string() && declared->get_string() == algorithm_name(key.algorithm))) {
    return std::nullopt;
  }
  return key;
}

// RFC 7519 NumericDate: seconds since the epoch, possibly fractional; nullopt for anything else or absurd values.
std::optional<TimePoint> numeric_date(const json::object& claims, std::string_view name) {
  const auto* value = claims.if_contains(name);
  if (!value) return std::nullopt;
  double seconds = 0;
  if (value->is_int64()) {
    seconds = static_cast<double>(value->get_int64());
  } else if (value->is_uint64()) {
    seconds = static_cast<double>(value->get_uint64());
  } else if (value->is_double()) {
    seconds = value->get_double();
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e11) return std::nullopt;  // 1e11 s: year 5138
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(seconds)));
}

[[noreturn]] void reject(LoginProblem problem, const std::string& detail) { throw LoginRejected(problem, detail); }

// --- HTTP helpers

// application/x-www-form-urlencoded and URL query values: everything but the RFC 3986 unreserved characters is
// percent-encoded, which both forms accept.
std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

std::string form(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += form_encode(name);
    out += '=';
    out += form_encode(value);
  }
  return out;
}

std::string base64_standard(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes_of(bytes), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::string random_token() {
  ensure_sodium_initialized();
  std::array<unsigned char, kRandomBytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string pkce_challenge(std::string_view verifier) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), bytes_of(verifier), verifier.size());
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// An endpoint URL from configuration or discovery: absolute http(s), and https whenever the issuer is.
bool acceptable_endpoint(std::string_view url, bool require_https) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || !parsed->has_authority() || parsed->encoded_host().empty()) return false;
  if (parsed->scheme_id() == boost::urls::scheme::https) return true;
  return !require_https && parsed->scheme_id() == boost::urls::scheme::http;
}

}  // namespace

std::string_view to_string(LoginProblem problem) {
  switch (problem) {
    case LoginProblem::code_rejected:
      return "code_rejected";
    case LoginProblem::malformed_token:
      return "malformed_token";
    case LoginProblem::unsupported_algorithm:
      return "unsupported_algorithm";
    case LoginProblem::unknown_key:
      return "unknown_key";
    case LoginProblem::algorithm_key_mismatch:
      return "algorithm_key_mismatch";
    case LoginProblem::bad_signature:
      return "bad_signature";
    case LoginProblem::wrong_issuer:
      return "wrong_issuer";
    case LoginProblem::wrong_audience:
      return "wrong_audience";
    case LoginProblem::expired:
      return "expired";
    case LoginProblem::issued_in_future:
      return "issued_in_future";
    case LoginProblem::nonce_mismatch:
      return "nonce_mismatch";
    case LoginProblem::invalid_claims:
      return "invalid_claims";
  }
  return "unknown";
}

LoginRejected::LoginRejected(LoginProblem problem, const std::string& detail)
    : errors::Unauthorized(detail), problem_(problem) {}

IdentityProviderFailed::IdentityProviderFailed(const std::string& detail)
    : errors::Problem(502, "/problems/identity-provider-failed", "The identity provider failed", detail) {}

// --- ProviderKeys

ProviderKeys ProviderKeys::parse(std::string_view jwks_json) {
  const auto document = parse_json_strict(jwks_json);
  const auto* object = document ? document->if_object() : nullptr;
  const auto* keys = object && object->contains("keys") ? object->at("keys").if_array() : nullptr;
  if (!keys) throw IdentityProviderFailed("the provider's key set is not a JSON object with a \"keys\" array");
  ProviderKeys result;
  for (const auto& entry : *keys) {
    const auto* jwk = entry.if_object();
    const auto* key_id = jwk ? string_member(*jwk, "kid") : nullptr;
    if (!key_id || key_id->empty()) continue;  // a token names its key by kid, so a key without one is unusable
    auto key = parse_jwk(*jwk);
    if (!key) continue;
    result.keys_.emplace(std::string(*key_id), std::make_shared<const Key>(std::move(*key)));  // first kid wins
  }
  return result;
}

bool ProviderKeys::contains(std::string_view key_id) const { return keys_.find(key_id) != keys_.end(); }

const ProviderKeys::Key* ProviderKeys::find(std::string_view key_id) const {
  const auto found = keys_.find(key_id);
  return found == keys_.end() ? nullptr : found->second.get();
}

// --- ID token verification

IdentityClaims verify_id_token(std::string_view id_token, const ProviderKeys& keys, const IdTokenExpectations& expected,
                               TimePoint now) {
  if (id_token.size() > kMaxIdTokenBytes) reject(LoginProblem::malformed_token, "the ID token is too large");
  const auto first_dot = id_token.find('.');
  const auto second_dot = first_dot == std::string_view::npos ? first_dot : id_token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || id_token.find('.', second_dot + 1) != std::string_view::npos) {
    reject(LoginProblem::malformed_token, "the ID token is not a compact JWS of three parts");
  }
  const auto header_part = id_token.substr(0, first_dot);
  const auto payload_part = id_token.substr(first_dot + 1, second_dot - first_dot - 1);
  const auto signature_part = id_token.substr(second_dot + 1);

  const auto header_bytes = base64url_decode(header_part);
  const auto header_document = header_bytes ? parse_json_strict(*header_bytes) : std::nullopt;
  const auto* header = header_document ? header_document->if_object() : nullptr;
  if (!header) reject(LoginProblem::malformed_token, "the ID token header is not a base64url JSON object");
  // "crit" names extensions the verifier must understand (RFC 7515 §4.1.11); we understand none.
  if (header->contains("crit")) reject(LoginProblem::malformed_token, "the ID token uses critical JWS extensions");
  const auto* algorithm_text = string_member(*header, "alg");
  const auto algorithm = algorithm_text ? allowed_algorithm(*algorithm_text) : std::nullopt;
  if (!algorithm) {
    reject(LoginProblem::unsupported_algorithm, "the ID token is not signed with RS256, ES256 or EdDSA");
  }
  const auto* key_id = string_member(*header, "kid");
  const auto* key = key_id ? keys.find(*key_id) : nullptr;
  if (!key) reject(LoginProblem::unknown_key, "the ID token is signed with a key the identity provider does not list");
  if (key->algorithm != *algorithm) {
    reject(LoginProblem::algorithm_key_mismatch, "the ID token's algorithm does not match its key");
  }
  const auto signature = base64url_decode(signature_part);
  const auto signing_input = id_token.substr(0, second_dot);
  if (!signature || !signature_valid(*key, signing_input, *signature)) {
    reject(LoginProblem::bad_signature, "the ID token signature is invalid");
  }

  const auto payload_bytes = base64url_decode(payload_part);
  const auto payload_document = payload_bytes ? parse_json_strict(*payload_bytes) : std::nullopt;
  const auto* claims = payload_document ? payload_document->if_object() : nullptr;
  if (!claims) reject(LoginProblem::malformed_token, "the ID token claims are not a JSON object");

  const auto* issuer = string_member(*claims, "iss");
  if (!issuer || *issuer != expected.issuer) {
    reject(LoginProblem::wrong_issuer, "the ID token was not issued by " + expected.issuer);
  }

  // "aud" is one string or an array of them (OIDC Core §2); with several, "azp" must name us (§3.1.3.7 items 3-5).
  const auto* audience = claims->if_contains("aud");
  bool names_us = false;
  std::size_t audience_count = 0;
  if (audience && audience->is_string()) {
    audience_count = 1;
    names_us = audience->get_string() == expected.client_id;
  } else if (audience && audience->is_array()) {
    for (const auto& entry : audience->get_array()) {
      if (!entry.is_string()) reject(LoginProblem::invalid_claims, "the ID token audience is not a list of strings");
      ++audience_count;
      names_us = names_us || entry.get_string() == expected.client_id;
    }
  }
  if (!names_us) reject(LoginProblem::wrong_audience, "the ID token was not issued to this client");
  const auto* authorized_party = claims->if_contains("azp");
  if (audience_count > 1 && !authorized_party) {
    reject(LoginProblem::wrong_audience, "the ID token has several audiences and no authorized party");
  }
  if (authorized_party && !(authorized_party->is_string() && authorized_party->get_string() == expected.client_id)) {
    reject(LoginProblem::wrong_audience, "the ID token was issued to another client");
  }

  const auto expires_at = numeric_date(*claims, "exp");
  const auto issued_at = numeric_date(*claims, "iat");
  if (!expires_at || !issued_at) reject(LoginProblem::invalid_claims, "the ID token lacks a valid exp or iat");
  if (now >= *expires_at + expected.leeway) reject(LoginProblem::expired, "the ID token has expired");
  if (*issued_at > now + expected.leeway)
    reject(LoginProblem::issued_in_future, "the ID token is issued in the future");
  if (claims->contains("nbf")) {
    const auto not_before = numeric_date(*claims, "nbf");
    if (!not_before) reject(LoginProblem::invalid_claims, "the ID token nbf is not a date");
    if (*not_before > now + expected.leeway) reject(LoginProblem::issued_in_future, "the ID token is not valid yet");
  }

  // The nonce ties the token to the login this browser started: a token lifted from another login fails here.
  const auto* nonce = string_member(*claims, "nonce");
  if (!nonce || expected.nonce.empty() || *nonce != expected.nonce) {
    reject(LoginProblem::nonce_mismatch, "the ID token does not belong to this login (nonce mismatch)");
  }

  IdentityClaims identity;
  identity.issuer = std::string(*issuer);
  const auto* subject = string_member(*claims, "sub");
  if (!subject || subject->empty() || subject->size() > 255) {  // OIDC Core §2: at most 255 ASCII characters
    reject(LoginProblem::invalid_claims, "the ID token has no valid subject");
  }
  identity.subject = std::string(*subject);
  if (const auto* email = claims->if_contains("email"); email && !email->is_null()) {
    if (!email->is_string()) reject(LoginProblem::invalid_claims, "the ID token email is not a string");
    identity.email = std::string(email->get_string());
  }
  if (const auto* verified = claims->if_contains("email_verified"); verified && !verified->is_null()) {
    if (!verified->is_bool()) reject(LoginProblem::invalid_claims, "the ID token email_verified is not a boolean");
    identity.email_verified = verified->get_bool() && !identity.email.empty();
  }
  if (const auto* name = claims->if_contains("name"); name && !name->is_null()) {
    if (!name->is_string()) reject(LoginProblem::invalid_claims, "the ID token name is not a string");
    identity.name = std::string(name->get_string());
  }
  return identity;
}

// --- OidcClient

OidcClient::OidcClient(OidcProviderSettings settings, http::Client& http, Clock clock)
    : settings_(std::move(settings)), http_(http), clock_(std::move(clock)) {
  if (settings_.issuer.empty() || settings_.client_id.empty() || settings_.redirect_uri.empty()) {
    throw std::invalid_argument("OIDC provider '" + settings_.name +
                                "' needs an issuer, a client id and a redirect URI");
  }
  if (std::find(settings_.scopes.begin(), settings_.scopes.end(), "openid") == settings_.scopes.end()) {
    throw std::invalid_argument("OIDC provider '" + settings_.name + "': the scopes must include openid");
  }
  const bool require_https = settings_.issuer.starts_with("https://");
  for (const auto* endpoint : {&settings_.authorization_endpoint, &settings_.token_endpoint, &settings_.jwks_uri}) {
    if (!endpoint->empty() && !acceptable_endpoint(*endpoint, require_https)) {
      throw std::invalid_argument("OIDC provider '" + settings_.name + "': endpoint '" + *endpoint +
                                  "' is not an absolute http(s) URL (https for an https issuer)");
    }
  }
}

std::string OidcClient::fetch(const std::string& what, const std::string& url) {
  http::ClientRequest request;
  request.url = url;
  request.headers.set("Accept", "application/json");
  request.timeout = settings_.http_timeout;
  auto response = http_.send(std::move(request));
  if (!response.ok()) {
    throw IdentityProviderFailed("could not fetch the " + what + " of " + settings_.name + ": " +
                                 response.error_message);
  }
  if (response.status != 200) {
    throw IdentityProviderFailed("the " + what + " of " + settings_.name + " answered HTTP " +
                                 std::to_string(response.status));
  }
  return std::move(response.body);
}

void OidcClient::discover() { endpoints(); }

OidcClient::Endpoints OidcClient::endpoints() {
  std::lock_guard lock(mutex_);
  if (endpoints_) return *endpoints_;
  Endpoints found{settings_.authorization_endpoint, settings_.token_endpoint, settings_.jwks_uri,
                  settings_.token_endpoint_auth == TokenEndpointAuth::client_secret_post
                      ? TokenEndpointAuth::client_secret_post
                      : TokenEndpointAuth::client_secret_basic};
  if (found.authorization.empty() || found.token.empty() || found.jwks.empty()) {
    // OIDC Discovery §4: the issuer without its trailing slash, then the well-known path.
    auto base = settings_.issuer;
    while (base.ends_with('/')) base.pop_back();
    const auto body = fetch("discovery document", base + "/.well-known/openid-configuration");
    const auto document = parse_json_strict(body);
    const auto* metadata = document ? document->if_object() : nullptr;
    if (!metadata) throw IdentityProviderFailed("the discovery document of " + settings_.name + " is not JSON");
    const auto* issuer = string_member(*metadata, "issuer");
    if (!issuer || *issuer != settings_.issuer) {
      // OIDC Discovery §4.3: otherwise one provider could pose as another.
      throw IdentityProviderFailed("the discovery document of " + settings_.name + " names another issuer than " +
                                   settings_.issuer);
    }
    const bool require_https = settings_.issuer.starts_with("https://");
    auto take = [&](std::string& endpoint, std::string_view member) {
      if (!endpoint.empty()) return;
      const auto* value = string_member(*metadata, member);
      if (!value || !acceptable_endpoint(*value, require_https)) {
        throw IdentityProviderFailed("the discovery document of " + settings_.name + " has no valid " +
                                     std::string(member));
      }
      endpoint = std::string(*value);
    };
    take(found.authorization, "authorization_endpoint");
    take(found.token, "token_endpoint");
    take(found.jwks, "jwks_uri");

    if (const auto* methods = metadata->if_contains("code_challenge_methods_supported"); methods) {
      const auto* list = methods->if_array();
      if (!list || std::find(list->begin(), list->end(), json::value("S256")) == list->end()) {
        throw IdentityProviderFailed(settings_.name + " does not support PKCE with S256");
      }
    }
    if (settings_.token_endpoint_auth == TokenEndpointAuth::automatic) {
      // Absent, the list means client_secret_basic (OIDC Discovery §3).
      const auto* methods = metadata->if_contains("token_endpoint_auth_methods_supported");
      const auto* list = methods ? methods->if_array() : nullptr;
      auto supports = [&](std::string_view method) {
        return !list || std::find(list->begin(), list->end(), json::value(method)) != list->end();
      };
      if (supports("client_secret_basic")) {
        found.token_auth = TokenEndpointAuth::client_secret_basic;
      } else if (supports("client_secret_post")) {
        found.token_auth = TokenEndpointAuth::client_secret_post;
      } else {
        throw IdentityProviderFailed(
            settings_.name + " supports neither client_secret_basic nor client_secret_post at its token endpoint");
      }
    }
    log::info("OIDC provider discovered", {{"provider", settings_.name}, {"issuer", settings_.issuer}});
  }
  endpoints_ = found;
  return found;
}

std::shared_ptr<const ProviderKeys> OidcClient::keys(bool refetch_for_unknown_kid) {
  const auto jwks_uri = endpoints().jwks;
  std::lock_guard lock(mutex_);
  const auto now = clock_();
  if (keys_) {
    const auto age = now - keys_fetched_at_;
    // An unknown kid usually means the provider rotated its keys; one refetch per interval keeps a flood of
    // forged kids from turning us into a load generator against the provider.
    if (refetch_for_unknown_kid ? age < settings_.jwks_refetch_interval : age < settings_.jwks_max_age) return keys_;
  }
  try {
    keys_ = std::make_shared<const ProviderKeys>(ProviderKeys::parse(fetch("key set", jwks_uri)));
    log::info("OIDC provider keys fetched", {{"provider", settings_.name}, {"keys", keys_->size()}});
  } catch (const IdentityProviderFailed& failure) {
    if (!keys_) throw;
    // The keys we have stay good until the provider answers again; the users need not wait for it.
    log::warn("OIDC provider keys could not be refreshed", {{"provider", settings_.name}, {"error", failure.detail()}});
  }
  keys_fetched_at_ = now;
  return keys_;
}

AuthorizationRequest OidcClient::begin_login() {
  const auto endpoint = endpoints().authorization;
  AuthorizationRequest request;
  request.state = random_token();
  request.nonce = random_token();
  request.code_verifier = random_token();
  std::string scope;
  for (const auto& entry : settings_.scopes) scope += (scope.empty() ? "" : " ") + entry;
  request.url = endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") +
                form({{"response_type", "code"},
                      {"client_id", settings_.client_id},
                      {"redirect_uri", settings_.redirect_uri},
                      {"scope", scope},
                      {"state", request.state},
                      {"nonce", request.nonce},
                      {"code_challenge", pkce_challenge(request.code_verifier)},
                      {"code_challenge_method", "S256"}});
  return request;
}

IdentityClaims OidcClient::complete_login(std::string_view code, std::string_view code_verifier,
                                          std::string_view expected_nonce) {
  if (expected_nonce.empty() || code_verifier.empty()) {
    throw std::invalid_argument("complete_login needs the nonce and code_verifier that begin_login returned");
  }
  if (code.empty()) reject(LoginProblem::code_rejected, "the provider's redirect carried no authorization code");
  const auto endpoint = endpoints();

  http::ClientRequest request;
  request.method = "POST";
  request.url = endpoint.token;
  request.timeout = settings_.http_timeout;
  request.headers.set("Content-Type", "application/x-www-form-urlencoded");
  request.headers.set("Accept", "application/json");
  request.body = form({{"grant_type", "authorization_code"},
                       {"code", code},
                       {"redirect_uri", settings_.redirect_uri},
                       {"code_verifier", code_verifier}});
  if (endpoint.token_auth == TokenEndpointAuth::client_secret_basic) {
    // RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined and base64-encoded.
    request.headers.set("Authorization", "Basic " + base64_standard(form_encode(settings_.client_id) + ":" +
                                                                    form_encode(settings_.client_secret)));
  } else {
    request.body += "&" + form({{"client_id", settings_.client_id}, {"client_secret", settings_.client_secret}});
  }
  auto response = http_.send(std::move(request));
  if (!response.ok()) {
    throw IdentityProviderFailed("could not reach the token endpoint of " + settings_.name + ": " +
                                 response.error_message);
  }
  const auto document = parse_json_strict(response.body);
  const auto* body = document ? document->if_object() : nullptr;
  if (response.status == 400 || response.status == 401) {
    const auto* error = body ? string_member(*body, "error") : nullptr;
    // invalid_grant (RFC 6749 §5.2): the code or the verifier is wrong, used or expired; the user may try again.
    if (error && *error == "invalid_grant") {
      reject(LoginProblem::code_rejected, settings_.name + " refused the authorization code; please sign in again");
    }
    throw IdentityProviderFailed(settings_.name + " refused the token request (" +
                                 (error ? std::string(*error) : "HTTP " + std::to_string(response.status)) +
                                 "): check the client id, secret and redirect URI");
  }
  if (response.status != 200 || !body) {
    throw IdentityProviderFailed("the token endpoint of " + settings_.name + " answered HTTP " +
                                 std::to_string(response.status) + (body ? "" : " without a JSON object"));
  }
  const auto* id_token = string_member(*body, "id_token");
  if (!id_token) throw IdentityProviderFailed("the token response of " + settings_.name + " has no id_token");

  const IdTokenExpectations expected{settings_.issuer, settings_.client_id, std::string(expected_nonce),
                                     settings_.leeway};
  const auto current_keys = keys(false);
  try {
    return verify_id_token(*id_token, *current_keys, expected, clock_());
  } catch (const LoginRejected& rejected) {
    if (rejected.problem() != LoginProblem::unknown_key) throw;
  }
  return verify_id_token(*id_token, *keys(true), expected, clock_());
}

}  // namespace intercab::auth
