// ID token verification against keys made here with OpenSSL, and OidcClient against an in-process fake provider
// (discovery, client authentication, token errors, key rotation). The flow against a real provider is in
// tests/integration/oidc_flow_test.cpp.
#include "platform/auth/oidc.hpp"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <map>
#include <memory>
#include <mutex>

#include "platform/auth/base64url.hpp"
#include "platform/http/client.hpp"
#include "platform/http/router.hpp"
#include "platform/http/server.hpp"

namespace intercab::auth {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::int64_t kNow = 1'800'000'000;  // a fixed clock for every test
constexpr std::string_view kClientId = "intercab-web";
constexpr std::string_view kNonce = "n-0S6_WzA2Mj";

TimePoint at(std::int64_t unix_seconds) { return TimePoint(std::chrono::seconds(unix_seconds)); }

std::string bytes_text(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A private key of one JWS algorithm, its JWK and a signer, all through OpenSSL.
class SigningKey {
 public:
  SigningKey(std::string algorithm, std::string key_id) : algorithm_(std::move(algorithm)), key_id_(std::move(key_id)) {
    if (algorithm_ == "RS256") {
      key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
    } else if (algorithm_ == "ES256") {
      key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    } else {
      key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    }
    if (!key_) throw std::runtime_error("key generation failed for " + algorithm_);
  }

  const std::string& key_id() const { return key_id_; }
  const std::string& algorithm() const { return algorithm_; }

  json::object jwk() const {
    json::object jwk{{"kid", key_id_}, {"use", "sig"}};
    if (algorithm_ == "RS256") {
      jwk["kty"] = "RSA";
      jwk["n"] = base64url_encode(big_number("n"));
      jwk["e"] = base64url_encode(big_number("e"));
    } else if (algorithm_ == "ES256") {
      unsigned char point[65];
      std::size_t size = 0;
      EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &size);
      jwk["kty"] = "EC";
      jwk["crv"] = "P-256";
      jwk["x"] = base64url_encode(bytes_text(point + 1, 32));
      jwk["y"] = base64url_encode(bytes_text(point + 33, 32));
    } else {
      unsigned char raw[32];
      std::size_t size = sizeof raw;
      EVP_PKEY_get_raw_public_key(key_.get(), raw, &size);
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = base64url_encode(bytes_text(raw, size));
    }
    return jwk;
  }

  std::string public_key_pem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), key_.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(size)};
  }

  std::string sign(std::string_view input) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    const EVP_MD* digest = algorithm_ == "EdDSA" ? nullptr : EVP_sha256();
    EVP_DigestSignInit(context.get(), nullptr, digest, nullptr, key_.get());
    std::size_t size = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    EVP_DigestSign(context.get(), nullptr, &size, data, input.size());
    std::string signature(size, '\0');
    EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, data, input.size());
    signature.resize(size);
    if (algorithm_ != "ES256") return signature;
    // DER to the r || s form of JWS.
    const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> parsed(
        d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size())), ECDSA_SIG_free);
    unsigned char raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), raw + 32, 32);
    return bytes_text(raw, sizeof raw);
  }

 private:
  std::string big_number(const char* name) const {
    BIGNUM* number = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), name, &number);
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(number)), '\0');
    BN_bn2bin(number, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(number);
    return bytes;
  }

  std::string algorithm_;
  std::string key_id_;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_{nullptr, EVP_PKEY_free};
};

std::string jwks_of(std::initializer_list<const SigningKey*> keys) {
  json::array list;
  for (const auto* key : keys) list.push_back(key->jwk());
  return json::serialize(json::object{{"keys", list}});
}

std::string encode(const json::object& object) { return base64url_encode(json::serialize(object)); }

// header.payload.signature with the header and payload given as text, signed by `key` over what is encoded.
std::string token_from_text(const SigningKey& key, const std::string& header, const std::string& payload) {
  const auto input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(key.sign(input));
}

std::string token(const SigningKey& key, const json::object& claims) {
  return token_from_text(key, json::serialize(json::object{{"alg", key.algorithm()}, {"kid", key.key_id()}}),
                         json::serialize(claims));
}

json::object good_claims(const std::string& issuer) {
  return {{"iss", issuer},
          {"sub", "248289761001"},
          {"aud", kClientId},
          {"exp", kNow + 600},
          {"iat", kNow - 5},
          {"nonce", kNonce},
          {"email", "asha@example.com"},
          {"email_verified", true},
          {"name", "Asha Rao"}};
}

class IdTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new SigningKey("RS256", "rsa-1");
    ec_ = new SigningKey("ES256", "ec-1");
    ed_ = new SigningKey("EdDSA", "ed-1");
    keys_ = new ProviderKeys(ProviderKeys::parse(jwks_of({rsa_, ec_, ed_})));
  }
  static void TearDownTestSuite() {
    delete keys_;
    delete ed_;
    delete ec_;
    delete rsa_;
  }

  static IdTokenExpectations expected() { return {kIssuer, std::string(kClientId), std::string(kNonce), 60s}; }

  static IdentityClaims verify(const std::string& id_token, TimePoint now = at(kNow)) {
    return verify_id_token(id_token, *keys_, expected(), now);
  }

  // The problem verify() throws for `id_token`, or nullopt if it is accepted.
  static std::optional<LoginProblem> problem_of(const std::string& id_token, TimePoint now = at(kNow)) {
    try {
      verify(id_token, now);
      return std::nullopt;
    } catch (const LoginRejected& rejected) {
      EXPECT_EQ(rejected.status(), 401);
      return rejected.problem();
    }
  }

  static inline const std::string kIssuer = "https://accounts.example.com";
  static inline SigningKey* rsa_ = nullptr;
  static inline SigningKey* ec_ = nullptr;
  static inline SigningKey* ed_ = nullptr;
  static inline ProviderKeys* keys_ = nullptr;
};

TEST_F(IdTokenTest, AcceptsGoodTokensOfEveryAllowedAlgorithm) {
  for (const auto* key : {rsa_, ec_, ed_}) {
    const auto identity = verify(token(*key, good_claims(kIssuer)));
    EXPECT_EQ(identity.issuer, kIssuer) << key->algorithm();
    EXPECT_EQ(identity.subject, "248289761001");
    EXPECT_EQ(identity.email, "asha@example.com");
    EXPECT_TRUE(identity.email_verified);
    EXPECT_EQ(identity.name, "Asha Rao");
  }
}

