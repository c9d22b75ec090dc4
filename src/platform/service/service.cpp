// The common endpoints, the request interceptor (metrics + access log) and OpenAPI assembly.
#include "platform/service/service.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>

#include "platform/errors/errors.hpp"
#include "platform/log/log.hpp"
#include "platform/metrics/process_metrics.hpp"

namespace intercab::embedded {
std::string_view common_openapi_yaml();
}

namespace intercab::service {
namespace {

// YAML -> JSON. Quoted scalars stay strings; plain scalars become null, booleans or numbers
// when they read as such (YAML 1.2 core schema).
boost::json::value to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      boost::json::object object;
      for (const auto& entry : node) object[entry.first.as<std::string>()] = to_json(entry.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      boost::json::array array;
      for (const auto& item : node) array.push_back(to_json(item));
      return array;
    }
    case YAML::NodeType::Scalar: {
      const auto& text = node.Scalar();
      if (node.Tag() != "?") return boost::json::string(text);  // quoted or explicitly tagged
      if (text == "null" || text == "~") return nullptr;
      if (text == "true") return true;
      if (text == "false") return false;
      std::int64_t integer = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), integer);
      if (error == std::errc() && end == text.data() + text.size()) return integer;
      double number = 0;
      auto [number_end, number_error] = std::from_chars(text.data(), text.data() + text.size(), number);
      if (number_error == std::errc() && number_end == text.data() + text.size()) return number;
      return boost::json::string(text);
    }
    default:
      return nullptr;
  }
}

// Adds the entries of `extra` that `base` lacks, recursively for objects.
void merge_missing(boost::json::object& base, const boost::json::object& extra) {
  for (const auto& [key, value] : extra) {
    auto* existing = base.if_contains(key);
    if (existing == nullptr) {
      base[key] = value;
    } else if (existing->is_object() && value.is_object()) {
      merge_missing(existing->as_object(), value.as_object());
    }
  }
}

}  // namespace

std::string assemble_openapi(const std::string& service_name, std::string_view service_yaml) {
  auto document = to_json(YAML::Load(std::string(service_yaml)));
  if (!document.is_object()) document = boost::json::object{};
  auto& object = document.as_object();
  merge_missing(object, to_json(YAML::Load(std::string(embedded::common_openapi_yaml()))).as_object());
  if (!object.contains("info")) {
    object["info"] = boost::json::object{{"title", "intercab " + service_name + " service"}, {"version", "0.1.0"}};
  }
  return boost::json::serialize(document);
}

namespace {

struct RequestMetrics {
  explicit RequestMetrics(metrics::Registry& registry)
      : requests(registry.counter("http_requests_total", "HTTP requests handled, by route template and status",
                                  {"method", "route", "status"})),
        duration(registry.histogram("http_request_duration_seconds",
                                    "Time from request head received to response ready, by route template",
                                    {"method", "route"})),
        in_flight(registry.gauge("http_requests_in_flight", "HTTP requests being handled now").with()) {}

  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Histogram>& duration;
  metrics::Gauge& in_flight;
};

}  // namespace

ServiceBuilder::ServiceBuilder(std::string name, BuildInfo build, http::Client& client, ServiceEnvironment environment)
    : name_(std::move(name)),
      build_(std::move(build)),
      client_(client),
      metrics_(std::make_shared<metrics::Registry>()),
      environment_(std::move(environment)) {}

void ServiceBuilder::add_readiness_check(std::string name, ReadinessCheck check) {
  checks_.emplace_back(std::move(name), std::move(check));
}

void ServiceBuilder::use_infrastructure(Infrastructure infrastructure) {
  infrastructure_ = infrastructure;
  if (infrastructure.store) add_capability("platform.store");
  if (infrastructure.bus) add_capability("platform.events");
  if (infrastructure.cache) add_capability("platform.cache");
  if (auto* store = infrastructure.store) {
    add_readiness_check("store", [store] { return store->unavailable_reason(); });
  }
  if (auto* bus = infrastructure.bus) {
    add_readiness_check("bus", [bus] { return bus->unavailable_reason(); });
  }
  if (auto* cache = infrastructure.cache) {
    add_readiness_check("cache", [cache] { return cache->unavailable_reason(); });
  }
}

