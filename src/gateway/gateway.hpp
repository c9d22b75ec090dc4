// The API gateway's request policy: for each request head, answer at once (CORS preflight,
// 429, unknown route) or plan its forwarding to an instance of the owning service.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/policy/cors.hpp"
#include "gateway/policy/rate_limiter.hpp"
#include "gateway/policy/route_table.hpp"
#include "gateway/policy/upstreams.hpp"
#include "platform/auth/jwt.hpp"
#include "platform/cache/cache.hpp"
#include "platform/config/config.hpp"
#include "platform/errors/errors.hpp"
#include "platform/http/forward.hpp"
#include "platform/metrics/metrics.hpp"

namespace intercab::gateway {

class ApiKeyExchange;  // api_keys.hpp

class Gateway {
 public:
  // `upstream_urls`: base URLs of the instances of every service a route names. `rate_limit_cache` keeps
  // the rate limiter's buckets (shared with other gateway instances when it is Redis); the gateway keeps
  // it alive. `access_tokens` verifies the Bearer tokens of authenticated routes; it may be null only
  // when every route is public (else std::invalid_argument).
  Gateway(const config::GatewaySettings& settings, const std::map<std::string, std::vector<std::string>>& upstream_urls,
          metrics::Registry& metrics, std::shared_ptr<cache::Cache> rate_limit_cache,
          std::shared_ptr<const auth::TokenVerifier> access_tokens, std::shared_ptr<ApiKeyExchange> api_keys = nullptr);

  // The Forwarder of the gateway's HTTP server (runs on an io thread; never blocks, except for the rate
  // limiter's round trips when its cache is Redis, each bounded by the cache's timeout).
  http::ForwardPlan plan(http::Request& head);

  // Services whose every instance is ejected, for /ready.
  std::vector<std::string> services_without_healthy_instance() const;

 private:
  // Metric children are looked up once, here, not per request: a lookup builds a label vector.
  struct InstanceStats {
    metrics::Gauge* in_flight;
    metrics::Gauge* ejected;
    metrics::Counter* ok;
    metrics::Counter* failed;
  };
  struct Upstreams {
    Gateway* gateway;
    std::unique_ptr<UpstreamSet> set;
    std::vector<http::UpstreamChoice> addresses;  // parsed once, by instance index
    std::vector<InstanceStats> stats;             // by instance index
  };
  // Per route prefix (and for the gateway's own answers): requests by status, and durations.
  struct RouteStats {
    Gateway* gateway;
    std::string route;
    std::string service;
    metrics::Histogram* duration;
    std::array<std::atomic<metrics::Counter*>, 600> by_status{};  // filled on first use of a status
  };

  http::ForwardPlan reject(http::Request& head, const errors::Problem& problem, http::FieldLines headers);
  // The caller's verified claims, or the problem to answer (401, or 403 for missing roles).
  struct Authentication {
    std::shared_ptr<const auth::Claims> claims;
    std::optional<errors::Problem> problem;
  };
  Authentication authenticate(const http::Request& head, const GatewayRoute& route);
  RouteStats& add_route_stats(const std::string& route, const std::string& service);
  void record(RouteStats& stats, const http::Request& request, const http::ForwardOutcome& outcome);
  void report(Upstreams& upstreams, std::size_t instance, bool healthy);

  const config::GatewaySettings settings_;
  RouteTable routes_;
  std::shared_ptr<cache::Cache> rate_limit_cache_;  // before limiter_, which refers to it
  RateLimiter limiter_;
  CorsPolicy cors_;
  std::shared_ptr<const auth::TokenVerifier> access_tokens_;
  // Clients send the same token with every request: each is verified once, until its exp.
  std::unique_ptr<auth::VerifiedTokenCache> verified_tokens_;  // null when access_tokens_ is
  std::shared_ptr<ApiKeyExchange> api_keys_;                   // null: X-API-Key is not accepted
  std::map<std::string, Upstreams> upstreams_;
  std::map<std::string, std::unique_ptr<RouteStats>> route_stats_;  // by route prefix; fixed after construction
  RouteStats* rejected_stats_ = nullptr;
  RouteStats* preflight_stats_ = nullptr;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& durations_;
  metrics::Family<metrics::Counter>& upstream_attempts_;
  metrics::Family<metrics::Gauge>& upstream_in_flight_;
  metrics::Family<metrics::Gauge>& upstream_ejected_;
  metrics::Counter& rate_limited_;
  metrics::Counter& rate_limit_failed_open_;
  metrics::Family<metrics::Counter>& preflights_;
  metrics::Family<metrics::Counter>& auth_failures_;  // by reason: missing_token, a TokenProblem, missing_role
};

}  // namespace intercab::gateway
