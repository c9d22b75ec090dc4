// The gateway's middleware chain, in order: CORS preflight, route lookup, authentication (Bearer
// access token, verified once here), rate limit (by user when authenticated, else by address),
// 404 / 401 / 403, header transformation, upstream choice with passive health; then metrics and
// the access log.
#include "gateway/gateway.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <stdexcept>

#include "gateway/api_keys.hpp"
#include "gateway/policy/headers.hpp"
#include "platform/auth/rbac.hpp"
#include "platform/http/server.hpp"
#include "platform/log/log.hpp"
#include "platform/trace/trace.hpp"

namespace intercab::gateway {
namespace {

using Clock = std::chrono::steady_clock;

http::UpstreamChoice parse_upstream(const std::string& service, std::size_t index, const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
    throw std::invalid_argument("upstream of " + service + " is not an http:// URL: " + url);
  }
  std::uint16_t port = 80;
  if (parsed->has_port()) port = static_cast<std::uint16_t>(std::stoi(std::string(parsed->port())));
  return http::UpstreamChoice{index, std::string(parsed->host()), port};
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE";
}

CorsSettings cors_settings(const config::GatewaySettings::Cors& cors) {
  return CorsSettings{cors.allowed_origins, cors.allowed_methods, cors.allowed_headers,
                      cors.exposed_headers, cors.max_age_s,       cors.allow_credentials};
}

std::vector<GatewayRoute> gateway_routes(const config::GatewaySettings& settings) {
  std::vector<GatewayRoute> routes;
  for (const auto& route : settings.routes) {
    routes.push_back({route.prefix, route.service, route.streaming, std::chrono::seconds(route.timeout_s),
                      std::chrono::seconds(route.idle_timeout_s), route.auth == config::RouteAuth::authenticated,
                      route.roles});
  }
  return routes;
}

}  // namespace

