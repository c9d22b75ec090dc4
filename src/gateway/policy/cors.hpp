// Cross-origin resource sharing at the gateway: preflight answers and the headers of actual responses.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/http/message.hpp"

namespace intercab::gateway {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Members default to empty ("{}"), so designated initializers may leave any out without a warning.
struct CorsSettings {
  // Exact origins ("https://app.example.com", compared case-insensitively), or "*" for any.
  // Empty: CORS is off and no cross-origin request is allowed.
  std::vector<std::string> allowed_origins{};
  std::vector<std::string> allowed_methods{};  // "GET", "POST"... (methods are case-sensitive)
  std::vector<std::string> allowed_headers{};  // request headers, compared case-insensitively
  std::vector<std::string> exposed_headers{};  // response headers scripts may read
  int max_age_s = 600;                         // how long a browser may cache a preflight; 0 = omit
  bool allow_credentials = false;
};

struct PreflightResult {
  bool allowed = false;
  // Headers for the preflight response; when refused, only Vary (caches must still key on it).
  HeaderList headers{};
  // Why it was refused ("origin https://evil.example is not allowed"), empty when allowed.
  std::string refusal{};
};

class CorsPolicy {
 public:
  // Throws std::invalid_argument on "*" with allow_credentials (browsers refuse that combination),
  // on "null" (sandboxed documents and file: pages all send it, so allowing it allows them all),
  // on origins that are not scheme://host[:port], on "*" in the method or header lists (list
  // them), on names that are not HTTP tokens, and on a negative max_age_s.
  explicit CorsPolicy(CorsSettings settings);

  // An OPTIONS request carrying Origin and Access-Control-Request-Method.
  static bool is_preflight(std::string_view method, const http::Headers& headers);

  // The answer to a preflight. When allowed: Access-Control-Allow-Origin (the origin, or "*" for a
  // wildcard policy), -Allow-Methods (the configured list), -Allow-Headers (the requested headers,
  // as configured), -Max-Age, -Allow-Credentials when set, and Vary.
  PreflightResult preflight(const http::Headers& request) const;

  // Adds the headers for an actual (non-preflight) response to a request from `origin` (empty
  // when the request had none) to `out`. Vary: Origin whenever CORS is on, because the answer
  // depends on the origin; the Access-Control-* headers only when the origin is allowed.
  void add_response_headers(std::string_view origin, http::FieldLines& out) const;

  bool origin_allowed(std::string_view origin) const;

 private:
  CorsSettings settings_;
  bool any_origin_ = false;
  std::string exposed_headers_;  // settings_.exposed_headers joined once, for every response
};

}  // namespace intercab::gateway
