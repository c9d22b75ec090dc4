// What every service module is built from: its routes, readiness checks, capabilities and
// OpenAPI document, plus the common endpoints (/health, /ready, /metrics, /version, /openapi.json)
// and per-request metrics and access logs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/cache/cache.hpp"
#include "platform/config/config.hpp"
#include "platform/db/db.hpp"
#include "platform/events/bus.hpp"
#include "platform/http/client.hpp"
#include "platform/http/router.hpp"
#include "platform/http/server.hpp"
#include "platform/metrics/metrics.hpp"

namespace intercab::service {

struct BuildInfo {
  std::string version;
  std::string git_sha;
  std::string build_type;
  std::string build_time;
};

// A service's OpenAPI document as served at /openapi.json: its own YAML with the common
// endpoints merged in, as JSON text.
std::string assemble_openapi(const std::string& service_name, std::string_view service_yaml);

// A readiness check returns nullopt when healthy, or a message saying what is wrong.
using ReadinessCheck = std::function<std::optional<std::string>()>;

// The infrastructure a service uses, owned by the process and outliving the service: its own
// database (migrated), its event bus and the process's cache. Null members are not available
// (the gateway has no database; unit tests may have none at all).
struct Infrastructure {
  db::Database* store = nullptr;
  events::EventBus* bus = nullptr;
  cache::Cache* cache = nullptr;
};

// What a module may know of the process it runs in.
struct ServiceEnvironment {
  const config::Config* config = nullptr;  // the process configuration; null only in unit tests
  // Base URL ("http://127.0.0.1:8001") at which this process reaches a service by name.
  std::function<std::string(const std::string& service)> locate;
};

// Handed to a module's setup function; the module adds its routes and checks to it.
class ServiceBuilder {
 public:
  ServiceBuilder(std::string name, BuildInfo build, http::Client& client, ServiceEnvironment environment = {});

  const std::string& name() const { return name_; }
  http::Router& router() { return router_; }
  metrics::Registry& metrics() { return *metrics_; }
  http::Client& client() { return client_; }
  const ServiceEnvironment& environment() const { return environment_; }
  const BuildInfo& build_info() const { return build_; }
  // The service's registry, shared with what reports into it besides requests (the event bus).
  std::shared_ptr<metrics::Registry> shared_metrics() const { return metrics_; }

  // Hands the service its infrastructure; /ready then checks each piece given (store, bus, cache).
  void use_infrastructure(Infrastructure infrastructure);
  const Infrastructure& infrastructure() const { return infrastructure_; }

  void add_readiness_check(std::string name, ReadinessCheck check);
  // A service this one calls: /ready fails while its /health does not answer 200.
  void add_dependency(const std::string& name, const std::string& base_url);
  // Short dotted names of what the service really implements, listed by /version.
  void add_capability(std::string capability);
  // The service's own OpenAPI document (YAML); the common endpoints are merged into it.
  void set_openapi_yaml(std::string_view yaml);
  // Requests that match no route go to `forwarder` (the gateway) instead of a 404.
  void set_forwarder(http::Forwarder forwarder) { forwarder_ = std::move(forwarder); }

  struct Built {
    http::Router router;
    http::Interceptor interceptor;
    std::shared_ptr<metrics::Registry> metrics;
    http::Forwarder forwarder;  // empty for domain services
  };
  // Adds the common endpoints and returns what the HTTP server needs.
  Built build() &&;

 private:
  std::string name_;
  BuildInfo build_;
  http::Client& client_;
  http::Router router_;
  std::shared_ptr<metrics::Registry> metrics_;
  std::vector<std::pair<std::string, ReadinessCheck>> checks_;
  std::vector<std::string> capabilities_;
  std::string openapi_yaml_;
  ServiceEnvironment environment_;
  Infrastructure infrastructure_;
  http::Forwarder forwarder_;
};

}  // namespace intercab::service