Gateway::Gateway(const config::GatewaySettings& settings,
                 const std::map<std::string, std::vector<std::string>>& upstream_urls, metrics::Registry& metrics,
                 std::shared_ptr<cache::Cache> rate_limit_cache,
                 std::shared_ptr<const auth::TokenVerifier> access_tokens, std::shared_ptr<ApiKeyExchange> api_keys)
    : settings_(settings),
      routes_(gateway_routes(settings)),
      rate_limit_cache_(std::move(rate_limit_cache)),
      limiter_(*rate_limit_cache_, settings.rate_limit.requests_per_s, settings.rate_limit.burst),
      cors_(cors_settings(settings.cors)),
      access_tokens_(std::move(access_tokens)),
      verified_tokens_(access_tokens_ ? std::make_unique<auth::VerifiedTokenCache>(access_tokens_) : nullptr),
      api_keys_(std::move(api_keys)),
      requests_(metrics.counter("gateway_requests_total",
                                "Requests answered by the gateway, by route prefix and status",
                                {"route", "service", "status"})),
      durations_(metrics.histogram("gateway_request_duration_seconds",
                                   "Time from request head to the last response byte, by route prefix",
                                   {"route", "service"})),
      upstream_attempts_(metrics.counter("gateway_upstream_attempts_total",
                                         "Attempts on upstream instances, by result (ok or failed)",
                                         {"service", "upstream", "result"})),
      upstream_in_flight_(metrics.gauge("gateway_upstream_in_flight", "Requests in flight per upstream instance",
                                        {"service", "upstream"})),
      upstream_ejected_(metrics.gauge("gateway_upstream_ejected",
                                      "1 while passive health keeps an upstream instance out of rotation",
                                      {"service", "upstream"})),
      rate_limited_(metrics.counter("gateway_rate_limited_total", "Requests refused with 429").with()),
      rate_limit_failed_open_(
          metrics
              .counter("gateway_rate_limit_failed_open_total",
                       "Requests let through unchecked because the rate-limit cache was unavailable")
              .with()),
      preflights_(metrics.counter("gateway_cors_preflights_total", "CORS preflight requests, by result", {"result"})),
      auth_failures_(metrics.counter("gateway_auth_failures_total",
                                     "Requests refused with 401 or 403 by the gateway, by reason", {"reason"})) {
  for (const auto& route : routes_.routes()) {
    if (route.requires_token && access_tokens_ == nullptr) {
      throw std::invalid_argument("gateway route " + route.prefix +
                                  " needs an access token verifier; set JWT_SECRET or auth.ed25519_key_file");
    }
    for (const auto& role : route.roles) {
      if (!auth::parse_role(role))
        throw std::invalid_argument("gateway route " + route.prefix + ": unknown role " + role);
    }
  }
  const auto strategy = parse_balancing_strategy(settings.load_balancing);
  const PassiveHealth health{settings.eject_after_failures, std::chrono::seconds(settings.eject_for_s)};
  for (const auto& route : routes_.routes()) {
    if (upstreams_.contains(route.service)) continue;
    auto urls = upstream_urls.find(route.service);
    if (urls == upstream_urls.end() || urls->second.empty()) {
      throw std::invalid_argument("no upstream instance for service " + route.service + "; set gateway.upstreams." +
                                  route.service + " or run it in this process");
    }
    Upstreams upstreams;
    upstreams.gateway = this;
    upstreams.set = std::make_unique<UpstreamSet>(route.service, urls->second, strategy, health);
    for (std::size_t i = 0; i < urls->second.size(); ++i) {
      const auto& url = urls->second[i];
      upstreams.addresses.push_back(parse_upstream(route.service, i, url));
      upstreams.stats.push_back({&upstream_in_flight_.with({route.service, url}),
                                 &upstream_ejected_.with({route.service, url}),
                                 &upstream_attempts_.with({route.service, url, "ok"}),
                                 &upstream_attempts_.with({route.service, url, "failed"})});
    }
    upstreams_.emplace(route.service, std::move(upstreams));
  }
  for (const auto& route : routes_.routes()) add_route_stats(route.prefix, route.service);
  rejected_stats_ = &add_route_stats("(gateway)", "");
  preflight_stats_ = &add_route_stats("(preflight)", "");
}

Gateway::RouteStats& Gateway::add_route_stats(const std::string& route, const std::string& service) {
  auto stats = std::make_unique<RouteStats>();
  stats->gateway = this;
  stats->route = route;
  stats->service = service;
  stats->duration = &durations_.with({route, service});
  auto& added = *stats;
  route_stats_[route] = std::move(stats);
  return added;
}

http::ForwardPlan Gateway::reject(http::Request& head, const errors::Problem& problem, http::FieldLines headers) {
  http::ForwardPlan plan;
  plan.respond = http::problem_response(problem, head);
  plan.response_fields = std::move(headers);
  plan.complete = [stats = rejected_stats_](const http::Request& request, const http::ForwardOutcome& outcome) {
    stats->gateway->record(*stats, request, outcome);
  };
  return plan;
}

