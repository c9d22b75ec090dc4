// Route table validation and longest-prefix matching on path segment boundaries.
#include "gateway/policy/route_table.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace intercab::gateway {
namespace {

// Calls `visit` with each segment of `path` (which starts with '/'), "" for an empty segment.
template <typename Visit>
void for_each_segment(std::string_view path, Visit visit) {
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    visit(path.substr(start, end - start));
    start = end + 1;
  }
}

bool is_dot_segment(std::string_view segment) { return segment == "." || segment == ".."; }

bool has_dot_segment(std::string_view path) {
  bool found = false;
  for_each_segment(path, [&](std::string_view segment) { found = found || is_dot_segment(segment); });
  return found;
}

void validate(const GatewayRoute& route) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("gateway route \"" + route.prefix + "\" -> \"" + route.service + "\": " + why);
  };
  if (route.prefix.empty() || route.prefix.front() != '/') fail("the prefix must start with '/'");
  if (route.prefix != "/") {
    if (route.prefix.back() == '/') fail("the prefix must not end with '/' (write \"/api/v1/x\", not \"/api/v1/x/\")");
    for_each_segment(route.prefix, [&](std::string_view segment) {
      if (segment.empty()) fail("the prefix has an empty segment (\"//\")");
      if (is_dot_segment(segment)) fail("the prefix has a \".\" or \"..\" segment");
    });
  }
  if (route.prefix.find_first_of("?# \t\r\n") != std::string::npos) {
    fail("the prefix must be a plain path (no query, fragment or whitespace)");
  }
  if (route.service.empty()) fail("the service name is empty");
  if (route.timeout.count() <= 0) fail("timeout must be positive");
  if (route.idle_timeout.count() <= 0) fail("idle_timeout must be positive");
  if (!route.requires_token && !route.roles.empty()) fail("roles need an authenticated route");
}

bool matches(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return path.starts_with('/');
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace

RouteTable::RouteTable(std::vector<GatewayRoute> routes) : routes_(std::move(routes)) {
  std::set<std::string_view> seen;
  for (const auto& route : routes_) {
    validate(route);
    if (!seen.insert(route.prefix).second) {
      throw std::invalid_argument("gateway route \"" + route.prefix + "\" -> \"" + route.service +
                                  "\": the prefix is declared twice");
    }
  }
  // Longest first, so the first match is the most specific one.
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const GatewayRoute& a, const GatewayRoute& b) { return a.prefix.size() > b.prefix.size(); });
}

const GatewayRoute* RouteTable::match(std::string_view path) const {
  if (!path.starts_with('/') || has_dot_segment(path)) return nullptr;
  for (const auto& route : routes_) {
    if (matches(route.prefix, path)) return &route;
  }
  return nullptr;
}

RouteTable default_route_table() {
  const std::vector<std::pair<std::string_view, std::vector<std::string_view>>> services = {
      {"user", {"/api/v1/auth", "/api/v1/users", "/.well-known/jwks.json"}},
      {"booking", {"/api/v1/quotes", "/api/v1/bookings"}},
      {"location", {"/api/v1/cities", "/api/v1/geocode", "/api/v1/routes", "/api/v1/locations"}},
      {"driver", {"/api/v1/drivers", "/api/v1/vehicles"}},
      {"payment", {"/api/v1/payments", "/api/v1/wallets", "/api/v1/refunds", "/api/v1/invoices"}},
      {"notification", {"/api/v1/notifications"}},
      {"ai", {"/api/v1/ai"}},
      {"analytics", {"/api/v1/analytics"}},
      {"admin", {"/api/v1/admin"}},
  };
  std::vector<GatewayRoute> routes;
  for (const auto& [service, prefixes] : services) {
    for (auto prefix : prefixes) routes.push_back({.prefix = std::string(prefix), .service = std::string(service)});
  }
  routes.push_back({.prefix = "/api/v1/notifications/stream", .service = "notification", .streaming = true});
  // Live driver positions (SSE at /api/v1/locations/drivers/{id}/stream).
  routes.push_back({.prefix = "/api/v1/locations/drivers", .service = "location", .streaming = true});
  return RouteTable(std::move(routes));
}

}  // namespace intercab::gateway
