// Starts modules in dependency order, each on its own listener, then waits for a shutdown
// signal and drains: stop accepting, let in-flight requests finish (bounded), exit.
#include "app/serve.hpp"

#include <signal.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "app/backends.hpp"
#include "app/build_info.hpp"
#include "app/modules.hpp"
#include "platform/http/client.hpp"
#include "platform/http/server.hpp"
#include "platform/log/log.hpp"

namespace intercab::app {
namespace {

sigset_t shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

http::ServerLimits server_limits(const config::HttpSettings& http) {
  http::ServerLimits limits;
  limits.max_header_bytes = http.max_header_bytes;
  limits.max_body_bytes = http.max_body_bytes;
  limits.header_timeout = std::chrono::seconds(http.header_timeout_s);
  limits.body_timeout = std::chrono::seconds(http.body_timeout_s);
  limits.idle_timeout = std::chrono::seconds(http.idle_timeout_s);
  limits.max_queued_requests = http.max_queued_requests;
  return limits;
}

http::ClientOptions client_options(const config::HttpClientSettings& client) {
  http::ClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(client.connect_timeout_ms);
  options.request_timeout = std::chrono::milliseconds(client.request_timeout_ms);
  options.max_retries = client.max_retries;
  options.retry_backoff = std::chrono::milliseconds(client.retry_backoff_ms);
  options.pool_size_per_host = client.pool_size_per_host;
  options.breaker_failure_threshold = client.breaker_failure_threshold;
  options.breaker_open = std::chrono::seconds(client.breaker_open_s);
  return options;
}

// Where this process reaches a service: in-process listeners on loopback, others at their configured URL.
std::string service_url(const config::Config& config, const std::string& name,
                        const std::map<std::string, std::uint16_t>& bound_ports) {
  const auto& settings = config.services.at(name);
  if (auto it = bound_ports.find(name); it != bound_ports.end()) {
    const auto host = config.http.bind_address == "0.0.0.0" ? std::string("127.0.0.1") : config.http.bind_address;
    return "http://" + host + ":" + std::to_string(it->second);
  }
  if (!settings.url.empty()) return settings.url;
  return "http://127.0.0.1:" + std::to_string(settings.port);
}

void write_ports_file(const std::filesystem::path& path, const std::map<std::string, std::uint16_t>& ports) {
  boost::json::object document;
  for (const auto& [name, port] : ports) document[name] = port;
  auto temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary);
    out << boost::json::serialize(document) << "\n";
    if (!out) throw std::runtime_error("cannot write ports file " + temporary.string());
  }
  std::filesystem::rename(temporary, path);  // readers never see a half-written file
}

}  // namespace

void block_shutdown_signals() {
  auto signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int serve(const config::Config& config, const ServeOptions& options) {
  const auto targets = resolve_targets(options.targets);
  if (auto problem = shared_database_problem(config, targets)) {
    log::error("cannot start", {{"error", *problem}});
    return 2;
  }
  const auto build = build_info();
  Backends backends(config);
  http::Runtime runtime(config.http.io_threads, config.http.worker_threads);
  http::Client client(runtime, client_options(config.http.client));

  std::vector<std::pair<std::string, std::unique_ptr<http::Server>>> servers;
  std::map<std::string, std::uint16_t> bound_ports;
  for (const auto& name : targets) {
    const auto& module = find_module(name);
    service::ServiceBuilder builder(name, build, client, {&config, [&config, &bound_ports](const std::string& other) {
                                                            return service_url(config, other, bound_ports);
                                                          }});
    for (const auto& dependency : module.dependencies) {
      builder.add_dependency(dependency, service_url(config, dependency, bound_ports));
    }
    // The gateway has no database and opens its own rate-limit cache; the domain services get
    // their database, their bus and the process's cache, all checked by /ready.
    service::Infrastructure infrastructure;
    if (module.has_store) {
      infrastructure.cache = &backends.cache();
      try {
        infrastructure.store = &backends.store(name);
        infrastructure.bus = &backends.create_bus(name, builder.shared_metrics());
      } catch (const std::exception& error) {
        log::error("cannot start", {{"service", name}, {"error", error.what()}});
        for (auto& [other, running] : servers) running->start_drain();
        runtime.stop();
        return 1;
      }
    }
    builder.use_infrastructure(infrastructure);
    try {
      module.setup(builder);
    } catch (const std::exception& error) {
      log::error("cannot start", {{"service", name}, {"error", error.what()}});
      for (auto& [other, running] : servers) running->start_drain();
      runtime.stop();
      return 1;
    }
    auto built = std::move(builder).build();
    auto server = std::make_unique<http::Server>(runtime, std::move(built.router), server_limits(config.http),
                                                 std::move(built.interceptor));
    if (built.forwarder) server->set_forwarder(std::move(built.forwarder));
    int port = config.services.at(name).port;
    if (targets.size() == 1 && config.single_service_port) port = *config.single_service_port;
    try {
      bound_ports[name] = server->listen(config.http.bind_address, static_cast<std::uint16_t>(port));
    } catch (const std::exception& error) {
      log::error("cannot listen", {{"service", name},
                                   {"address", config.http.bind_address},
                                   {"port", port},
                                   {"error", error.what()},
                                   {"hint", "set " + name + "_PORT (upper case) to a free port, or 0 for any"}});
      for (auto& [other, running] : servers) running->start_drain();
      runtime.stop();
      return 1;
    }
    log::info("service listening", {{"service", name}, {"port", bound_ports[name]}});
    servers.emplace_back(name, std::move(server));
  }
  backends.start_buses();
  if (options.ports_file) write_ports_file(*options.ports_file, bound_ports);

  std::cout << "\nintercab " << build.version << " (" << build.git_sha << ") is serving " << targets.size()
            << " services:\n";
  for (const auto& name : targets) {
    const auto url = service_url(config, name, bound_ports);
    std::cout << "  " << name << std::string(14 - std::min<std::size_t>(13, name.size()), ' ') << url << "   (" << url
              << "/openapi.json, /health, /ready, /metrics, /version)\n";
  }
  if (bound_ports.contains("gateway")) {
    const auto gateway = service_url(config, "gateway", bound_ports);
    std::cout << "The API: " << gateway << "/api/v1/...   documentation: " << gateway << "/docs/\n";
  }
  std::cout << "Press Ctrl+C to stop.\n" << std::flush;

  auto signals = shutdown_signals();
  int received = 0;
  sigwait(&signals, &received);
  log::info("shutting down: draining in-flight requests",
            {{"signal", received == SIGINT ? "SIGINT" : "SIGTERM"}, {"drain_timeout_s", config.http.drain_timeout_s}});

  for (auto& [name, server] : servers) server->start_drain();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.http.drain_timeout_s);
  bool drained = true;
  for (auto& [name, server] : servers) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!server->wait_idle(std::max(left, std::chrono::milliseconds(0)))) {
      drained = false;
      log::warn("drain timed out; cutting remaining requests",
                {{"service", name}, {"in_flight", server->requests_in_flight()}});
    }
  }
  backends.stop_buses();  // after the drain: requests in flight may still commit events
  runtime.stop();
  log::info("stopped", {{"drained", drained}});
  return 0;
}

}  // namespace intercab::app
