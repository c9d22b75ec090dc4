// The rules of user accounts; see account.hpp.
#include "services/user/domain/account.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <sstream>

#include "platform/auth/base64url.hpp"
#include "platform/auth/rbac.hpp"

namespace intercab::services::user::domain {

std::string_view to_string(Channel channel) { return channel == Channel::email ? "email" : "phone"; }

std::optional<Channel> parse_channel(std::string_view name) {
  if (name == "email") return Channel::email;
  if (name == "phone") return Channel::phone;
  return std::nullopt;
}

std::string normalize_email(std::string_view email) {
  std::string normalized(email);
  std::transform(normalized.begin(), normalized.end(), normalized.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return normalized;
}

std::string new_verification_code(const RandomBytes& random) {
  // 10^6 does not divide 2^32: values at or above the largest multiple of 10^6 would make low codes
  // slightly likelier, so they are drawn again.
  constexpr std::uint32_t kCodes = 1'000'000;
  constexpr std::uint32_t kLimit = (0xFFFFFFFFU / kCodes) * kCodes;
  std::uint32_t value = 0;
  do {
    std::array<std::uint8_t, 4> bytes{};
    random(bytes.data(), bytes.size());
    value = (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
            std::uint32_t{bytes[3]};
  } while (value >= kLimit);
  std::string code = std::to_string(value % kCodes);
  return std::string(kVerificationCodeDigits - code.size(), '0') + code;
}

namespace {

// Compares two strings without an early exit on the first difference.
bool equal_in_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

}  // namespace

CodeCheck check_code(const PendingCode& pending, std::string_view presented, TimePoint now, int max_attempts,
                     const std::function<std::string(std::string_view)>& hash) {
  if (pending.failed_attempts >= max_attempts) return CodeCheck::too_many_attempts;
  if (now >= pending.expires_at) return CodeCheck::expired;
  return equal_in_constant_time(hash(presented), pending.code_hash) ? CodeCheck::accepted : CodeCheck::wrong;
}

std::string new_opaque_token(std::string_view prefix, const RandomBytes& random) {
  std::array<std::uint8_t, 32> bytes{};
  random(bytes.data(), bytes.size());
  return std::string(prefix) +
         auth::base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

RefreshDecision decide_refresh(const StoredRefreshToken& token, TimePoint now) {
  if (token.session_revoked) return RefreshDecision::reject_revoked;
  if (token.already_used) return RefreshDecision::revoke_family;
  if (now >= token.session_expires_at) return RefreshDecision::reject_expired;
  return RefreshDecision::rotate;
}

bool login_locked(const LoginFailures& failures, const LoginLimits& limits) {
  return failures.account >= limits.max_failures_per_account || failures.client_ip >= limits.max_failures_per_ip;
}

std::optional<std::size_t> first_duplicate_label(const std::vector<std::string>& labels) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string key = labels[i];
    const auto first = key.find_first_not_of(" \t");
    const auto last = key.find_last_not_of(" \t");
    key = first == std::string::npos ? std::string() : key.substr(first, last - first + 1);
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!seen.insert(key).second) return i;
  }
  return std::nullopt;
}

std::string roles_to_column(std::vector<std::string> roles) {
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  std::string column;
  for (const auto& role : roles) column += (column.empty() ? "" : ",") + role;
  return column;
}

std::vector<std::string> roles_from_column(std::string_view column) {
  std::vector<std::string> roles;
  std::stringstream parts{std::string(column)};
  std::string role;
  while (std::getline(parts, role, ',')) {
    if (auth::parse_role(role)) roles.push_back(role);  // a role removed from the code grants nothing
  }
  return roles;
}

}  // namespace intercab::services::user::domain
