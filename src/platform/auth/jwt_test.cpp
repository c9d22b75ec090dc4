#include "platform/auth/jwt.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <set>
#include <thread>

#include "platform/auth/base64url.hpp"

namespace intercab::auth {
namespace {

namespace json = boost::json;

constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15, a fixed clock for every test
constexpr std::string_view kIssuer = "intercab";
constexpr std::string_view kAudience = "intercab-api";

TimePoint at(std::int64_t unix_seconds) { return TimePoint(std::chrono::seconds(unix_seconds)); }
Clock fixed_clock(std::int64_t unix_seconds) {
  return [unix_seconds] { return at(unix_seconds); };
}

json::object access_claims() {
  return {{"iss", kIssuer},     {"sub", "usr_1"},    {"aud", kAudience},
          {"client_id", "web"}, {"exp", kNow + 900}, {"iat", kNow},
          {"nbf", kNow},        {"jti", "jti-1"},    {"roles", json::array{"rider"}},
          {"verified", true}};
}

json::object header(std::string_view alg, std::string_view kid, std::string_view typ = kAccessTokenType) {
  return {{"alg", alg}, {"typ", typ}, {"kid", kid}};
}

// A compact JWS from raw header and payload text, signed over exactly what is encoded.
std::string compact(std::string_view header_text, std::string_view payload_text, const SigningKey& key) {
  const auto input = base64url_encode(header_text) + "." + base64url_encode(payload_text);
  return input + "." + base64url_encode(key.sign(input));
}

std::string compact(const json::object& head, const json::object& payload, const SigningKey& key) {
  return compact(json::serialize(head), json::serialize(payload), key);
}

json::object with(json::object claims, std::string_view name, json::value value) {
  claims[name] = std::move(value);
  return claims;
}

json::object without(json::object claims, std::string_view name) {
  claims.erase(name);
  return claims;
}

std::vector<std::string> split(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (auto dot = token.find('.'); dot != std::string::npos; dot = token.find('.', start)) {
    parts.push_back(token.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(token.substr(start));
  return parts;
}

// The same bytes spelled differently: the unused low bits of the last character set.
std::string non_canonical(std::string part) {
  const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const auto value = alphabet.find(part.back());
  part.back() = alphabet[value | 1U];
  return part;
}

class JwtTest : public ::testing::Test {
 protected:
  SigningKey ed_key = SigningKey::ed25519_from_seed(std::string(32, 'a'), "ed-current");
  SigningKey other_ed_key = SigningKey::ed25519_from_seed(std::string(32, 'b'), "ed-current");  // same kid, other key
  SigningKey hs_key = SigningKey::hs256(std::string(48, 'h'), "hs-current");
  std::shared_ptr<const KeySet> ed_keys = std::make_shared<KeySet>(ed_key);
  // An HS256 signing key plus an Ed25519 verification key, e.g. while moving from one to the other:
  // both algorithms are allowed, so only the key-type check stops algorithm confusion.
  std::shared_ptr<const KeySet> mixed_keys = [this] {
    auto keys = std::make_shared<KeySet>(hs_key);
    keys->add_verification_key(ed_key.verification_key());
    return keys;
  }();
  TokenVerifier ed_verifier{ed_keys, VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience)),
                            fixed_clock(kNow)};
  TokenVerifier mixed_verifier{
      mixed_keys, VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience)), fixed_clock(kNow)};

  TokenProblem rejection(const TokenVerifier& verifier, const std::string& token) {
    try {
      static_cast<void>(verifier.verify(token));
    } catch (const TokenRejected& rejected) {
      return rejected.problem();
    }
    ADD_FAILURE() << "accepted: " << token;
    return TokenProblem::malformed;
  }
};

