// The verified claims of a token: what handlers and the RBAC checks read. Kept apart from jwt.hpp
// so that code which only authorises does not see keys, issuers and verifiers.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::auth {

using TimePoint = std::chrono::system_clock::time_point;
inline constexpr std::string_view kAccessTokenType = "at+jwt";    // RFC 9068
inline constexpr std::string_view kServiceTokenType = "svc+jwt";  // ours: service-to-service calls

// The claims of a token that passed every check.
struct Claims {
  std::string token_type;  // the JWS "typ": kAccessTokenType or kServiceTokenType
  std::string key_id;      // the kid that verified it
  std::string issuer;
  std::string subject;   // a user id (access tokens) or the calling service (service tokens)
  std::string audience;  // the verifier's own audience, which the token named
  std::string client_id;
  std::string jwt_id;
  std::vector<std::string> roles;
  bool verified = false;  // the user's contact details are verified
  TimePoint issued_at;
  TimePoint not_before;
  TimePoint expires_at;

  bool has_role(std::string_view role) const;
};

}  // namespace intercab::auth
