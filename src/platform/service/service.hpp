// What every service module is built from: its routes, readiness checks, capabilities and
// OpenAPI document, plus the common endpoints (/health, /ready, /metrics, /version, /openapi.json)
// and per-request metrics and access logs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

// A readiness check returns nullopt when healthy, or a message saying what is wrong.
using ReadinessCheck = std::function<std::optional<std::string>()>;

// Handed to a module's setup function; the module adds its routes and checks to it.
class ServiceBuilder {
 public:
  ServiceBuilder(std::string name, BuildInfo build, http::Client& client);

  const std::string& name() const { return name_; }
  http::Router& router() { return router_; }
  metrics::Registry& metrics() { return *metrics_; }
  http::Client& client() { return client_; }

  void add_readiness_check(std::string name, ReadinessCheck check);
  // A service this one calls: /ready fails while its /health does not answer 200.
  void add_dependency(const std::string& name, const std::string& base_url);
  // Short dotted names of what the service really implements, listed by /version.
  void add_capability(std::string capability);
  // The service's own OpenAPI document (YAML); the common endpoints are merged into it.
  void set_openapi_yaml(std::string_view yaml);

  struct Built {
    http::Router router;
    http::Interceptor interceptor;
    std::shared_ptr<metrics::Registry> metrics;
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
};

}  // namespace intercab::service