TEST_F(JwtTest, RejectsEveryMaliciousOrBrokenToken) {
  const auto good = compact(header("EdDSA", "ed-current"), access_claims(), ed_key);
  ASSERT_NO_THROW(ed_verifier.verify(good));
  const auto parts = split(good);
  const auto claims_text = json::serialize(access_claims());
  const auto signature_of = [&](std::string_view head) { return base64url_encode(ed_key.sign(head)); };
  // HMAC keyed with the Ed25519 public key bytes: the classic RS/HS confusion, done with EdDSA.
  const auto public_as_secret = SigningKey::hs256(ed_key.verification_key().public_key(), "ed-current");
  std::string tampered_claims = claims_text;
  tampered_claims[tampered_claims.find("usr_1") + 4] ^= 0x01;  // usr_1 -> usr_0
  const auto header_b64 = [](const json::object& head) { return base64url_encode(json::serialize(head)); };
  const auto payload_b64 = base64url_encode(claims_text);

  struct Case {
    std::string name;
    std::string token;
    TokenProblem expected;
  };
  const std::vector<Case> cases = {
      // alg none, in any spelling, with or without a signature.
      {"alg none, no signature", header_b64(header("none", "ed-current")) + "." + payload_b64 + ".",
       TokenProblem::malformed},
      {"alg none, a signature", header_b64(header("none", "ed-current")) + "." + payload_b64 + "." + parts[2],
       TokenProblem::unsupported_algorithm},
      {"alg None", header_b64(header("None", "ed-current")) + "." + payload_b64 + "." + parts[2],
       TokenProblem::unsupported_algorithm},
      {"alg nOnE", header_b64(header("nOnE", "ed-current")) + "." + payload_b64 + "." + parts[2],
       TokenProblem::unsupported_algorithm},
      {"alg eddsa (wrong case)", compact(header("eddsa", "ed-current"), access_claims(), ed_key),
       TokenProblem::unsupported_algorithm},
      {"alg RS256", compact(header("RS256", "ed-current"), access_claims(), ed_key),
       TokenProblem::unsupported_algorithm},
      {"alg missing", compact(json::object{{"typ", "at+jwt"}, {"kid", "ed-current"}}, access_claims(), ed_key),
       TokenProblem::malformed},
      {"alg not a string",
       compact(json::object{{"alg", 1}, {"typ", "at+jwt"}, {"kid", "ed-current"}}, access_claims(), ed_key),
       TokenProblem::malformed},
      // Algorithm confusion against an EdDSA-only verifier.
      {"HS256 signed with the EdDSA public key",
       compact(header("HS256", "ed-current"), access_claims(), public_as_secret), TokenProblem::unsupported_algorithm},
      {"alg switched to HS256, signature kept",
       header_b64(header("HS256", "ed-current")) + "." + parts[1] + "." + parts[2],
       TokenProblem::unsupported_algorithm},
      // Key ids.
      {"kid path traversal", compact(header("EdDSA", "../../etc/passwd"), access_claims(), ed_key),
       TokenProblem::unknown_key},
      {"kid url", compact(header("EdDSA", "https://attacker.example/key.pem"), access_claims(), ed_key),
       TokenProblem::unknown_key},
      {"kid unknown", compact(header("EdDSA", "ed-retired"), access_claims(), ed_key), TokenProblem::unknown_key},
      {"kid missing", compact(json::object{{"alg", "EdDSA"}, {"typ", "at+jwt"}}, access_claims(), ed_key),
       TokenProblem::unknown_key},
      {"kid a number", compact(json::object{{"alg", "EdDSA"}, {"typ", "at+jwt"}, {"kid", 7}}, access_claims(), ed_key),
       TokenProblem::unknown_key},
      // Keys from the token itself are never used.
      {"header jwk",
       compact(with(header("EdDSA", "ed-current"), "jwk", ed_key.verification_key().jwk()), access_claims(), ed_key),
       TokenProblem::malformed},
      {"header jku",
       compact(with(header("EdDSA", "ed-current"), "jku", "https://attacker.example/jwks"), access_claims(), ed_key),
       TokenProblem::malformed},
      {"header crit", compact(with(header("EdDSA", "ed-current"), "crit", json::array{"exp"}), access_claims(), ed_key),
       TokenProblem::malformed},
      // Signatures.
      {"signature of another key with the same kid",
       compact(header("EdDSA", "ed-current"), access_claims(), other_ed_key), TokenProblem::bad_signature},
      {"tampered payload (one bit)", parts[0] + "." + base64url_encode(tampered_claims) + "." + parts[2],
       TokenProblem::bad_signature},
      {"signature over other data", parts[0] + "." + parts[1] + "." + signature_of("x"), TokenProblem::bad_signature},
      {"signature truncated", parts[0] + "." + parts[1] + "." + parts[2].substr(0, 80), TokenProblem::bad_signature},
      // Token types.
      {"svc+jwt to an access verifier",
       compact(header("EdDSA", "ed-current", kServiceTokenType), access_claims(), ed_key), TokenProblem::wrong_type},
      {"typ JWT", compact(header("EdDSA", "ed-current", "JWT"), access_claims(), ed_key), TokenProblem::wrong_type},
      {"typ application/at+jwt", compact(header("EdDSA", "ed-current", "application/at+jwt"), access_claims(), ed_key),
       TokenProblem::wrong_type},
      {"typ missing", compact(json::object{{"alg", "EdDSA"}, {"kid", "ed-current"}}, access_claims(), ed_key),
       TokenProblem::wrong_type},
      // Time.
      {"expired beyond the leeway",
       compact(header("EdDSA", "ed-current"), with(with(access_claims(), "exp", kNow - 31), "iat", kNow - 931), ed_key),
       TokenProblem::expired},
      {"not yet valid beyond the leeway",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "nbf", kNow + 31), ed_key),
       TokenProblem::not_yet_valid},
      {"issued in the future",
       compact(header("EdDSA", "ed-current"), with(with(access_claims(), "iat", kNow + 31), "nbf", kNow), ed_key),
       TokenProblem::invalid_claims},
      {"lifetime over the maximum",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "exp", kNow + 3601), ed_key),
       TokenProblem::invalid_claims},
      {"exp before iat", compact(header("EdDSA", "ed-current"), with(access_claims(), "exp", kNow), ed_key),
       TokenProblem::invalid_claims},
      {"exp missing", compact(header("EdDSA", "ed-current"), without(access_claims(), "exp"), ed_key),
       TokenProblem::invalid_claims},
      {"exp as a string",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "exp", json::string(std::to_string(kNow + 900))),
               ed_key),
       TokenProblem::invalid_claims},
      {"exp as a fraction", compact(header("EdDSA", "ed-current"), with(access_claims(), "exp", kNow + 900.5), ed_key),
       TokenProblem::invalid_claims},
      {"exp negative", compact(header("EdDSA", "ed-current"), with(access_claims(), "exp", -1), ed_key),
       TokenProblem::invalid_claims},
      {"exp past year 9999",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "exp", 18446744073709551615ULL), ed_key),
       TokenProblem::invalid_claims},
      {"iat missing", compact(header("EdDSA", "ed-current"), without(access_claims(), "iat"), ed_key),
       TokenProblem::invalid_claims},
      // Issuer and audience.
      {"wrong iss", compact(header("EdDSA", "ed-current"), with(access_claims(), "iss", "intercab-evil"), ed_key),
       TokenProblem::wrong_issuer},
      {"iss of another case", compact(header("EdDSA", "ed-current"), with(access_claims(), "iss", "InterCab"), ed_key),
       TokenProblem::wrong_issuer},
      {"wrong aud", compact(header("EdDSA", "ed-current"), with(access_claims(), "aud", "payment"), ed_key),
       TokenProblem::wrong_audience},
      {"aud array without ours",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "aud", json::array{"payment", "intercab-api-x"}),
               ed_key),
       TokenProblem::wrong_audience},
      {"aud empty array", compact(header("EdDSA", "ed-current"), with(access_claims(), "aud", json::array{}), ed_key),
       TokenProblem::invalid_claims},
      {"aud missing", compact(header("EdDSA", "ed-current"), without(access_claims(), "aud"), ed_key),
       TokenProblem::invalid_claims},
      // Claims of the wrong type or missing.
      {"roles not an array", compact(header("EdDSA", "ed-current"), with(access_claims(), "roles", "admin"), ed_key),
       TokenProblem::invalid_claims},
      {"roles holding a number",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "roles", json::array{1}), ed_key),
       TokenProblem::invalid_claims},
      {"roles missing", compact(header("EdDSA", "ed-current"), without(access_claims(), "roles"), ed_key),
       TokenProblem::invalid_claims},
      {"verified as a string",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "verified", "true"), ed_key),
       TokenProblem::invalid_claims},
      {"sub a number", compact(header("EdDSA", "ed-current"), with(access_claims(), "sub", 42), ed_key),
       TokenProblem::invalid_claims},
      {"sub empty", compact(header("EdDSA", "ed-current"), with(access_claims(), "sub", ""), ed_key),
       TokenProblem::invalid_claims},
      {"sub missing", compact(header("EdDSA", "ed-current"), without(access_claims(), "sub"), ed_key),
       TokenProblem::invalid_claims},
      {"client_id missing", compact(header("EdDSA", "ed-current"), without(access_claims(), "client_id"), ed_key),
       TokenProblem::invalid_claims},
      {"jti missing", compact(header("EdDSA", "ed-current"), without(access_claims(), "jti"), ed_key),
       TokenProblem::invalid_claims},
      // Structure.
      {"empty", "", TokenProblem::malformed},
      {"dots only", "..", TokenProblem::malformed},
      {"two parts", parts[0] + "." + parts[1], TokenProblem::malformed},
      {"four parts", good + "." + parts[2], TokenProblem::malformed},
      {"empty header", "." + parts[1] + "." + parts[2], TokenProblem::malformed},
      {"empty payload", parts[0] + ".." + parts[2], TokenProblem::malformed},
      {"empty signature", parts[0] + "." + parts[1] + ".", TokenProblem::malformed},
      {"padding on the signature", good + "==", TokenProblem::malformed},
      {"padding on the header", parts[0] + "=." + parts[1] + "." + parts[2], TokenProblem::malformed},
      {"'+' in the signature", parts[0] + "." + parts[1] + ".+" + parts[2].substr(1), TokenProblem::malformed},
      {"'/' in the signature", parts[0] + "." + parts[1] + "./" + parts[2].substr(1), TokenProblem::malformed},
      {"'+' in the payload (signed as is)",
       parts[0] + ".+" + parts[1].substr(1) + "." + signature_of(parts[0] + ".+" + parts[1].substr(1)),
       TokenProblem::malformed},
      {"non-canonical base64url signature (same bytes)", parts[0] + "." + parts[1] + "." + non_canonical(parts[2]),
       TokenProblem::malformed},
      {"whitespace", parts[0] + " ." + parts[1] + "." + parts[2], TokenProblem::malformed},
      {"header not JSON", base64url_encode("{\"alg\":") + "." + parts[1] + "." + parts[2], TokenProblem::malformed},
      {"header an array", base64url_encode(R"(["EdDSA"])") + "." + parts[1] + "." + parts[2], TokenProblem::malformed},
      {"header a string", base64url_encode(R"("EdDSA")") + "." + parts[1] + "." + parts[2], TokenProblem::malformed},
      {"header with a duplicate alg",
       compact(R"({"alg":"EdDSA","typ":"at+jwt","kid":"ed-current","alg":"none"})", claims_text, ed_key),
       TokenProblem::malformed},
      {"payload an array (signed)", compact(json::serialize(header("EdDSA", "ed-current")), "[1]", ed_key),
       TokenProblem::malformed},
      {"payload with a duplicate sub (signed)",
       compact(json::serialize(header("EdDSA", "ed-current")),
               claims_text.substr(0, claims_text.size() - 1) + R"(,"sub":"usr_admin"})", ed_key),
       TokenProblem::malformed},
      {"payload not base64url (signed as is)", parts[0] + ".e30*." + signature_of(parts[0] + ".e30*"),
       TokenProblem::malformed},
      {"huge token", std::string(9000, 'A'), TokenProblem::too_large},
      {"huge but well signed",
       compact(header("EdDSA", "ed-current"), with(access_claims(), "pad", json::string(std::string(7000, 'x'))),
               ed_key),
       TokenProblem::too_large},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(to_string(rejection(ed_verifier, c.token)), to_string(c.expected));
  }
}