TEST_F(IdTokenTest, RejectionTable) {
  const auto good = good_claims(kIssuer);
  auto with = [&](std::string_view name, json::value value) {
    auto claims = good;
    claims[name] = std::move(value);
    return token(*rsa_, claims);
  };
  auto without = [&](std::string_view name) {
    auto claims = good;
    claims.erase(name);
    return token(*rsa_, claims);
  };
  const auto good_token = token(*rsa_, good);
  const auto first_dot = good_token.find('.');
  const auto last_dot = good_token.rfind('.');
  const auto payload = json::serialize(good);

  // An HMAC over the token keyed with the RSA public key: the algorithm confusion attack (RFC 8725 §2.1).
  const auto hs256_input = base64url_encode(R"({"alg":"HS256","kid":"rsa-1"})") + "." + base64url_encode(payload);
  const auto pem = rsa_->public_key_pem();
  unsigned char mac[32];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), pem.data(), static_cast<int>(pem.size()),
       reinterpret_cast<const unsigned char*>(hs256_input.data()), hs256_input.size(), mac, &mac_size);
  const auto hs256_confusion = hs256_input + "." + base64url_encode(bytes_text(mac, mac_size));

  auto tampered_claims = good;
  tampered_claims["sub"] = "someone-else";
  const auto tampered = good_token.substr(0, first_dot) + "." + encode(tampered_claims) + good_token.substr(last_dot);

  const SigningKey impostor("RS256", "rsa-1");  // same kid, another key

  const struct {
    std::string name;
    std::string token;
    std::optional<LoginProblem> problem;
  } cases[] = {
      {"good", good_token, std::nullopt},
      {"alg none", base64url_encode(R"({"alg":"none","kid":"rsa-1"})") + "." + base64url_encode(payload) + ".",
       LoginProblem::unsupported_algorithm},
      {"HS256 keyed with the public key", hs256_confusion, LoginProblem::unsupported_algorithm},
      {"RS384", token_from_text(*rsa_, R"({"alg":"RS384","kid":"rsa-1"})", payload),
       LoginProblem::unsupported_algorithm},
      {"no alg", token_from_text(*rsa_, R"({"kid":"rsa-1"})", payload), LoginProblem::unsupported_algorithm},
      {"unknown kid", token_from_text(*rsa_, R"({"alg":"RS256","kid":"rsa-2"})", payload), LoginProblem::unknown_key},
      {"no kid", token_from_text(*rsa_, R"({"alg":"RS256"})", payload), LoginProblem::unknown_key},
      {"ES256 header on the RSA key", token_from_text(*rsa_, R"({"alg":"ES256","kid":"rsa-1"})", payload),
       LoginProblem::algorithm_key_mismatch},
      {"signed by another key with the same kid", token(impostor, good), LoginProblem::bad_signature},
      {"tampered payload", tampered, LoginProblem::bad_signature},
      {"truncated signature", good_token.substr(0, good_token.size() - 10), LoginProblem::bad_signature},
      {"truncated to two parts", good_token.substr(0, last_dot), LoginProblem::malformed_token},
      {"four parts", good_token + ".x", LoginProblem::malformed_token},
      {"empty", "", LoginProblem::malformed_token},
      {"crit header", token_from_text(*rsa_, R"({"alg":"RS256","kid":"rsa-1","crit":["exp"]})", payload),
       LoginProblem::malformed_token},
      {"duplicate claim",
       token_from_text(*rsa_, R"({"alg":"RS256","kid":"rsa-1"})",
                       payload.substr(0, payload.size() - 1) + R"(,"sub":"x"})"),
       LoginProblem::malformed_token},
      {"wrong iss", with("iss", "https://evil.example.com"), LoginProblem::wrong_issuer},
      {"iss with a trailing slash", with("iss", json::string(kIssuer + "/")), LoginProblem::wrong_issuer},
      {"no iss", without("iss"), LoginProblem::wrong_issuer},
      {"wrong aud", with("aud", "another-client"), LoginProblem::wrong_audience},
      {"no aud", without("aud"), LoginProblem::wrong_audience},
      {"aud list naming us", with("aud", json::array{kClientId}), std::nullopt},
      {"several aud without azp", with("aud", json::array{"another-client", kClientId}), LoginProblem::wrong_audience},
      {"azp of another client", with("azp", "another-client"), LoginProblem::wrong_audience},
      {"expired beyond the leeway", with("exp", kNow - 61), LoginProblem::expired},
      {"expired within the leeway", with("exp", kNow - 30), std::nullopt},
      {"exp not a number", with("exp", "tomorrow"), LoginProblem::invalid_claims},
      {"no iat", without("iat"), LoginProblem::invalid_claims},
      {"iat in the future beyond the leeway", with("iat", kNow + 61), LoginProblem::issued_in_future},
      {"iat in the future within the leeway", with("iat", kNow + 30), std::nullopt},
      {"nbf in the future", with("nbf", kNow + 120), LoginProblem::issued_in_future},
      {"nonce mismatch", with("nonce", "n-other"), LoginProblem::nonce_mismatch},
      {"no nonce", without("nonce"), LoginProblem::nonce_mismatch},
      {"no sub", without("sub"), LoginProblem::invalid_claims},
      {"email_verified as a string", with("email_verified", "true"), LoginProblem::invalid_claims},
  };
  for (const auto& test : cases) {
    const auto problem = problem_of(test.token);
    EXPECT_EQ(problem, test.problem) << test.name << ": got " << (problem ? to_string(*problem) : "accepted");
  }
}

TEST_F(IdTokenTest, AzpNamingUsMakesSeveralAudiencesAcceptable) {
  auto claims = good_claims(kIssuer);
  claims["aud"] = json::array{kClientId, "another-client"};
  claims["azp"] = kClientId;
  EXPECT_EQ(verify(token(*ec_, claims)).subject, "248289761001");
}

TEST_F(IdTokenTest, EmailVerifiedNeedsAnEmail) {
  auto claims = good_claims(kIssuer);
  claims.erase("email");
  const auto identity = verify(token(*ed_, claims));
  EXPECT_EQ(identity.email, "");
  EXPECT_FALSE(identity.email_verified);
}

