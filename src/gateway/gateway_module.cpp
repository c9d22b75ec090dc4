// Registration of the gateway: upstream instances per service (configured, or the services of
// this process), the forwarder, readiness over passive health, and /docs.
#include "gateway/gateway_module.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <memory>
#include <set>
#include <stdexcept>

#include "gateway/api_keys.hpp"
#include "gateway/docs/docs.hpp"
#include "gateway/gateway.hpp"
#include "gateway/openapi_aggregator.hpp"
#include "platform/auth/jwt.hpp"
#include "platform/cache/cache.hpp"
#include "platform/log/log.hpp"
#include "platform/service/token_keys.hpp"

namespace intercab::embedded {
std::string_view gateway_openapi_yaml();
}

namespace intercab::gateway {
void setup(service::ServiceBuilder& builder) {
  const auto& environment = builder.environment();
  if (environment.config == nullptr || !environment.locate) {
    throw std::logic_error("the gateway module needs the process configuration and service locations");
  }
  const auto& settings = environment.config->gateway;

  std::map<std::string, std::vector<std::string>> upstream_urls;
  std::vector<std::pair<std::string, std::string>> documented_services;
  for (const auto& route : settings.routes) {
    if (upstream_urls.contains(route.service)) continue;
    auto configured = settings.upstreams.find(route.service);
    upstream_urls[route.service] = configured != settings.upstreams.end() && !configured->second.empty()
                                       ? configured->second
                                       : std::vector<std::string>{environment.locate(route.service)};
    documented_services.emplace_back(route.service, upstream_urls[route.service].front());
  }

  // Rate-limit buckets live in the cache of storage.redis_url: memory by default, Redis to share limits
  // between gateway instances. No readiness check for it: the limiter fails open, so the gateway serves
  // while the cache is down (see RateLimiter), and /ready must not take it out of rotation for that.
  std::shared_ptr<cache::Cache> rate_limit_cache = cache::open_cache(environment.config->redis_url);
  auto access_tokens = std::make_shared<const auth::TokenVerifier>(
      service::access_token_keys(*environment.config, /*need_signing_key=*/false),
      auth::VerifierSettings::access_tokens(environment.config->auth.issuer, environment.config->auth.audience));
  // X-API-Key: exchanged at the user service with a service token (see ApiKeyExchange).
  auto service_tokens = std::make_shared<auth::ServiceTokenIssuer>(
      service::internal_token_keys(*environment.config),
      auth::ServiceTokenSettings{service::internal_token_issuer(*environment.config), "gateway"});
  auto user_service = upstream_urls.find("user");
  auto api_keys = user_service == upstream_urls.end()
                      ? nullptr
                      : std::make_shared<ApiKeyExchange>(builder.client(), user_service->second.front(),
                                                         std::move(service_tokens));
  auto gateway = std::make_shared<Gateway>(settings, upstream_urls, builder.metrics(), std::move(rate_limit_cache),
                                           std::move(access_tokens), std::move(api_keys));
  builder.set_forwarder([gateway](http::Request& head) { return gateway->plan(head); });
  builder.add_readiness_check("upstreams", [gateway]() -> std::optional<std::string> {
    auto down = gateway->services_without_healthy_instance();
    if (down.empty()) return std::nullopt;
    std::string message = "every instance is ejected for: ";
    for (std::size_t i = 0; i < down.size(); ++i) message += (i ? ", " : "") + down[i];
    return message;
  });

  const auto own_document =
      boost::json::parse(service::assemble_openapi("gateway", embedded::gateway_openapi_yaml())).as_object();
  auto aggregator = std::make_shared<OpenApiAggregator>(builder.client(), own_document, documented_services,
                                                        builder.build_info().version);
  docs::add_docs_routes(builder.router(), [aggregator] { return aggregator->merged(); });
  builder.set_openapi_yaml(embedded::gateway_openapi_yaml());
  for (const char* capability : {"gateway.routing", "gateway.load_balancing", "gateway.passive_health",
                                 "gateway.retries", "gateway.streaming", "gateway.header_transformation",
                                 "gateway.cors", "gateway.rate_limit", "gateway.authentication", "gateway.docs"}) {
    builder.add_capability(capability);
  }
}

}  // namespace intercab::gateway