http::ForwardPlan Gateway::plan(http::Request& head) {
  const auto origin = head.header("Origin");
  if (CorsPolicy::is_preflight(head.method, head.headers)) {
    auto preflight = cors_.preflight(head.headers);
    preflights_.with({preflight.allowed ? "allowed" : "refused"}).inc();
    if (!preflight.allowed) return reject(head, errors::Forbidden("CORS preflight refused: " + preflight.refusal), {});
    http::ForwardPlan plan;
    plan.respond = http::Response::empty(204);
    for (const auto& [name, value] : preflight.headers) plan.respond->headers.add(name, value);
    plan.complete = [stats = preflight_stats_](const http::Request& request, const http::ForwardOutcome& outcome) {
      stats->gateway->record(*stats, request, outcome);
    };
    return plan;
  }

  // A machine client's X-API-Key becomes the access token it was exchanged for; the key itself
  // never goes upstream. A key not seen within the last minute is exchanged on a worker thread.
  if (auto key = head.header("X-API-Key"); !key.empty() && head.header("Authorization").empty()) {
    if (!api_keys_) return reject(head, errors::Unauthorized("X-API-Key is not accepted here; use a Bearer token"), {});
    if (auto token = api_keys_->cached(key)) {
      head.headers.set("Authorization", "Bearer " + *token);
      head.headers.remove("X-API-Key");
    } else {
      http::ForwardPlan exchange;
      exchange.prepare = [this, key = std::string(key)](http::Request& request) {
        try {
          request.headers.set("Authorization", "Bearer " + api_keys_->exchange(key));
          request.headers.remove("X-API-Key");
        } catch (const errors::Problem& problem) {
          auth_failures_.with({"api_key"}).inc();
          return reject(request, problem, {});
        }
        return plan(request);
      };
      return exchange;
    }
  }

  http::FieldLines response_fields;
  response_fields.reserve(512);  // CORS and RateLimit-* headers (about 300 bytes), in one allocation
  cors_.add_response_headers(origin, response_fields);
  const auto* route = routes_.match(head.path);
  Authentication authentication;
  if (route != nullptr && route->requires_token) authentication = authenticate(head, *route);
  // Keyed by the verified user, else by the client's address: an unverified identity in the bucket
  // name would let a client pick a fresh bucket per request.
  const std::string user_id = authentication.claims ? authentication.claims->subject : std::string();
  const auto decision = limiter_.take(client_key("", user_id, head.remote_address), RateLimiter::Clock::now());
  if (decision.failed_open) rate_limit_failed_open_.inc();
  add_rate_limit_headers(decision, response_fields);  // names CORS never sends
  if (!decision.allowed) {
    rate_limited_.inc();
    return reject(head,
                  errors::TooManyRequests("rate limit of " + std::to_string(decision.limit) +
                                              " requests exceeded; retry after the time in Retry-After",
                                          decision.retry_after_s),
                  std::move(response_fields));
  }

  if (route == nullptr) {
    return reject(head, errors::NotFound("no API route at " + head.path + "; the API is described at /docs"),
                  std::move(response_fields));
  }
  if (authentication.problem) return reject(head, *authentication.problem, std::move(response_fields));
  auto& upstreams = upstreams_.at(route->service);

  http::ForwardPlan plan;
  plan.upstream_name = route->service;
  plan.target = head.target;
  const auto traceparent = trace::to_traceparent(head.trace);
  plan.upstream_fields =
      upstream_request_fields(head.headers, ForwardContext{head.request_id, traceparent, head.trace.tracestate,
                                                           head.remote_address, head.header("Host"), "http"});
  // The client's X-User-* headers were dropped above; these come from the verified token, for the
  // services' logs only: each service verifies the forwarded Authorization header itself.
  if (authentication.claims) {
    std::string roles;
    for (const auto& role : authentication.claims->roles) roles += (roles.empty() ? "" : ",") + role;
    add_asserted_field(plan.upstream_fields, "X-User-Id", authentication.claims->subject);
    add_asserted_field(plan.upstream_fields, "X-User-Roles", roles);
  }
  plan.response_fields = std::move(response_fields);
  if (settings_.max_body_bytes > 0) plan.max_body_bytes = settings_.max_body_bytes;
  plan.connect_timeout = std::chrono::milliseconds(settings_.connect_timeout_ms);
  plan.timeout = route->timeout;
  plan.idle_timeout = route->idle_timeout;
  plan.streaming = route->streaming;
  plan.max_attempts = settings_.max_attempts;
  plan.idempotent = is_idempotent(head.method);

  // Each callback captures one pointer, which std::function keeps without allocating.
  Upstreams* target = &upstreams;
  plan.pick = [target](const std::vector<std::size_t>& tried) -> std::optional<http::UpstreamChoice> {
    auto instance = target->set->pick(Clock::now(), tried);
    if (!instance) return std::nullopt;
    target->set->on_start(*instance);
    target->stats[*instance].in_flight->inc();
    return target->addresses[*instance];
  };
  plan.report = [target](std::size_t instance, bool healthy) { target->gateway->report(*target, instance, healthy); };
  RouteStats* stats = route_stats_.at(route->prefix).get();
  plan.complete = [stats](const http::Request& request, const http::ForwardOutcome& outcome) {
    stats->gateway->record(*stats, request, outcome);
  };
  return plan;
}