void ServiceBuilder::add_dependency(const std::string& name, const std::string& base_url) {
  add_readiness_check("dependency." + name,
                      [&client = client_, url = base_url + "/health"]() -> std::optional<std::string> {
                        http::ClientRequest request;
                        request.url = url;
                        request.timeout = std::chrono::milliseconds(1000);
                        auto response = client.send(std::move(request));
                        if (!response.ok()) return "GET " + url + " failed: " + response.error_message;
                        if (response.status != 200)
                          return "GET " + url + " answered " + std::to_string(response.status);
                        return std::nullopt;
                      });
}

void ServiceBuilder::add_capability(std::string capability) { capabilities_.push_back(std::move(capability)); }

void ServiceBuilder::set_openapi_yaml(std::string_view yaml) { openapi_yaml_ = std::string(yaml); }

namespace {

// A database or cache that cannot be reached is the server's temporary trouble, not a bug: every
// route answers 503 with Retry-After for it (instead of a 500), so clients and the gateway retry.
http::Router answer_outages_with_503(const http::Router& routes) {
  http::Router wrapped;
  for (const auto& route : routes.routes()) {
    wrapped.add(
        route.method, route.pattern,
        [handler = route.handler](http::Request& request) -> http::Response {
          try {
            return handler(request);
          } catch (const db::DatabaseUnavailable& outage) {
            log::warn("database unavailable", {{"error", outage.what()}});
            throw errors::Unavailable("the service's database is unavailable; retry shortly", 5);
          } catch (const cache::CacheUnavailable& outage) {
            log::warn("cache unavailable", {{"error", outage.what()}});
            throw errors::Unavailable("the service's cache is unavailable; retry shortly", 5);
          }
        },
        route.options);
  }
  return wrapped;
}

}  // namespace

ServiceBuilder::Built ServiceBuilder::build() && {
  metrics::register_process_metrics(*metrics_);
  capabilities_.insert(capabilities_.begin(),
                       {"platform.health", "platform.readiness", "platform.metrics", "platform.openapi"});

  const http::RouteOptions quick{.max_body_bytes = std::nullopt, .runs_inline = true};
  router_.add(
      "GET", "/health",
      [](http::Request&) {
        return http::Response::json(boost::json::object{{"status", "ok"}});
      },
      quick);

  router_.add("GET", "/ready", [checks = checks_](http::Request&) {
    boost::json::object results;
    bool ready = true;
    for (const auto& [name, check] : checks) {
      std::optional<std::string> failure;
      try {
        failure = check();
      } catch (const std::exception& error) {
        failure = std::string("check failed: ") + error.what();
      }
      results[name] = failure ? *failure : "ok";
      ready = ready && !failure;
    }
    return http::Response::json(boost::json::object{{"status", ready ? "ready" : "not_ready"}, {"checks", results}},
                                ready ? 200 : 503);
  });

  router_.add("GET", "/metrics", [registry = metrics_](http::Request&) {
    return http::Response::text(registry->expose(), std::string(metrics::kExpositionContentType));
  });

  boost::json::array capability_list;
  for (const auto& capability : capabilities_) capability_list.emplace_back(capability);
  const auto version = boost::json::serialize(boost::json::object{{"service", name_},
                                                                  {"version", build_.version},
                                                                  {"git_sha", build_.git_sha},
                                                                  {"build_type", build_.build_type},
                                                                  {"build_time", build_.build_time},
                                                                  {"capabilities", capability_list}});
  router_.add(
      "GET", "/version", [version](http::Request&) { return http::Response::text(version, "application/json"); },
      quick);

  const auto openapi = assemble_openapi(name_, openapi_yaml_);
  router_.add(
      "GET", "/openapi.json", [openapi](http::Request&) { return http::Response::text(openapi, "application/json"); },
      quick);

  auto request_metrics = std::make_shared<RequestMetrics>(*metrics_);
  http::Interceptor interceptor = [request_metrics, service = name_](http::Request& request,
                                                                     const http::Handler& handler) {
    auto context = log::current_context();
    context.service = service;
    log::ScopedLogContext scoped(std::move(context));
    request_metrics->in_flight.inc();
    const auto start = std::chrono::steady_clock::now();
    auto response = handler(request);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    request_metrics->in_flight.dec();
    request_metrics->requests.with({request.method, request.route, std::to_string(response.status)}).inc();
    request_metrics->duration.with({request.method, request.route}).observe(elapsed.count());
    log::access(request.method, request.route, response.status, elapsed.count() * 1000.0);
    return response;
  };
  return Built{answer_outages_with_503(router_), std::move(interceptor), metrics_, std::move(forwarder_)};
}

}  // namespace intercab::service
