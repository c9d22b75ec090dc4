// The rules of user accounts, free of HTTP, SQL and clocks: contact normalisation, one-time codes,
// refresh token rotation with reuse detection, login throttling and the profile's lists. Time and
// randomness are passed in, so every rule is tested in microseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::services::user::domain {

using TimePoint = std::chrono::system_clock::time_point;
// Fills a buffer with cryptographically secure random bytes (libsodium randombytes_buf in production).
using RandomBytes = std::function<void(std::uint8_t* data, std::size_t size)>;

// --- Contacts

enum class Channel { email, phone };
std::string_view to_string(Channel channel);
std::optional<Channel> parse_channel(std::string_view name);

// Email addresses are unique regardless of case: "Asha@Example.IN" and "asha@example.in" are one
// account (RFC 5321 allows a case-sensitive local part, but no provider we deliver to uses one).
std::string normalize_email(std::string_view email);

// --- One-time verification codes

inline constexpr std::size_t kVerificationCodeDigits = 6;

// Six decimal digits, uniformly distributed (rejection sampling, no modulo bias), leading zeros kept.
std::string new_verification_code(const RandomBytes& random);

// A pending code as stored: its hash (never the code), expiry and wrong attempts so far.
struct PendingCode {
  std::string code_hash;
  TimePoint expires_at;
  int failed_attempts = 0;
};

enum class CodeCheck {
  accepted,
  wrong,              // counts as a failed attempt
  expired,            // past expires_at: the client asks for a new code
  too_many_attempts,  // max_attempts wrong codes already: void, ask for a new one
};

// Compares in constant time; `hash` is the function that made code_hash.
CodeCheck check_code(const PendingCode& pending, std::string_view presented, TimePoint now, int max_attempts,
                     const std::function<std::string(std::string_view)>& hash);

// --- Refresh tokens: opaque, rotated on every use, reuse revokes the family (the session)

// "rt_" + 43 base64url characters (32 random bytes); only its hash is stored.
std::string new_opaque_token(std::string_view prefix, const RandomBytes& random);

struct StoredRefreshToken {
  bool session_revoked = false;
  bool already_used = false;  // rotated before: presenting it again is reuse
  TimePoint session_expires_at;
};

enum class RefreshDecision {
  rotate,          // issue a new pair, mark this token used
  revoke_family,   // reuse of a rotated token: a thief or a replay; end the whole session
  reject_revoked,  // the session was ended (logout, password change, reuse)
  reject_expired,  // the session idled past its lifetime
};

RefreshDecision decide_refresh(const StoredRefreshToken& token, TimePoint now);

// --- Login throttling (counted in the cache across instances)

struct LoginFailures {
  std::int64_t account = 0;  // failures for this email/phone within the window
  std::int64_t client_ip = 0;
};

struct LoginLimits {
  int max_failures_per_account = 5;
  int max_failures_per_ip = 50;
};

// True when a login attempt must be refused before the password is even checked.
bool login_locked(const LoginFailures& failures, const LoginLimits& limits);

// --- Profiles

inline constexpr std::size_t kMaxEmergencyContacts = 3;
inline constexpr std::size_t kMaxSavedPlaces = 20;

// Labels of saved places ("Home", "Office") must be unique, ignoring case and surrounding blanks.
// Returns the index of the first repeated label, if any.
std::optional<std::size_t> first_duplicate_label(const std::vector<std::string>& labels);

// Roles are stored as a sorted, comma-separated list of known role names ("driver,rider").
std::string roles_to_column(std::vector<std::string> roles);
std::vector<std::string> roles_from_column(std::string_view column);

}  // namespace intercab::services::user::domain