TEST(ProviderKeysTest, KeepsOnlyUsableSignatureKeys) {
  const SigningKey rsa("RS256", "rsa"), ec("ES256", "ec");
  auto encryption = rsa.jwk();
  encryption["kid"] = "enc";
  encryption["use"] = "enc";
  auto pss = rsa.jwk();
  pss["kid"] = "pss";
  pss["alg"] = "PS256";
  auto no_kid = ec.jwk();
  no_kid.erase("kid");
  auto off_curve = ec.jwk();
  off_curve["kid"] = "off-curve";
  off_curve["y"] = off_curve["x"];
  auto small_rsa = rsa.jwk();
  small_rsa["kid"] = "small";
  small_rsa["n"] = base64url_encode(std::string(128, '\xC3'));  // 1024 bits
  const json::array list{
      rsa.jwk(),      ec.jwk(),  encryption, pss,
      no_kid,         off_curve, small_rsa,  json::object{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}},
      "not an object"};
  const auto keys = ProviderKeys::parse(json::serialize(json::object{{"keys", list}}));
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_TRUE(keys.contains("rsa"));
  EXPECT_TRUE(keys.contains("ec"));
}

TEST(ProviderKeysTest, AKeySetThatIsNotOneIsAProviderFailure) {
  for (const std::string bad : {"", "[]", R"({"keys":{}})", R"({"keys":[],"keys":[]})", "<html>"}) {
    try {
      ProviderKeys::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const IdentityProviderFailed& failure) {
      EXPECT_EQ(failure.status(), 502);
    }
  }
}

// --- OidcClient against a fake provider served by our own http::Server

class FakeProvider {
 public:
  FakeProvider() : rsa("RS256", "k1") {
    http::Router router;
    router.add("GET", "/.well-known/openid-configuration", [this](http::Request&) {
      std::lock_guard lock(mutex);
      auto document = json::object{{"issuer", discovery_issuer.empty() ? issuer() : discovery_issuer},
                                   {"authorization_endpoint", issuer() + "/auth?prompt=consent"},
                                   {"token_endpoint", issuer() + "/token"},
                                   {"jwks_uri", issuer() + "/jwks"},
                                   {"code_challenge_methods_supported", json::array{"S256"}}};
      if (!auth_methods.empty()) document["token_endpoint_auth_methods_supported"] = auth_methods;
      return http::Response::json(document);
    });
    router.add("GET", "/jwks", [this](http::Request&) {
      std::lock_guard lock(mutex);
      ++jwks_fetches;
      json::array list;
      for (const auto* key : published) list.push_back(key->jwk());
      return http::Response::text(json::serialize(json::object{{"keys", list}}), "application/json");
    });
    router.add("POST", "/token", [this](http::Request& request) {
      std::lock_guard lock(mutex);
      last_authorization = std::string(request.header("Authorization"));
      last_token_body = request.body;
      if (!token_error.empty()) return http::Response::json(json::object{{"error", token_error}}, 400);
      return http::Response::json(
          json::object{{"access_token", "at"}, {"token_type", "Bearer"}, {"id_token", id_token}});
    });
    runtime = std::make_unique<http::Runtime>(1, 2);
    server = std::make_unique<http::Server>(*runtime, std::move(router), http::ServerLimits{});
    port = server->listen("127.0.0.1", 0);
    published = {&rsa};
  }

  std::string issuer() const { return "http://127.0.0.1:" + std::to_string(port); }

  SigningKey rsa;
  std::mutex mutex;
  std::string discovery_issuer;  // empty: the real one
  json::array auth_methods;      // empty: left out of the document
  std::vector<const SigningKey*> published;
  int jwks_fetches = 0;
  std::string id_token;
  std::string token_error;
  std::string last_authorization;
  std::string last_token_body;

  std::unique_ptr<http::Runtime> runtime;
  std::unique_ptr<http::Server> server;
  std::uint16_t port = 0;
};

class OidcClientTest : public ::testing::Test {
 protected:
  OidcClientTest() : http_(*provider_.runtime, http::ClientOptions{}) {}

  OidcProviderSettings settings() const {
    OidcProviderSettings settings;
    settings.name = "fake";
    settings.issuer = provider_.issuer();
    settings.client_id = std::string(kClientId);
    settings.client_secret = "s3cret:&=";
    settings.redirect_uri = "http://127.0.0.1:1/callback";
    return settings;
  }

  OidcClient client(OidcProviderSettings settings) {
    return OidcClient(std::move(settings), http_, [] { return at(kNow); });
  }

