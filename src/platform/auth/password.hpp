// Passwords: argon2id hashing through libsodium, and the policy a new password must meet
// (NIST SP 800-63B §5.1.1.2: a minimum length, no composition rules, no known-common passwords,
// nothing taken from the account itself).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "platform/errors/errors.hpp"

namespace intercab::auth {

// argon2id cost parameters (libsodium's crypto_pwhash: opslimit passes, memlimit bytes).
struct PasswordHashing {
  unsigned long long ops_limit;
  std::size_t mem_limit_bytes;

  // libsodium's INTERACTIVE: 2 passes over 64 MiB, ~50-100 ms on one core here. Above OWASP's
  // argon2id floor (19 MiB, 2 passes), and, unlike MODERATE (256 MiB, ~0.5 s), it keeps a burst of
  // logins on a 2-core machine within memory and latency (four workers hashing at once = 256 MiB).
  static PasswordHashing production();
  // crypto_pwhash_OPSLIMIT_MIN / MEMLIMIT_MIN: for tests only, never for real hashes.
  static PasswordHashing minimum();
};

// Hashes, verifies and upgrades stored passwords. Stored hashes are libsodium's self-describing
// strings ("$argon2id$v=19$m=65536,t=2,p=1$salt$hash"), so parameters can change without a
// migration: needs_rehash() tells when to store a fresh hash after a successful login.
// Thread-safe.
class PasswordHasher {
 public:
  explicit PasswordHasher(PasswordHashing parameters);

  // Throws std::invalid_argument for a password over kMaxPasswordBytes, std::runtime_error if
  // libsodium cannot allocate the memory.
  std::string hash(std::string_view password) const;
  // Constant time in the password (libsodium); false for any malformed stored hash.
  bool verify(std::string_view password, std::string_view stored_hash) const;
  // True when `stored_hash` is not argon2id or uses other parameters than this hasher.
  bool needs_rehash(std::string_view stored_hash) const;
  // Spends the time of one verification against a hash of nobody's password, so that "no such
  // account" answers as slowly as "wrong password" and accounts cannot be found by timing.
  void verify_without_account(std::string_view password) const;

  const PasswordHashing& parameters() const { return parameters_; }

 private:
  PasswordHashing parameters_;
  mutable std::once_flag dummy_hash_once_;
  mutable std::string dummy_hash_;
};

inline constexpr std::size_t kMinPasswordCharacters = 10;  // Unicode code points
inline constexpr std::size_t kMaxPasswordBytes = 256;      // UTF-8 bytes; bounds hashing work per request

// What the policy compares the password with: the account's own identifiers (either may be empty).
struct PasswordContext {
  std::string_view email;
  std::string_view phone;
};

// Every rule the password breaks, as field errors on `field` (for a 422), empty when it is
// acceptable. Common passwords come from the list bundled with this library (data/README.md).
std::vector<errors::FieldError> check_password_policy(std::string_view password, const PasswordContext& context,
                                                      std::string_view field = "password");

// Throws errors::Invalid with the reasons of check_password_policy, if any.
void require_password_policy(std::string_view password, const PasswordContext& context,
                             std::string_view field = "password");

// Whether `password` (compared case-insensitively) is on the bundled list of common passwords.
bool is_common_password(std::string_view password);

}  // namespace intercab::auth
