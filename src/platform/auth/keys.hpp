// Signing and verification keys for JWTs (HS256 and Ed25519/EdDSA), key sets with rotation, key
// files and the JWKS document that publishes the public keys.
//
// Key file format: an Ed25519 private key as PEM PKCS#8 ("-----BEGIN PRIVATE KEY-----"), the
// format `openssl genpkey -algorithm ed25519 -out key.pem` writes and write_new_ed25519_key_file()
// (or the `auth_keygen` tool) writes. Public keys of earlier signing keys are read from the
// matching PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----", `openssl pkey -pubout`), or
// from the old private key file itself. A key's id (`kid`) defaults to its RFC 7638 JWK
// thumbprint, so the same key has the same id in every process without configuring one.
#pragma once

#include <boost/json/object.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::auth {

// A key that cannot be used: wrong size, unreadable file, unsupported type, duplicate id.
class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Algorithm { hs256, eddsa };

// The JWS "alg" value: "HS256" or "EdDSA".
std::string_view to_string(Algorithm algorithm);

inline constexpr std::size_t kMinHs256SecretBytes = 32;  // RFC 7518 §3.2: at least the hash size

// Bytes that are wiped from memory when their owner goes away.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::string_view bytes);
  SecretBytes(const SecretBytes& other) = default;
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes other) noexcept;
  ~SecretBytes();

  std::string_view view() const { return bytes_; }
  bool empty() const { return bytes_.empty(); }

 private:
  std::string bytes_;
};

// A key that checks signatures: an Ed25519 public key, or an HS256 shared secret (the same secret
// signs; such a key never appears in a JWKS). The algorithm is part of the key, so a token can
// only be checked with the algorithm its key was made for.
class VerificationKey {
 public:
  static VerificationKey ed25519(std::string kid, std::string_view public_key);  // 32 raw bytes
  // PEM: a PUBLIC KEY, or a PRIVATE KEY of which only the public half is kept.
  static VerificationKey ed25519_from_pem(std::string_view pem, std::optional<std::string> kid = {});
  static VerificationKey load_ed25519_file(const std::filesystem::path& path, std::optional<std::string> kid = {});

  Algorithm algorithm() const { return algorithm_; }
  const std::string& kid() const { return kid_; }
  // Ed25519 only: the 32-byte public key.
  std::string_view public_key() const;
  // Constant time for HS256; Ed25519 verification by libsodium (rejects non-canonical signatures).
  bool verify(std::string_view signing_input, std::string_view signature) const;
  // Ed25519 only: the JWK of the public key ({"kty":"OKP","crv":"Ed25519","x",...}).
  boost::json::object jwk() const;
  // Whether both hold the same algorithm and key material (compared in constant time).
  bool same_key_as(const VerificationKey& other) const;

 private:
  friend class SigningKey;
  VerificationKey(Algorithm algorithm, std::string kid, SecretBytes material);

  Algorithm algorithm_;
  std::string kid_;
  SecretBytes material_;  // HS256: the secret; Ed25519: the public key (not secret, wiped anyway)
};

// A key that signs: an HS256 secret or an Ed25519 private key.
class SigningKey {
 public:
  // Throws KeyError when the secret is shorter than kMinHs256SecretBytes. The default kid is
  // derived from a hash of the secret (safe to publish for a high-entropy secret).
  static SigningKey hs256(std::string_view secret, std::optional<std::string> kid = {});
  static SigningKey ed25519_from_seed(std::string_view seed, std::optional<std::string> kid = {});  // 32 bytes
  static SigningKey ed25519_from_pem(std::string_view pem, std::optional<std::string> kid = {});
  static SigningKey load_ed25519_file(const std::filesystem::path& path, std::optional<std::string> kid = {});
  static SigningKey generate_ed25519(std::optional<std::string> kid = {});

  Algorithm algorithm() const { return public_.algorithm(); }
  const std::string& kid() const { return public_.kid(); }
  const VerificationKey& verification_key() const { return public_; }
  // The raw JWS signature of `signing_input` (32 bytes for HS256, 64 for Ed25519).
  std::string sign(std::string_view signing_input) const;
  // Ed25519 only: the private key as PEM PKCS#8.
  std::string to_pem() const;

 private:
  SigningKey(SecretBytes private_material, VerificationKey public_part);

  SecretBytes private_;  // HS256: the secret; Ed25519: libsodium's 64-byte secret key (seed + public)
  VerificationKey public_;
};

// A new random Ed25519 private key as PEM PKCS#8.
std::string generate_ed25519_pem();

// Writes a new Ed25519 private key (PEM PKCS#8) to `path`, readable by its owner only (0600).
// Refuses to overwrite an existing file. Returns the key so that the caller can print its kid.
SigningKey write_new_ed25519_key_file(const std::filesystem::path& path);

// The keys of one token family (user access tokens, or internal service tokens): at most one
// current signing key, plus Ed25519 public keys kept for verification — earlier signing keys
// until the tokens they signed have expired (rotation), or, in a process that only verifies, the
// issuer's public key. Build it at start-up, then share it read-only: rotating means building a
// new set (old key's public half added with add_verification_key) and restarting.
class KeySet {
 public:
  KeySet() = default;  // verification only
  explicit KeySet(SigningKey signing_key);

  // Only Ed25519 public keys: a retired HS256 secret is retired everywhere at once. Throws
  // KeyError on a kid that is already in the set.
  void add_verification_key(VerificationKey key);
  // Removes a verification key (not the current signing key's). Returns whether it was there.
  bool remove_verification_key(std::string_view kid);

  const SigningKey* signing_key() const { return signing_key_ ? &*signing_key_ : nullptr; }
  // The key named by `kid`, compared as an opaque string (never a path or a URL); nullptr if none.
  const VerificationKey* find(std::string_view kid) const;
  // The algorithms of the keys in the set, without repetition: the natural allow-list of a verifier.
  std::vector<Algorithm> algorithms() const;
  bool empty() const { return keys_.empty(); }
  // Every key that verifies, by kid (the signing key's own verification key included).
  const std::map<std::string, VerificationKey, std::less<>>& keys() const { return keys_; }

  // {"keys":[...]} with the Ed25519 public keys only, for /.well-known/jwks.json.
  boost::json::object jwks() const;

 private:
  std::optional<SigningKey> signing_key_;
  std::map<std::string, VerificationKey, std::less<>> keys_;
};

// The Ed25519 keys of a JWKS document (kty OKP, crv Ed25519); other keys are skipped. Throws
// KeyError if the document is not a JWKS. For a process that verifies tokens of another.
std::vector<VerificationKey> parse_jwks(std::string_view json);

// Throws KeyError if the two sets share key material or a kid: service tokens must be signed with
// a key distinct from user tokens, so that neither can ever pass for the other.
void require_distinct_keys(const KeySet& user_keys, const KeySet& internal_keys);

}  // namespace intercab::auth