  void set_token_error(std::string error) {
    std::lock_guard lock(provider_.mutex);
    provider_.token_error = std::move(error);
  }

  void issue(const SigningKey& key) {
    std::lock_guard lock(provider_.mutex);
    provider_.id_token = token(key, good_claims(provider_.issuer()));
  }

  FakeProvider provider_;
  http::Client http_;
};

std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> query;
  for (const auto& param : boost::urls::parse_uri(url)->params()) query[param.key] = param.value;
  return query;
}

TEST_F(OidcClientTest, BeginLoginBuildsThePkceAuthorizationUrl) {
  auto oidc = client(settings());
  const auto login = oidc.begin_login();
  const auto other = oidc.begin_login();
  EXPECT_EQ(login.url.rfind(provider_.issuer() + "/auth?prompt=consent&", 0), 0u) << login.url;
  const auto query = query_of(login.url);
  EXPECT_EQ(query.at("response_type"), "code");
  EXPECT_EQ(query.at("client_id"), kClientId);
  EXPECT_EQ(query.at("redirect_uri"), "http://127.0.0.1:1/callback");
  EXPECT_EQ(query.at("scope"), "openid email profile");
  EXPECT_EQ(query.at("state"), login.state);
  EXPECT_EQ(query.at("nonce"), login.nonce);
  EXPECT_EQ(query.at("code_challenge_method"), "S256");
  // RFC 7636 appendix B: BASE64URL(SHA256(verifier)).
  std::string digest(32, '\0');
  EVP_Digest(login.code_verifier.data(), login.code_verifier.size(), reinterpret_cast<unsigned char*>(digest.data()),
             nullptr, EVP_sha256(), nullptr);
  EXPECT_EQ(query.at("code_challenge"), base64url_encode(digest));
  for (const auto* value : {&login.state, &login.nonce, &login.code_verifier}) EXPECT_EQ(value->size(), 43u);
  EXPECT_NE(login.state, login.nonce);
  EXPECT_NE(login.state, other.state);
  EXPECT_NE(login.code_verifier, other.code_verifier);
}

TEST_F(OidcClientTest, CompletesALoginWithClientSecretBasic) {
  issue(provider_.rsa);
  auto oidc = client(settings());
  const auto identity = oidc.complete_login("code-1", "verifier-1", kNonce);
  EXPECT_EQ(identity.subject, "248289761001");
  EXPECT_EQ(identity.email, "asha@example.com");
  std::lock_guard lock(provider_.mutex);
  // base64("intercab-web:s3cret%3A%26%3D"): the secret is form-encoded first (RFC 6749 §2.3.1).
  EXPECT_EQ(provider_.last_authorization, "Basic aW50ZXJjYWItd2ViOnMzY3JldCUzQSUyNiUzRA==");
  EXPECT_EQ(provider_.last_token_body,
            "grant_type=authorization_code&code=code-1&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&"
            "code_verifier=verifier-1");
}

TEST_F(OidcClientTest, UsesClientSecretPostWhenThatIsAllTheProviderSupports) {
  {
    std::lock_guard lock(provider_.mutex);
    provider_.auth_methods = json::array{"client_secret_post", "private_key_jwt"};
  }
  issue(provider_.rsa);
  auto oidc = client(settings());
  EXPECT_EQ(oidc.complete_login("code-1", "verifier-1", kNonce).subject, "248289761001");
  std::lock_guard lock(provider_.mutex);
  EXPECT_EQ(provider_.last_authorization, "");
  EXPECT_NE(provider_.last_token_body.find("&client_id=intercab-web&client_secret=s3cret%3A%26%3D"), std::string::npos)
      << provider_.last_token_body;
}

TEST_F(OidcClientTest, ExplicitEndpointsNeedNoDiscovery) {
  auto explicit_settings = settings();
  // Nothing is served at this issuer; http only because the fake token endpoint is (https issuers need https).
  explicit_settings.issuer = "http://www.facebook.example";
  explicit_settings.authorization_endpoint = "http://www.facebook.example/dialog/oauth";
  explicit_settings.token_endpoint = provider_.issuer() + "/token";
  explicit_settings.jwks_uri = provider_.issuer() + "/jwks";
  explicit_settings.token_endpoint_auth = TokenEndpointAuth::client_secret_post;
  auto oidc = client(explicit_settings);
  EXPECT_EQ(oidc.begin_login().url.rfind("http://www.facebook.example/dialog/oauth?", 0), 0u);
  issue(provider_.rsa);
  try {
    oidc.complete_login("code-1", "verifier-1", kNonce);
    FAIL() << "a token of another issuer was accepted";
  } catch (const LoginRejected& rejected) {
    EXPECT_EQ(rejected.problem(), LoginProblem::wrong_issuer);  // the token endpoint was used, the issuer checked
  }
  std::lock_guard lock(provider_.mutex);
  EXPECT_NE(provider_.last_token_body.find("client_secret="), std::string::npos);
}

