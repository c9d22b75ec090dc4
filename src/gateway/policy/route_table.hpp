// Which upstream service serves a request path, and with which timeouts: the gateway's route table.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::gateway {

struct GatewayRoute {
  std::string prefix{};   // "/api/v1/bookings"; matches itself and everything below it
  std::string service{};  // "booking"
  // Streaming routes (SSE, WebSocket, long downloads) live as long as data keeps flowing, so
  // only `idle_timeout` applies to them; other routes get `timeout` for the whole exchange.
  bool streaming = false;
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds idle_timeout{300'000};
  // Whether a valid access token is required, and the roles of which it needs any one (empty: any
  // authenticated caller). Checked by the gateway, and again by the service itself.
  bool requires_token = false;
  std::vector<std::string> roles{};
};

class RouteTable {
 public:
  // Throws std::invalid_argument naming the offending route when a prefix does not start with
  // '/', ends with '/' (other than the root "/"), has empty or dot segments, appears twice, or a
  // route has no service or a non-positive timeout.
  explicit RouteTable(std::vector<GatewayRoute> routes);

  // The route with the longest prefix that matches `path` on a segment boundary ("/api/v1/users"
  // matches "/api/v1/users" and "/api/v1/users/me", not "/api/v1/usersx"), or nullptr. `path` is
  // the percent-decoded path without the query. Paths with "." or ".." segments match nothing: an
  // upstream that normalises them could end up serving a prefix that is routed elsewhere.
  const GatewayRoute* match(std::string_view path) const;

  // Longest prefix first.
  const std::vector<GatewayRoute>& routes() const { return routes_; }

 private:
  std::vector<GatewayRoute> routes_;
};

// The public API of every service (issue 4), with timeouts of 30 s (idle 300 s); the in-app
// notification stream (SSE) is a streaming route.
RouteTable default_route_table();

}  // namespace intercab::gateway
