// JWT keys: HMAC-SHA-256 and Ed25519 through libsodium, PEM PKCS#8 through OpenSSL, JWKS output.
#include "platform/auth/keys.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "platform/auth/base64url.hpp"
#include "platform/auth/sodium.hpp"
#include "platform/auth/strict_json.hpp"

namespace intercab::auth {
namespace {

namespace json = boost::json;

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

std::string sha256(std::string_view data) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), bytes_of(data), data.size());
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

std::string hmac_sha256(std::string_view secret, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256_init(&state, bytes_of(secret), secret.size());
  crypto_auth_hmacsha256_update(&state, bytes_of(message), message.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  sodium_memzero(&state, sizeof state);
  return {reinterpret_cast<const char*>(mac.data()), mac.size()};
}

// RFC 7638: SHA-256 over the required JWK members in lexicographic order, without whitespace.
std::string ed25519_thumbprint(std::string_view public_key) {
  const auto canonical = R"({"crv":"Ed25519","kty":"OKP","x":")" + base64url_encode(public_key) + R"("})";
  return base64url_encode(sha256(canonical));
}

// Domain-separated and truncated: identifies the secret without being usable as it.
std::string hs256_key_id(std::string_view secret) {
  const auto digest = sha256(std::string("intercab hs256 key id\n").append(secret));
  return "hs256-" + base64url_encode(std::string_view(digest).substr(0, 12));
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError("cannot read key file " + path.string() + ": " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// OpenSSL objects with their free functions, so that every exit path releases them.
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr memory_bio(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw KeyError("out of memory reading a PEM key");
  return bio;
}

// Encrypted PEM files would otherwise make OpenSSL prompt on the terminal for a pass phrase.
int refuse_pass_phrase(char*, int, int, void*) { return -1; }

PkeyPtr read_ed25519_pem(std::string_view pem, bool want_private) {
  auto bio = memory_bio(pem);
  PkeyPtr key(want_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_pass_phrase, nullptr)
                           : PEM_read_bio_PUBKEY(bio.get(), nullptr, refuse_pass_phrase, nullptr));
  ERR_clear_error();  // leave no stale errors behind for the next OpenSSL user on this thread
  if (!key) {
    throw KeyError(want_private ? "not a PEM PKCS#8 private key (-----BEGIN PRIVATE KEY-----, unencrypted)"
                                : "not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) throw KeyError("the PEM key is not an Ed25519 key");
  return key;
}

std::string raw_ed25519_seed(const PkeyPtr& key) {
  std::array<unsigned char, crypto_sign_SEEDBYTES> seed{};
  std::size_t length = seed.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), seed.data(), &length) != 1 || length != seed.size()) {
    ERR_clear_error();
    throw KeyError("cannot read the Ed25519 private key");
  }
  std::string out(reinterpret_cast<const char*>(seed.data()), seed.size());
  sodium_memzero(seed.data(), seed.size());
  return out;
}

std::string raw_ed25519_public(const PkeyPtr& key) {
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::size_t length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1 || length != public_key.size()) {
    ERR_clear_error();
    throw KeyError("cannot read the Ed25519 public key");
  }
  return {reinterpret_cast<const char*>(public_key.data()), public_key.size()};
}

bool is_private_key_pem(std::string_view pem) {
  return pem.find("-----BEGIN PRIVATE KEY-----") != std::string_view::npos;
}

}  // namespace

std::string_view to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::hs256:
      return "HS256";
    case Algorithm::eddsa:
      return "EdDSA";
  }
  return "unknown";
}

// --- SecretBytes

SecretBytes::SecretBytes(std::string_view bytes) : bytes_(bytes) {}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept { bytes_.swap(other.bytes_); }

SecretBytes& SecretBytes::operator=(SecretBytes other) noexcept {
  bytes_.swap(other.bytes_);  // our old bytes leave with `other` and are wiped by its destructor
  return *this;
}

SecretBytes::~SecretBytes() { sodium_memzero(bytes_.data(), bytes_.size()); }

// --- VerificationKey

VerificationKey::VerificationKey(Algorithm algorithm, std::string kid, SecretBytes material)
    : algorithm_(algorithm), kid_(std::move(kid)), material_(std::move(material)) {
  if (kid_.empty()) throw KeyError("a key id (kid) must not be empty");
}

VerificationKey VerificationKey::ed25519(std::string kid, std::string_view public_key) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES) throw KeyError("an Ed25519 public key has 32 bytes");
  return {Algorithm::eddsa, std::move(kid), SecretBytes(public_key)};
}

VerificationKey VerificationKey::ed25519_from_pem(std::string_view pem, std::optional<std::string> kid) {
  if (is_private_key_pem(pem)) {
    return SigningKey::ed25519_from_pem(pem, std::move(kid)).verification_key();
  }
  const auto public_key = raw_ed25519_public(read_ed25519_pem(pem, false));
  return ed25519(kid ? std::move(*kid) : ed25519_thumbprint(public_key), public_key);
}