TEST_F(JwtTest, KeyTypeDecidesTheAlgorithmWhenBothAreAllowed) {
  ASSERT_EQ(mixed_verifier.algorithms().size(), 2U);
  const auto public_as_secret = SigningKey::hs256(ed_key.verification_key().public_key(), "ed-current");
  const auto ed_signature = split(compact(header("EdDSA", "ed-current"), access_claims(), ed_key))[2];
  const auto hs_header = base64url_encode(json::serialize(header("HS256", "ed-current")));
  const auto payload = base64url_encode(json::serialize(access_claims()));
  // HS256 naming the Ed25519 key: the public key is never used as an HMAC secret.
  EXPECT_EQ(rejection(mixed_verifier, compact(header("HS256", "ed-current"), access_claims(), public_as_secret)),
            TokenProblem::algorithm_key_mismatch);
  EXPECT_EQ(rejection(mixed_verifier, hs_header + "." + payload + "." + ed_signature),
            TokenProblem::algorithm_key_mismatch);
  // EdDSA naming the HS256 key.
  EXPECT_EQ(rejection(mixed_verifier, compact(header("EdDSA", "hs-current"), access_claims(), ed_key)),
            TokenProblem::algorithm_key_mismatch);
  // Each key still verifies its own algorithm.
  EXPECT_NO_THROW(mixed_verifier.verify(compact(header("HS256", "hs-current"), access_claims(), hs_key)));
  EXPECT_NO_THROW(mixed_verifier.verify(compact(header("EdDSA", "ed-current"), access_claims(), ed_key)));
  // A narrower allow-list is fixed at construction, whatever keys the set holds.
  VerifierSettings eddsa_only = VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience));
  eddsa_only.algorithms = {Algorithm::eddsa};
  const TokenVerifier narrow(mixed_keys, eddsa_only, fixed_clock(kNow));
  EXPECT_EQ(rejection(narrow, compact(header("HS256", "hs-current"), access_claims(), hs_key)),
            TokenProblem::unsupported_algorithm);
}