TEST_F(OidcClientTest, DiscoveryNamingAnotherIssuerIsAProviderFailure) {
  {
    std::lock_guard lock(provider_.mutex);
    provider_.discovery_issuer = "https://evil.example.com";
  }
  auto oidc = client(settings());
  try {
    oidc.discover();
    FAIL() << "discovery accepted another issuer";
  } catch (const IdentityProviderFailed& failure) {
    EXPECT_EQ(failure.status(), 502);
    EXPECT_NE(failure.detail().find("another issuer"), std::string::npos) << failure.detail();
  }
}

TEST_F(OidcClientTest, AnHttpsIssuerAcceptsOnlyHttpsEndpoints) {
  auto mixed = settings();
  mixed.issuer = "https://accounts.example.com";
  mixed.token_endpoint = provider_.issuer() + "/token";
  EXPECT_THROW(OidcClient(mixed, http_), std::invalid_argument);
}

TEST_F(OidcClientTest, AnUnreachableProviderIsAProviderFailure) {
  auto unreachable = settings();
  unreachable.issuer = "http://127.0.0.1:1";
  unreachable.http_timeout = 2000ms;
  auto oidc = client(unreachable);
  EXPECT_THROW(oidc.begin_login(), IdentityProviderFailed);
}

TEST_F(OidcClientTest, ARefusedCodeIsA401AndAMisconfiguredClientA502) {
  auto oidc = client(settings());
  set_token_error("invalid_grant");
  try {
    oidc.complete_login("used-code", "verifier-1", kNonce);
    FAIL() << "a refused code was accepted";
  } catch (const LoginRejected& rejected) {
    EXPECT_EQ(rejected.problem(), LoginProblem::code_rejected);
    EXPECT_EQ(rejected.status(), 401);
  }
  set_token_error("invalid_client");
  EXPECT_THROW(oidc.complete_login("code", "verifier-1", kNonce), IdentityProviderFailed);
}

TEST_F(OidcClientTest, AnUnknownKidRefetchesTheKeysOncePerInterval) {
  auto oidc = client(settings());
  issue(provider_.rsa);
  oidc.complete_login("code-1", "verifier-1", kNonce);

  // A kid nobody published, twice in a row: the keys were fetched a moment ago, so no refetch is due yet.
  const SigningKey forged("RS256", "forged");
  issue(forged);
  for (int i = 0; i < 2; ++i) {
    try {
      oidc.complete_login("code-3", "verifier-1", kNonce);
      FAIL() << "a token of an unknown key was accepted";
    } catch (const LoginRejected& rejected) {
      EXPECT_EQ(rejected.problem(), LoginProblem::unknown_key);
    }
  }
  std::lock_guard lock(provider_.mutex);
  EXPECT_EQ(provider_.jwks_fetches, 1);  // `oidc` fetched at kNow, and its clock has not moved
}

TEST_F(OidcClientTest, RotatedKeysAreFoundAfterTheRefetchInterval) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(kNow);
  OidcClient oidc(settings(), http_, [now] { return at(now->load()); });
  issue(provider_.rsa);
  oidc.complete_login("code-1", "verifier-1", kNonce);
  const SigningKey rotated("EdDSA", "k2");
  {
    std::lock_guard lock(provider_.mutex);
    provider_.published = {&rotated};
  }
  issue(rotated);
  now->store(kNow + 61);  // past jwks_refetch_interval, still within the token's leeway
  EXPECT_EQ(oidc.complete_login("code-2", "verifier-1", kNonce).subject, "248289761001");
  std::lock_guard lock(provider_.mutex);
  EXPECT_EQ(provider_.jwks_fetches, 2);
}

}  // namespace
}  // namespace intercab::auth