VerificationKey VerificationKey::load_ed25519_file(const std::filesystem::path& path, std::optional<std::string> kid) {
  try {
    return ed25519_from_pem(read_file(path), std::move(kid));
  } catch (const KeyError& error) {
    throw KeyError(path.string() + ": " + error.what());
  }
}

std::string_view VerificationKey::public_key() const {
  if (algorithm_ != Algorithm::eddsa) throw KeyError("an HS256 key has no public part");
  return material_.view();
}

bool VerificationKey::verify(std::string_view signing_input, std::string_view signature) const {
  ensure_sodium_initialized();
  switch (algorithm_) {
    case Algorithm::hs256: {
      if (signature.size() != crypto_auth_hmacsha256_BYTES) return false;
      const auto expected = hmac_sha256(material_.view(), signing_input);
      return crypto_verify_32(bytes_of(expected), bytes_of(signature)) == 0;
    }
    case Algorithm::eddsa:
      if (signature.size() != crypto_sign_BYTES) return false;
      return crypto_sign_verify_detached(bytes_of(signature), bytes_of(signing_input), signing_input.size(),
                                         bytes_of(material_.view())) == 0;
  }
  return false;
}

json::object VerificationKey::jwk() const {
  return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(public_key())},
          {"kid", kid_},  {"use", "sig"},     {"alg", to_string(Algorithm::eddsa)}};
}

bool VerificationKey::same_key_as(const VerificationKey& other) const {
  const auto mine = material_.view();
  const auto theirs = other.material_.view();
  return algorithm_ == other.algorithm_ && mine.size() == theirs.size() &&
         sodium_memcmp(mine.data(), theirs.data(), mine.size()) == 0;
}

// --- SigningKey

SigningKey::SigningKey(SecretBytes private_material, VerificationKey public_part)
    : private_(std::move(private_material)), public_(std::move(public_part)) {}

SigningKey SigningKey::hs256(std::string_view secret, std::optional<std::string> kid) {
  ensure_sodium_initialized();
  if (secret.size() < kMinHs256SecretBytes) {
    throw KeyError("an HS256 secret must have at least " + std::to_string(kMinHs256SecretBytes) +
                   " bytes (e.g. `openssl rand -base64 48`)");
  }
  auto id = kid ? std::move(*kid) : hs256_key_id(secret);
  return {SecretBytes(secret), VerificationKey(Algorithm::hs256, std::move(id), SecretBytes(secret))};
}

SigningKey SigningKey::ed25519_from_seed(std::string_view seed, std::optional<std::string> kid) {
  ensure_sodium_initialized();
  if (seed.size() != crypto_sign_SEEDBYTES) throw KeyError("an Ed25519 seed has 32 bytes");
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secret_key{};
  crypto_sign_seed_keypair(public_key.data(), secret_key.data(), bytes_of(seed));
  SecretBytes secret({reinterpret_cast<const char*>(secret_key.data()), secret_key.size()});
  sodium_memzero(secret_key.data(), secret_key.size());
  const std::string_view public_view(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  auto id = kid ? std::move(*kid) : ed25519_thumbprint(public_view);
  return {std::move(secret), VerificationKey::ed25519(std::move(id), public_view)};
}

SigningKey SigningKey::ed25519_from_pem(std::string_view pem, std::optional<std::string> kid) {
  auto seed = SecretBytes(raw_ed25519_seed(read_ed25519_pem(pem, true)));
  return ed25519_from_seed(seed.view(), std::move(kid));
}

SigningKey SigningKey::load_ed25519_file(const std::filesystem::path& path, std::optional<std::string> kid) {
  try {
    const SecretBytes pem(read_file(path));
    return ed25519_from_pem(pem.view(), std::move(kid));
  } catch (const KeyError& error) {
    throw KeyError(path.string() + ": " + error.what());
  }
}

SigningKey SigningKey::generate_ed25519(std::optional<std::string> kid) {
  ensure_sodium_initialized();
  std::array<unsigned char, crypto_sign_SEEDBYTES> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto key = ed25519_from_seed({reinterpret_cast<const char*>(seed.data()), seed.size()}, std::move(kid));
  sodium_memzero(seed.data(), seed.size());
  return key;
}

std::string SigningKey::sign(std::string_view signing_input) const {
  ensure_sodium_initialized();
  switch (algorithm()) {
    case Algorithm::hs256:
      return hmac_sha256(private_.view(), signing_input);
    case Algorithm::eddsa: {
      std::array<unsigned char, crypto_sign_BYTES> signature{};
      crypto_sign_detached(signature.data(), nullptr, bytes_of(signing_input), signing_input.size(),
                           bytes_of(private_.view()));
      return {reinterpret_cast<const char*>(signature.data()), signature.size()};
    }
  }
  return {};
}

std::string SigningKey::to_pem() const {
  if (algorithm() != Algorithm::eddsa) throw KeyError("only Ed25519 keys are written as PEM");
  std::array<unsigned char, crypto_sign_SEEDBYTES> seed{};
  crypto_sign_ed25519_sk_to_seed(seed.data(), bytes_of(private_.view()));
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  sodium_memzero(seed.data(), seed.size());
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!key || !bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    throw KeyError("cannot write the Ed25519 key as PEM");
  }
  char* data = nullptr;
  const auto length = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<std::size_t>(length));
  OPENSSL_cleanse(data, static_cast<std::size_t>(length));
  return pem;
}