TEST_F(JwtTest, LeewayToleratesSmallClockSkew) {
  const auto token = [&](std::int64_t iat, std::int64_t nbf, std::int64_t exp) {
    return compact(header("EdDSA", "ed-current"), with(with(with(access_claims(), "iat", iat), "nbf", nbf), "exp", exp),
                   ed_key);
  };
  EXPECT_NO_THROW(ed_verifier.verify(token(kNow - 929, kNow - 929, kNow - 29)));  // expired 29 s ago
  EXPECT_NO_THROW(ed_verifier.verify(token(kNow + 29, kNow + 29, kNow + 929)));   // issued 29 s "ahead"
  EXPECT_EQ(rejection(ed_verifier, token(kNow - 930, kNow - 930, kNow - 30)), TokenProblem::expired);
  EXPECT_NO_THROW(ed_verifier.verify(compact(header("EdDSA", "ed-current"), without(access_claims(), "nbf"), ed_key)));
}

TEST_F(JwtTest, RejectionIsA401ThatNeverEchoesTheToken) {
  const auto token = compact(header("EdDSA", "ed-current"), with(access_claims(), "aud", "payment"), ed_key);
  try {
    static_cast<void>(ed_verifier.verify(token));
    FAIL() << "accepted";
  } catch (const errors::Unauthorized& error) {
    EXPECT_EQ(error.status(), 401);
    EXPECT_EQ(error.detail(), "the token is meant for another audience");
    ASSERT_EQ(error.headers().size(), 1U);
    EXPECT_EQ(error.headers()[0].first, "WWW-Authenticate");
    EXPECT_EQ(error.headers()[0].second,
              R"(Bearer error="invalid_token", error_description="the token is meant for another audience")");
    const auto problem = json::serialize(errors::to_problem_json(error, "/api/v1/bookings", "r"));
    EXPECT_EQ(problem.find(split(token)[1]), std::string::npos);
    EXPECT_EQ(problem.find("payment"), std::string::npos);
  }
}

