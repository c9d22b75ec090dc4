// Registration of the user service: accounts, login and sessions, profiles, roles, API keys and
// OAuth login, on the service's own database, the process cache and the user.events topic.
#include "services/user/user_module.hpp"

#include <memory>
#include <stdexcept>

#include "platform/service/token_keys.hpp"
#include "services/user/api/oauth_login.hpp"
#include "services/user/api/user_api.hpp"
#include "services/user/store/user_store.hpp"

namespace intercab::embedded {
std::string_view user_openapi_yaml();
}

namespace intercab::services::user {

namespace {

UserApiDependencies api_dependencies(const config::Config& config, const service::Infrastructure& infrastructure) {
  if (infrastructure.store == nullptr || infrastructure.cache == nullptr) {
    throw std::logic_error("the user service needs its database and the cache");
  }
  UserApiDependencies dependencies;
  dependencies.store = infrastructure.store;
  dependencies.cache = infrastructure.cache;
  dependencies.access_keys = service::access_token_keys(config, /*need_signing_key=*/true);
  dependencies.internal_keys = service::internal_token_keys(config);
  dependencies.internal_issuer = service::internal_token_issuer(config);
  dependencies.settings = config.auth;
  return dependencies;
}

}  // namespace

void setup(service::ServiceBuilder& builder) {
  builder.set_openapi_yaml(embedded::user_openapi_yaml());
  const auto* config = builder.environment().config;
  if (config == nullptr) throw std::logic_error("the user service needs the process configuration");
  auto dependencies = api_dependencies(*config, builder.infrastructure());
  dependencies.metrics = &builder.metrics();
  if (!config->auth.oauth_providers.empty()) {
    dependencies.oauth =
        std::make_shared<OAuthLogin>(config->auth.oauth_providers, builder.client(), *builder.infrastructure().cache);
    builder.add_capability("auth.oidc");
  }
  UserApi(std::move(dependencies)).add_routes(builder.router());
  for (const auto* capability : {"auth.password", "auth.jwt", "auth.refresh_rotation", "auth.password_reset",
                                 "auth.api_keys", "users.profile", "users.roles", "users.sessions"}) {
    builder.add_capability(capability);
  }
}

std::span<const db::MigrationFile> migrations() { return store::migrations(); }

std::pair<std::string, bool> create_admin(const config::Config& config, const service::Infrastructure& infrastructure,
                                          const std::string& name, const std::string& email,
                                          const std::string& password) {
  return UserApi(api_dependencies(config, infrastructure)).create_admin(name, email, password);
}

}  // namespace intercab::services::user