std::string generate_ed25519_pem() { return SigningKey::generate_ed25519().to_pem(); }

SigningKey write_new_ed25519_key_file(const std::filesystem::path& path) {
  auto key = SigningKey::generate_ed25519();
  const SecretBytes pem(key.to_pem());
  // O_EXCL semantics ("x") so that an existing key is never replaced, and 0600 from the start
  // (umask only ever removes bits) so that the key is never readable by others, even briefly.
  const auto old_mask = ::umask(0077);
  std::FILE* file = std::fopen(path.c_str(), "wx");
  ::umask(old_mask);
  if (file == nullptr) {
    throw KeyError("cannot create key file " + path.string() + ": " + std::strerror(errno) +
                   " (an existing key is never overwritten)");
  }
  const bool written = std::fwrite(pem.view().data(), 1, pem.view().size(), file) == pem.view().size();
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed) throw KeyError("cannot write key file " + path.string());
  return key;
}

// --- KeySet

KeySet::KeySet(SigningKey signing_key) : signing_key_(std::move(signing_key)) {
  keys_.emplace(signing_key_->kid(), signing_key_->verification_key());
}

void KeySet::add_verification_key(VerificationKey key) {
  if (key.algorithm() != Algorithm::eddsa) throw KeyError("only Ed25519 public keys can be added for verification");
  if (keys_.contains(key.kid())) throw KeyError("key id " + key.kid() + " is already in the key set");
  for (const auto& [kid, existing] : keys_) {
    if (existing.same_key_as(key)) throw KeyError("key " + key.kid() + " is already in the key set as " + kid);
  }
  auto kid = key.kid();
  keys_.emplace(std::move(kid), std::move(key));
}

bool KeySet::remove_verification_key(std::string_view kid) {
  if (signing_key_ && signing_key_->kid() == kid) throw KeyError("the current signing key cannot be removed");
  const auto found = keys_.find(kid);
  if (found == keys_.end()) return false;
  keys_.erase(found);
  return true;
}

const VerificationKey* KeySet::find(std::string_view kid) const {
  const auto found = keys_.find(kid);
  return found == keys_.end() ? nullptr : &found->second;
}

std::vector<Algorithm> KeySet::algorithms() const {
  std::vector<Algorithm> out;
  for (const auto& [kid, key] : keys_) {
    if (std::find(out.begin(), out.end(), key.algorithm()) == out.end()) out.push_back(key.algorithm());
  }
  return out;
}

json::object KeySet::jwks() const {
  json::array keys;
  for (const auto& [kid, key] : keys_) {
    if (key.algorithm() == Algorithm::eddsa) keys.push_back(key.jwk());
  }
  return {{"keys", std::move(keys)}};
}

std::vector<VerificationKey> parse_jwks(std::string_view text) {
  const auto document = parse_json_strict(text);
  if (!document || !document->is_object() || !document->as_object().contains("keys") ||
      !document->as_object().at("keys").is_array()) {
    throw KeyError("not a JWKS document: expected {\"keys\": [...]}");
  }
  std::vector<VerificationKey> out;
  for (const auto& entry : document->as_object().at("keys").as_array()) {
    if (!entry.is_object()) throw KeyError("a JWKS entry is not an object");
    const auto& jwk = entry.as_object();
    const auto text_member = [&jwk](std::string_view name) -> std::optional<std::string_view> {
      const auto* value = jwk.if_contains(name);
      if (value == nullptr || !value->is_string()) return std::nullopt;
      return std::string_view(value->as_string());
    };
    if (text_member("kty") != "OKP" || text_member("crv") != "Ed25519") continue;
    const auto kid = text_member("kid");
    const auto x = text_member("x");
    const auto alg = text_member("alg");
    const auto use = text_member("use");
    if (!kid || kid->empty()) throw KeyError("an Ed25519 JWK has no kid");
    if ((jwk.contains("alg") && alg != "EdDSA") || (jwk.contains("use") && use != "sig")) {
      throw KeyError("JWK " + std::string(*kid) + " is not an EdDSA signature key");
    }
    const auto public_key = x ? base64url_decode(*x) : std::nullopt;
    if (!public_key) throw KeyError("JWK " + std::string(*kid) + " has no valid x");
    out.push_back(VerificationKey::ed25519(std::string(*kid), *public_key));
  }
  return out;
}

void require_distinct_keys(const KeySet& user_keys, const KeySet& internal_keys) {
  for (const auto& [user_kid, user_key] : user_keys.keys()) {
    for (const auto& [internal_kid, internal_key] : internal_keys.keys()) {
      if (user_kid == internal_kid || user_key.same_key_as(internal_key)) {
        throw KeyError("the internal (service token) key must differ from the user token key (" + user_kid + ")");
      }
    }
  }
}

}  // namespace intercab::auth