TEST_F(JwtTest, AccessTokensRoundTripWithEdDsaAndHs256) {
  for (const auto& keys : {ed_keys, std::shared_ptr<const KeySet>(std::make_shared<KeySet>(hs_key))}) {
    const AccessTokenIssuer issuer(keys, {std::string(kIssuer), std::string(kAudience)}, fixed_clock(kNow));
    const TokenVerifier verifier(keys, VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience)),
                                 fixed_clock(kNow + 60));
    const auto issued = issuer.issue({"usr_42", "driver-app", {"driver", "fleet_owner"}, true});
    EXPECT_EQ(issued.expires_at, at(kNow + 15 * 60));
    const auto claims = verifier.verify(issued.token);
    EXPECT_EQ(claims.token_type, kAccessTokenType);
    EXPECT_EQ(claims.key_id, keys->signing_key()->kid());
    EXPECT_EQ(claims.issuer, kIssuer);
    EXPECT_EQ(claims.audience, kAudience);
    EXPECT_EQ(claims.subject, "usr_42");
    EXPECT_EQ(claims.client_id, "driver-app");
    EXPECT_EQ(claims.roles, (std::vector<std::string>{"driver", "fleet_owner"}));
    EXPECT_TRUE(claims.has_role("fleet_owner"));
    EXPECT_FALSE(claims.has_role("admin"));
    EXPECT_TRUE(claims.verified);
    EXPECT_EQ(claims.jwt_id, issued.jwt_id);
    EXPECT_EQ(claims.jwt_id.size(), 22U);  // 128 random bits
    EXPECT_EQ(claims.issued_at, at(kNow));
    EXPECT_EQ(claims.not_before, at(kNow));
    EXPECT_EQ(claims.expires_at, at(kNow + 900));

    // The header is exactly what RFC 9068 and RFC 8725 ask for.
    const auto head = json::parse(base64url_decode(split(issued.token)[0]).value()).as_object();
    EXPECT_EQ(head.at("typ").as_string(), "at+jwt");
    EXPECT_EQ(head.at("alg").as_string(), to_string(keys->signing_key()->algorithm()));
    EXPECT_EQ(head.at("kid").as_string(), keys->signing_key()->kid());
    EXPECT_EQ(head.size(), 3U);

    EXPECT_NE(issuer.issue({"usr_42", "web", {}, false}).jwt_id, issued.jwt_id);
    const TokenVerifier later(keys, VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience)),
                              fixed_clock(kNow + 15 * 60 + 30));
    EXPECT_EQ(rejection(later, issued.token), TokenProblem::expired);
  }
}