Gateway::Authentication Gateway::authenticate(const http::Request& head, const GatewayRoute& route) {
  Authentication result;
  const auto token = auth::bearer_token(head.header("Authorization"));
  if (!token) {
    auth_failures_.with({"missing_token"}).inc();
    result.problem = errors::Unauthorized("this route needs an access token: send Authorization: Bearer <token>",
                                          "Bearer realm=\"intercab\"");
    return result;
  }
  try {
    result.claims = verified_tokens_->verify(*token);
  } catch (const auth::TokenRejected& rejected) {
    // The detail names the problem only, never the token (see TokenRejected).
    auth_failures_.with({std::string(auth::to_string(rejected.problem()))}).inc();
    result.problem = rejected;
    return result;
  }
  if (!route.roles.empty()) {
    const bool has_any = std::any_of(route.roles.begin(), route.roles.end(),
                                     [&](const std::string& role) { return result.claims->has_role(role); });
    if (!has_any) {
      auth_failures_.with({"missing_role"}).inc();
      std::string roles;
      for (const auto& role : route.roles) roles += (roles.empty() ? "" : ", ") + role;
      result.problem = errors::Forbidden("this route needs one of the roles: " + roles);
    }
  }
  return result;
}

void Gateway::report(Upstreams& upstreams, std::size_t instance, bool healthy) {
  const auto now = Clock::now();
  upstreams.set->on_finish(instance, healthy, now);
  auto& stats = upstreams.stats[instance];
  stats.in_flight->dec();
  (healthy ? stats.ok : stats.failed)->inc();
  if (healthy) {
    stats.ejected->set(0);
    return;
  }
  const auto snapshot = upstreams.set->snapshot(now);
  for (std::size_t i = 0; i < snapshot.size(); ++i) upstreams.stats[i].ejected->set(snapshot[i].ejected ? 1 : 0);
}

void Gateway::record(RouteStats& stats, const http::Request& request, const http::ForwardOutcome& outcome) {
  const auto status = std::clamp(outcome.status, 0, 599);
  auto* counter = stats.by_status[static_cast<std::size_t>(status)].load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &requests_.with({stats.route, stats.service, std::to_string(status)});
    stats.by_status[static_cast<std::size_t>(status)].store(counter, std::memory_order_release);
  }
  counter->inc();
  stats.duration->observe(outcome.seconds);
  if (!log::enabled(status >= 500 ? log::Level::error : log::Level::info)) return;
  log::ScopedLogContext context(
      {"gateway", request.request_id, request.trace.trace_id_hex(), request.trace.span_id_hex()});
  log::access(request.method, stats.route, outcome.status, outcome.seconds * 1000.0,
              {{"service", stats.service},
               {"upstream", outcome.upstream},
               {"attempts", outcome.attempts},
               {"error", outcome.error}});
}

std::vector<std::string> Gateway::services_without_healthy_instance() const {
  std::vector<std::string> services;
  const auto now = Clock::now();
  for (const auto& [service, upstreams] : upstreams_) {
    const auto stats = upstreams.set->snapshot(now);
    const bool all_ejected = std::all_of(stats.begin(), stats.end(), [](const auto& s) { return s.ejected; });
    if (all_ejected) services.push_back(service);
  }
  return services;
}

}  // namespace intercab::gateway
