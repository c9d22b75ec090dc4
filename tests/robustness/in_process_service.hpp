// Test support: one service module served in this process on a free port, with its real database
// (SQLite under a temporary home) and the memory cache, as `intercab serve` would run it.
#pragma once

#include <memory>

#include "app/backends.hpp"
#include "app/modules.hpp"
#include "platform/config/config.hpp"
#include "platform/http/client.hpp"
#include "platform/http/server.hpp"
#include "platform/service/service.hpp"
#include "process.hpp"

namespace intercab::testing {

class InProcessService {
 public:
  InProcessService(const std::string& module_name, http::ServerLimits limits) : home_("intercab-" + module_name) {
    config_ = config::load({{{"INTERCAB_HOME", home_.path().string()},
                             {"JWT_SECRET", "robustness-test-secret-of-at-least-32-bytes"},
                             {"INTERNAL_JWT_SECRET", "robustness-internal-secret-at-least-32-bytes"},
                             {"AUTH_PASSWORD_OPS_LIMIT", "1"},
                             {"AUTH_PASSWORD_MEM_KIB", "8"}},
                            std::nullopt});
    backends_ = std::make_unique<app::Backends>(config_);
    runtime_ = std::make_unique<http::Runtime>(2, 2);
    client_ = std::make_unique<http::Client>(*runtime_, http::ClientOptions{});
    service::ServiceEnvironment environment{&config_,
                                            [](const std::string&) { return std::string("http://127.0.0.1:1"); }};
    service::ServiceBuilder builder(module_name, {"0.1.0", "test", "Debug", "2026-11-24T00:00:00Z"}, *client_,
                                    environment);
    const auto& module = app::find_module(module_name);
    if (module.has_store) builder.use_infrastructure({&backends_->store(module_name), nullptr, &backends_->cache()});
    module.setup(builder);
    auto built = std::move(builder).build();
    server_ = std::make_unique<http::Server>(*runtime_, std::move(built.router), limits, std::move(built.interceptor));
    port_ = server_->listen("127.0.0.1", 0);
  }

  ~InProcessService() {
    server_->start_drain();
    server_->wait_idle(std::chrono::seconds(2));
    runtime_->stop();
  }

  InProcessService(const InProcessService&) = delete;
  InProcessService& operator=(const InProcessService&) = delete;

  std::uint16_t port() const { return port_; }
  const config::Config& config() const { return config_; }

 private:
  TempDir home_;
  config::Config config_;
  std::unique_ptr<app::Backends> backends_;
  std::unique_ptr<http::Runtime> runtime_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace intercab::testing