TEST_F(JwtTest, RotationKeepsOldTokensValidUntilTheOldKeyIsRemoved) {
  const auto old_key = SigningKey::ed25519_from_seed(std::string(32, 'o'));
  const auto new_key = SigningKey::ed25519_from_seed(std::string(32, 'n'));
  const AccessTokenSettings settings{std::string(kIssuer), std::string(kAudience)};
  const auto verifier_settings = VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience));
  const auto old_token = AccessTokenIssuer(std::make_shared<KeySet>(old_key), settings, fixed_clock(kNow))
                             .issue({"usr_1", "web", {"rider"}, true})
                             .token;

  // After rotation: the new key signs, the old public key still verifies.
  auto rotated = std::make_shared<KeySet>(new_key);
  rotated->add_verification_key(old_key.verification_key());
  const TokenVerifier during(rotated, verifier_settings, fixed_clock(kNow + 60));
  EXPECT_EQ(during.verify(old_token).key_id, old_key.kid());
  const auto new_token = AccessTokenIssuer(rotated, settings, fixed_clock(kNow + 60)).issue({"usr_1", "web", {}, true});
  EXPECT_EQ(during.verify(new_token.token).key_id, new_key.kid());
  EXPECT_EQ(rotated->jwks().at("keys").as_array().size(), 2U);

  // Once every old token has expired, the old key goes.
  auto retired = std::make_shared<KeySet>(*rotated);
  EXPECT_TRUE(retired->remove_verification_key(old_key.kid()));
  const TokenVerifier after(retired, verifier_settings, fixed_clock(kNow + 60));
  EXPECT_EQ(rejection(after, old_token), TokenProblem::unknown_key);
  EXPECT_NO_THROW(after.verify(new_token.token));
  EXPECT_EQ(retired->jwks().at("keys").as_array().size(), 1U);
}

