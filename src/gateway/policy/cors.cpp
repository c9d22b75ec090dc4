// CORS decisions (Fetch standard, "CORS protocol") from configured origins, methods and headers.
#include "gateway/policy/cors.hpp"

#include <algorithm>
#include <stdexcept>

namespace intercab::gateway {
namespace {

constexpr std::string_view kPreflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

// scheme "://" host [":" port], nothing else: a path or trailing slash would never match what a
// browser sends, so it is a configuration mistake worth reporting.
bool is_serialized_origin(std::string_view origin) {
  const auto separator = origin.find("://");
  if (separator == std::string_view::npos || separator == 0) return false;
  const auto authority = origin.substr(separator + 3);
  if (authority.empty() || authority.front() == ':') return false;
  return std::all_of(authority.begin(), authority.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == ':' || c == '[' || c == ']';
  });
}

std::string join(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) {
    if (!joined.empty()) joined += ", ";
    joined += item;
  }
  return joined;
}

PreflightResult refuse(std::string reason) {
  return {.allowed = false, .headers = {{"Vary", std::string(kPreflightVary)}}, .refusal = std::move(reason)};
}

}  // namespace

CorsPolicy::CorsPolicy(CorsSettings settings) : settings_(std::move(settings)) {
  for (const auto& origin : settings_.allowed_origins) {
    if (origin == "*") {
      any_origin_ = true;
    } else if (http::iequals(origin, "null")) {
      throw std::invalid_argument(
          "CORS: allowed origin \"null\" would admit every sandboxed document and file: page; list real origins");
    } else if (!is_serialized_origin(origin)) {
      throw std::invalid_argument("CORS: allowed origin \"" + origin +
                                  "\" must be scheme://host[:port] without a path, e.g. https://app.example.com");
    }
  }
  if (any_origin_ && settings_.allow_credentials) {
    throw std::invalid_argument(
        "CORS: allowed origin \"*\" cannot be combined with allow_credentials; list the origins instead");
  }
  for (const auto* list : {&settings_.allowed_methods, &settings_.allowed_headers, &settings_.exposed_headers}) {
    for (const auto& name : *list) {
      if (name == "*")
        throw std::invalid_argument("CORS: \"*\" is not supported in method and header lists; list them");
      if (!http::is_token(name))
        throw std::invalid_argument("CORS: \"" + name + "\" is not a valid method or header name");
    }
  }
  if (settings_.max_age_s < 0) throw std::invalid_argument("CORS: max_age_s must not be negative");
  exposed_headers_ = join(settings_.exposed_headers);
}

bool CorsPolicy::is_preflight(std::string_view method, const http::Headers& headers) {
  return method == "OPTIONS" && headers.contains("Origin") && headers.contains("Access-Control-Request-Method");
}

bool CorsPolicy::origin_allowed(std::string_view origin) const {
  if (origin.empty()) return false;
  if (any_origin_) return true;
  return std::any_of(settings_.allowed_origins.begin(), settings_.allowed_origins.end(),
                     [&](const std::string& allowed) { return http::iequals(allowed, origin); });
}

PreflightResult CorsPolicy::preflight(const http::Headers& request) const {
  if (request.count("Origin") != 1) return refuse("a preflight must carry exactly one Origin header");
  const auto origin = request.get("Origin");
  if (!origin_allowed(origin)) return refuse("origin " + std::string(origin) + " is not allowed");

  const auto method = request.get("Access-Control-Request-Method");
  if (method.empty()) return refuse("a preflight must carry Access-Control-Request-Method");
  if (std::find(settings_.allowed_methods.begin(), settings_.allowed_methods.end(), method) ==
      settings_.allowed_methods.end()) {
    return refuse("method " + std::string(method) + " is not allowed");
  }

  // Requested headers arrive as one or more comma-separated lists; answer with the configured
  // spelling, so nothing the client wrote is echoed.
  std::vector<std::string> granted_headers;
  for (const auto requested : http::header_list(request, "Access-Control-Request-Headers")) {
    const auto allowed =
        std::find_if(settings_.allowed_headers.begin(), settings_.allowed_headers.end(),
                     [&](const std::string& candidate) { return http::iequals(candidate, requested); });
    if (allowed == settings_.allowed_headers.end()) {
      return refuse("header " + std::string(requested) + " is not allowed");
    }
    if (std::find(granted_headers.begin(), granted_headers.end(), *allowed) == granted_headers.end()) {
      granted_headers.push_back(*allowed);
    }
  }

  PreflightResult result{.allowed = true};
  // A wildcard policy answers "*": it never carries credentials and is valid for every origin.
  result.headers.emplace_back("Access-Control-Allow-Origin", any_origin_ ? "*" : std::string(origin));
  result.headers.emplace_back("Access-Control-Allow-Methods", join(settings_.allowed_methods));
  if (!granted_headers.empty()) result.headers.emplace_back("Access-Control-Allow-Headers", join(granted_headers));
  if (settings_.max_age_s > 0)
    result.headers.emplace_back("Access-Control-Max-Age", std::to_string(settings_.max_age_s));
  if (settings_.allow_credentials) result.headers.emplace_back("Access-Control-Allow-Credentials", "true");
  result.headers.emplace_back("Vary", std::string(kPreflightVary));
  return result;
}

void CorsPolicy::add_response_headers(std::string_view origin, http::FieldLines& out) const {
  if (settings_.allowed_origins.empty()) return;
  // An allowed origin equals a configured one (checked at start-up), so it is safe to echo.
  if (origin_allowed(origin)) {
    out.add("Access-Control-Allow-Origin", any_origin_ ? "*" : origin);
    if (settings_.allow_credentials) out.add("Access-Control-Allow-Credentials", "true");
    if (!settings_.exposed_headers.empty()) out.add("Access-Control-Expose-Headers", exposed_headers_);
  }
  out.add("Vary", "Origin");
}

}  // namespace intercab::gateway
