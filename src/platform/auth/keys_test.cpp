#include "platform/auth/keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>

#include "platform/auth/base64url.hpp"
#include "process.hpp"  // tests/support: TempDir

namespace intercab::auth {
namespace {

// RFC 8037 Appendix A: an Ed25519 key, its thumbprint and a signature made with it.
constexpr std::string_view kRfc8037Seed = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr std::string_view kRfc8037PublicKey = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr std::string_view kRfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
constexpr std::string_view kRfc8037SigningInput = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr std::string_view kRfc8037Signature =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

// The same key as PEM (PKCS#8 private key, SubjectPublicKeyInfo public key).
constexpr std::string_view kRfc8037PrivatePem =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
constexpr std::string_view kRfc8037PublicPem =
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC "
    "KEY-----\n";

// `openssl genpkey -algorithm ed25519 -aes256 -pass pass:secret`: must fail, never prompt.
constexpr std::string_view kEncryptedPem =
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
    "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAjlpWDpq+2wGwICCAAw\n"
    "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEOKA8WMoDdQokbz0tyOMXZYEQIcd\n"
    "Rze5gag0Ujh9ajj7hDuYtcnx9Z09w9Aevnvek4m16o5OXsIU76XXascQffllQh9x\n"
    "3L9DsiSHFClQCEdNHDg=\n"
    "-----END ENCRYPTED PRIVATE KEY-----\n";

// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`: a key of another type.
constexpr std::string_view kP256Pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIpdpVUV0CSKd81dY\n"
    "oipreg6Hha6tRkiKPmGsmDoF0ymhRANCAASwo9EvN357/wcIrWk8vlLKm8vbRBvg\n"
    "QtA9AyEsXFdMdbntLk+maJXdb2yiAPiZU8ysTT4BJTiB6uaCjxq1OOQg\n"
    "-----END PRIVATE KEY-----\n";

std::string decoded(std::string_view text) { return base64url_decode(text).value(); }

TEST(SigningKey, Ed25519MatchesTheRfc8037Example) {
  const auto key = SigningKey::ed25519_from_seed(decoded(kRfc8037Seed));
  EXPECT_EQ(key.algorithm(), Algorithm::eddsa);
  EXPECT_EQ(key.kid(), kRfc8037Thumbprint);  // RFC 7638 thumbprint as the default kid
  EXPECT_EQ(key.verification_key().public_key(), decoded(kRfc8037PublicKey));
  EXPECT_EQ(key.sign(kRfc8037SigningInput), decoded(kRfc8037Signature));
  EXPECT_TRUE(key.verification_key().verify(kRfc8037SigningInput, decoded(kRfc8037Signature)));
  EXPECT_FALSE(key.verification_key().verify("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmX",
                                             decoded(kRfc8037Signature)));
}

TEST(SigningKey, Hs256MatchesTheRfc7515Example) {
  // RFC 7515 Appendix A.1.
  const auto key = SigningKey::hs256(
      decoded("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"), "k1");
  const std::string input =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
      "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
  EXPECT_EQ(base64url_encode(key.sign(input)), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  EXPECT_TRUE(key.verification_key().verify(input, key.sign(input)));
  EXPECT_FALSE(key.verification_key().verify(input + "x", key.sign(input)));
  EXPECT_FALSE(key.verification_key().verify(input, key.sign(input).substr(1)));
  EXPECT_EQ(key.kid(), "k1");
}

TEST(SigningKey, Hs256NeedsAtLeast32Bytes) {
  EXPECT_THROW(SigningKey::hs256(std::string(31, 'x')), KeyError);
  const auto key = SigningKey::hs256(std::string(32, 'x'));
  EXPECT_TRUE(key.kid().starts_with("hs256-"));
  EXPECT_EQ(key.kid(), SigningKey::hs256(std::string(32, 'x')).kid());  // stable across processes
  EXPECT_NE(key.kid(), SigningKey::hs256(std::string(32, 'y')).kid());
  EXPECT_THROW(static_cast<void>(key.verification_key().public_key()), KeyError);
  EXPECT_THROW(static_cast<void>(key.to_pem()), KeyError);
}

TEST(SigningKey, ReadsAndWritesPemPkcs8) {
  const auto key = SigningKey::ed25519_from_pem(kRfc8037PrivatePem);
  EXPECT_EQ(key.kid(), kRfc8037Thumbprint);
  EXPECT_EQ(key.to_pem(), kRfc8037PrivatePem);
  const auto generated = generate_ed25519_pem();
  EXPECT_TRUE(generated.starts_with("-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_EQ(SigningKey::ed25519_from_pem(generated).to_pem(), generated);
  EXPECT_NE(SigningKey::ed25519_from_pem(generated).kid(), key.kid());
  EXPECT_EQ(SigningKey::ed25519_from_pem(kRfc8037PrivatePem, "chosen").kid(), "chosen");
}

TEST(SigningKey, RejectsPemThatIsNotAnUnencryptedEd25519Key) {
  EXPECT_THROW(SigningKey::ed25519_from_pem(kEncryptedPem), KeyError);
  EXPECT_THROW(SigningKey::ed25519_from_pem(kP256Pem), KeyError);
  EXPECT_THROW(SigningKey::ed25519_from_pem(kRfc8037PublicPem), KeyError);
  EXPECT_THROW(SigningKey::ed25519_from_pem("not a key"), KeyError);
  EXPECT_THROW(SigningKey::ed25519_from_seed(std::string(31, 'a')), KeyError);
  EXPECT_THROW(VerificationKey::ed25519_from_pem(kP256Pem), KeyError);
  EXPECT_THROW(VerificationKey::ed25519("k", std::string(33, 'a')), KeyError);
  EXPECT_THROW(VerificationKey::ed25519("", std::string(32, 'a')), KeyError);
}

TEST(VerificationKey, ReadsThePublicHalfFromEitherPem) {
  const auto from_public = VerificationKey::ed25519_from_pem(kRfc8037PublicPem);
  const auto from_private = VerificationKey::ed25519_from_pem(kRfc8037PrivatePem);
  EXPECT_EQ(from_public.kid(), kRfc8037Thumbprint);
  EXPECT_EQ(from_private.kid(), kRfc8037Thumbprint);
  EXPECT_EQ(from_public.public_key(), decoded(kRfc8037PublicKey));
  EXPECT_TRUE(from_public.same_key_as(from_private));
  EXPECT_TRUE(from_public.verify(kRfc8037SigningInput, decoded(kRfc8037Signature)));
}

TEST(KeyFile, WritesOwnerOnlyNeverOverwritesAndLoadsBack) {
  testing::TempDir dir("auth-keys");
  const auto path = dir.path() / "signing.pem";
  const auto written = write_new_ed25519_key_file(path);
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);
  EXPECT_THROW(write_new_ed25519_key_file(path), KeyError);
  EXPECT_EQ(SigningKey::load_ed25519_file(path).kid(), written.kid());
  EXPECT_EQ(VerificationKey::load_ed25519_file(path).kid(), written.kid());
  try {
    SigningKey::load_ed25519_file(dir.path() / "missing.pem");
    FAIL() << "a missing file must throw";
  } catch (const KeyError& error) {
    EXPECT_NE(std::string(error.what()).find("missing.pem"), std::string::npos);
  }
}

TEST(KeySet, HoldsTheSigningKeyAndEarlierPublicKeys) {
  KeySet keys(SigningKey::ed25519_from_seed(std::string(32, 'a'), "current"));
  ASSERT_NE(keys.signing_key(), nullptr);
  EXPECT_NE(keys.find("current"), nullptr);
  keys.add_verification_key(SigningKey::ed25519_from_seed(std::string(32, 'b'), "previous").verification_key());
  EXPECT_NE(keys.find("previous"), nullptr);
  EXPECT_EQ(keys.find("../../etc/passwd"), nullptr);
  EXPECT_EQ(keys.algorithms(), std::vector<Algorithm>{Algorithm::eddsa});

  // Same kid, same material, HS256 secrets, removing the current key: all refused.
  EXPECT_THROW(
      keys.add_verification_key(SigningKey::ed25519_from_seed(std::string(32, 'c'), "previous").verification_key()),
      KeyError);
  EXPECT_THROW(
      keys.add_verification_key(SigningKey::ed25519_from_seed(std::string(32, 'b'), "renamed").verification_key()),
      KeyError);
  EXPECT_THROW(keys.add_verification_key(SigningKey::hs256(std::string(32, 'h')).verification_key()), KeyError);
  EXPECT_THROW(keys.remove_verification_key("current"), KeyError);

  EXPECT_TRUE(keys.remove_verification_key("previous"));
  EXPECT_FALSE(keys.remove_verification_key("previous"));
  EXPECT_EQ(keys.find("previous"), nullptr);
}

TEST(KeySet, VerificationOnlySetHasNoSigningKey) {
  KeySet keys;
  EXPECT_TRUE(keys.empty());
  keys.add_verification_key(VerificationKey::ed25519_from_pem(kRfc8037PublicPem));
  EXPECT_EQ(keys.signing_key(), nullptr);
  EXPECT_FALSE(keys.empty());
}

TEST(KeySet, JwksListsOnlyEd25519PublicKeys) {
  KeySet keys(SigningKey::ed25519_from_seed(decoded(kRfc8037Seed), "current"));
  keys.add_verification_key(SigningKey::ed25519_from_seed(std::string(32, 'b'), "previous").verification_key());
  const auto jwks = keys.jwks();
  ASSERT_EQ(jwks.size(), 1U);
  const auto& list = jwks.at("keys").as_array();
  ASSERT_EQ(list.size(), 2U);
  const auto& current = list[0].as_object();  // kids in order: "current" < "previous"
  EXPECT_EQ(current.size(), 6U);
  EXPECT_EQ(current.at("kty").as_string(), "OKP");
  EXPECT_EQ(current.at("crv").as_string(), "Ed25519");
  EXPECT_EQ(current.at("x").as_string(), kRfc8037PublicKey);
  EXPECT_EQ(current.at("kid").as_string(), "current");
  EXPECT_EQ(current.at("use").as_string(), "sig");
  EXPECT_EQ(current.at("alg").as_string(), "EdDSA");
  EXPECT_FALSE(current.contains("d"));  // never the private key
  EXPECT_EQ(list[1].at("kid").as_string(), "previous");

  const KeySet hs(SigningKey::hs256(std::string(40, 's')));
  EXPECT_EQ(boost::json::serialize(hs.jwks()), R"({"keys":[]})");

  KeySet mixed(SigningKey::hs256(std::string(40, 's')));
  mixed.add_verification_key(VerificationKey::ed25519_from_pem(kRfc8037PublicPem));
  const auto text = boost::json::serialize(mixed.jwks());
  EXPECT_EQ(mixed.jwks().at("keys").as_array().size(), 1U);
  EXPECT_EQ(text.find("\"k\""), std::string::npos);
  EXPECT_EQ(text.find(base64url_encode(std::string(40, 's'))), std::string::npos);
}

TEST(Jwks, ParsesItsOwnOutputAndSkipsOtherKeyTypes) {
  KeySet keys(SigningKey::ed25519_from_seed(decoded(kRfc8037Seed), "current"));
  auto document = keys.jwks();
  document.at("keys").as_array().push_back(
      boost::json::object{{"kty", "RSA"}, {"kid", "rsa"}, {"n", "AQAB"}, {"e", "AQAB"}});
  const auto parsed = parse_jwks(boost::json::serialize(document));
  ASSERT_EQ(parsed.size(), 1U);
  EXPECT_EQ(parsed[0].kid(), "current");
  EXPECT_TRUE(parsed[0].same_key_as(*keys.find("current")));
}

TEST(Jwks, RejectsDocumentsThatAreNotJwks) {
  for (
      const std::string_view bad :
      {"", "[]", R"({"keys":{}})", R"({"keys":[1]})",
       R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})",
       R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AAAA"}]})",
       R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","alg":"HS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})",
       R"({"keys":[],"keys":[]})"}) {
    EXPECT_THROW(parse_jwks(bad), KeyError) << bad;
  }
}

TEST(KeySet, UserAndInternalKeysMustDiffer) {
  const KeySet user(SigningKey::ed25519_from_seed(std::string(32, 'u'), "user"));
  const KeySet internal(SigningKey::ed25519_from_seed(std::string(32, 'i'), "internal"));
  EXPECT_NO_THROW(require_distinct_keys(user, internal));
  EXPECT_THROW(require_distinct_keys(user, KeySet(SigningKey::ed25519_from_seed(std::string(32, 'u'), "other-kid"))),
               KeyError);
  EXPECT_THROW(require_distinct_keys(user, KeySet(SigningKey::ed25519_from_seed(std::string(32, 'x'), "user"))),
               KeyError);
  EXPECT_THROW(require_distinct_keys(KeySet(SigningKey::hs256(std::string(32, 's'))),
                                     KeySet(SigningKey::hs256(std::string(32, 's'), "another"))),
               KeyError);
}

}  // namespace
}  // namespace intercab::auth