TEST_F(JwtTest, VerifierOnlyKeySetFromJwks) {
  const AccessTokenIssuer issuer(ed_keys, {std::string(kIssuer), std::string(kAudience)}, fixed_clock(kNow));
  auto public_only = std::make_shared<KeySet>();
  for (auto& key : parse_jwks(json::serialize(ed_keys->jwks()))) public_only->add_verification_key(std::move(key));
  const TokenVerifier verifier(
      public_only, VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience)), fixed_clock(kNow));
  EXPECT_EQ(verifier.verify(issuer.issue({"usr_1", "web", {"rider"}, false}).token).subject, "usr_1");
  EXPECT_THROW(AccessTokenIssuer(public_only, {std::string(kIssuer), std::string(kAudience)}), KeyError);
  EXPECT_THROW(TokenVerifier(std::make_shared<KeySet>(),
                             VerifierSettings::access_tokens(std::string(kIssuer), std::string(kAudience))),
               KeyError);
}

class ServiceTokenTest : public JwtTest {
 protected:
  std::atomic<std::int64_t> now{kNow};
  Clock moving_clock = [this] { return at(now.load()); };
  std::shared_ptr<const KeySet> internal_keys =
      std::make_shared<KeySet>(SigningKey::ed25519_from_seed(std::string(32, 'i'), "internal-1"));
  ServiceTokenIssuer issuer{internal_keys, {"intercab-internal", "booking"}, moving_clock};
  TokenVerifier payment_verifier{internal_keys, VerifierSettings::service_tokens("intercab-internal", "payment"),
                                 moving_clock};
};

TEST_F(ServiceTokenTest, CarriesTheCallerAndTheCalledService) {
  const auto token = issuer.token_for("payment");
  const auto claims = payment_verifier.verify(token);
  EXPECT_EQ(claims.token_type, kServiceTokenType);
  EXPECT_EQ(claims.subject, "booking");
  EXPECT_EQ(claims.audience, "payment");
  EXPECT_EQ(claims.expires_at - claims.issued_at, std::chrono::seconds(60));
  EXPECT_TRUE(claims.roles.empty());
  EXPECT_TRUE(claims.client_id.empty());

  // Another service's internal endpoints do not accept it.
  const TokenVerifier driver_verifier(internal_keys, VerifierSettings::service_tokens("intercab-internal", "driver"),
                                      moving_clock);
  EXPECT_EQ(rejection(driver_verifier, token), TokenProblem::wrong_audience);
  // Neither does anything that verifies user tokens, even with the same keys.
  const TokenVerifier user_verifier(internal_keys, VerifierSettings::access_tokens("intercab-internal", "payment"),
                                    moving_clock);
  EXPECT_EQ(rejection(user_verifier, token), TokenProblem::wrong_type);
  // And a user token is no service token.
  EXPECT_EQ(rejection(payment_verifier,
                      compact(header("EdDSA", "internal-1"), access_claims(), *internal_keys->signing_key())),
            TokenProblem::wrong_type);
  EXPECT_EQ(rejection(ed_verifier, token), TokenProblem::wrong_type);
  // Expired one minute later (plus leeway).
  now += 91;
  EXPECT_EQ(rejection(payment_verifier, token), TokenProblem::expired);
}

