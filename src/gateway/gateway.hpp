// The API gateway's request policy: for each request head, answer at once (CORS preflight,
// 429, unknown route) or plan its forwarding to an instance of the owning service.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/policy/cors.hpp"
#include "gateway/policy/rate_limiter.hpp"
#include "gateway/policy/route_table.hpp"
#include "gateway/policy/upstreams.hpp"
#include "platform/config/config.hpp"
#include "platform/errors/errors.hpp"
#include "platform/http/forward.hpp"
#include "platform/metrics/metrics.hpp"

namespace intercab::gateway {

class Gateway {
 public:
  // `upstream_urls`: base URLs of the instances of every service a route names.
  Gateway(const config::GatewaySettings& settings, const std::map<std::string, std::vector<std::string>>& upstream_urls,
          metrics::Registry& metrics);

  // The Forwarder of the gateway's HTTP server (runs on an io thread; never blocks).
  http::ForwardPlan plan(http::Request& head);

  // Services whose every instance is ejected, for /ready.
  std::vector<std::string> services_without_healthy_instance() const;

 private:
  struct Upstreams {
    std::unique_ptr<UpstreamSet> set;
    std::vector<http::UpstreamChoice> addresses;  // parsed once, by instance index
  };
  struct RouteMetrics;

  http::ForwardPlan reject(http::Request& head, const errors::Problem& problem, http::Headers headers);
  void record(const http::Request& request, const std::string& route, const std::string& service,
              const http::ForwardOutcome& outcome);

  const config::GatewaySettings settings_;
  RouteTable routes_;
  RateLimiter limiter_;
  CorsPolicy cors_;
  std::map<std::string, Upstreams> upstreams_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& durations_;
  metrics::Family<metrics::Counter>& upstream_attempts_;
  metrics::Family<metrics::Gauge>& upstream_in_flight_;
  metrics::Family<metrics::Gauge>& upstream_ejected_;
  metrics::Counter& rate_limited_;
  metrics::Family<metrics::Counter>& preflights_;
};

}  // namespace intercab::gateway