TEST_F(ServiceTokenTest, CacheReusesATokenUntilShortlyBeforeExpiry) {
  const auto first = issuer.token_for("payment");
  EXPECT_EQ(issuer.token_for("payment"), first);
  const auto driver = issuer.token_for("driver");
  EXPECT_NE(driver, first);
  EXPECT_EQ(payment_verifier.verify(first).audience, "payment");

  now += 44;  // 16 s left: still reused
  EXPECT_EQ(issuer.token_for("payment"), first);
  now += 1;  // 15 s left: renewed
  const auto second = issuer.token_for("payment");
  EXPECT_NE(second, first);
  EXPECT_EQ(issuer.token_for("payment"), second);
  EXPECT_EQ(payment_verifier.verify(second).issued_at, at(kNow + 45));
  EXPECT_NE(issuer.issue("payment").token, second);  // issue() bypasses the cache
}

TEST_F(ServiceTokenTest, CacheIsSafeUnderConcurrentCallers) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 200;
  std::vector<std::set<std::string>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string audience = t % 2 == 0 ? "payment" : "driver";
      for (int i = 0; i < kCallsPerThread; ++i) seen[t].insert(issuer.token_for(audience));
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> payment_tokens;
  for (int t = 0; t < kThreads; t += 2) payment_tokens.insert(seen[t].begin(), seen[t].end());
  // Threads may race to fill the empty cache, but once filled every caller reuses one token.
  EXPECT_LE(payment_tokens.size(), static_cast<std::size_t>(kThreads / 2));
  for (const auto& token : payment_tokens) EXPECT_EQ(payment_verifier.verify(token).subject, "booking");
  EXPECT_EQ(issuer.token_for("payment"), issuer.token_for("payment"));
}

TEST(ServiceTokenSettings, RejectsNonsense) {
  const auto keys = std::make_shared<KeySet>(SigningKey::ed25519_from_seed(std::string(32, 'i')));
  EXPECT_THROW(ServiceTokenIssuer(keys, {"iss", ""}), std::invalid_argument);
  ServiceTokenSettings renew_too_late{"iss", "booking"};
  renew_too_late.renew_before = std::chrono::seconds(60);
  EXPECT_THROW(ServiceTokenIssuer(keys, renew_too_late), std::invalid_argument);
  EXPECT_THROW(ServiceTokenIssuer(std::make_shared<KeySet>(), {"iss", "booking"}), KeyError);
}

TEST(BearerToken, ExtractsTheTokenOfTheBearerScheme) {
  EXPECT_EQ(bearer_token("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(bearer_token("bearer   abc.def.ghi "), "abc.def.ghi");
  EXPECT_EQ(bearer_token("BEARER x"), "x");
  EXPECT_FALSE(bearer_token("Basic dXNlcjpwYXNz").has_value());
  EXPECT_FALSE(bearer_token("Bearer").has_value());
  EXPECT_FALSE(bearer_token("Bearer ").has_value());
  EXPECT_FALSE(bearer_token("Bearerabc").has_value());
  EXPECT_FALSE(bearer_token("Bearer a b").has_value());
  EXPECT_FALSE(bearer_token("").has_value());
}

}  // namespace
}  // namespace intercab::auth
