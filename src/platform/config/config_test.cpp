#include "platform/config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace intercab::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::temp_directory_path() / ("intercab-config-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(home_ / "config");
    env_["INTERCAB_HOME"] = home_.string();
  }
  void TearDown() override { std::filesystem::remove_all(home_); }

  void write_file(const std::string& text) { std::ofstream(home_ / "config" / "intercab.yaml") << text; }
  Config load_config() { return load({env_, std::nullopt}); }
  std::string load_error() {
    try {
      load_config();
    } catch (const ConfigError& error) {
      return error.what();
    }
    ADD_FAILURE() << "expected a ConfigError";
    return {};
  }

  std::filesystem::path home_;
  Environment env_;
};

TEST_F(ConfigTest, BuiltInDefaultsDescribeTheWholeSystem) {
  auto config = load_config();
  EXPECT_EQ(config.home, home_);
  EXPECT_EQ(config.services.size(), 10U);
  EXPECT_EQ(config.services.at("gateway").port, 8000);
  EXPECT_EQ(config.services.at("admin").port, 8009);
  EXPECT_EQ(config.services.at("booking").db_connection, "sqlite://" + home_.string() + "/var/booking.db");
  EXPECT_EQ(config.events_url, "mem://");
  EXPECT_EQ(config.http.max_body_bytes, 1048576U);
  EXPECT_GT(config.http.io_threads, 0);
  EXPECT_GT(config.http.worker_threads, 0);
  EXPECT_EQ(config.log_level, "info");
}

TEST_F(ConfigTest, RoutesAreAuthenticatedByDefaultExceptThePublicOnes) {
  auto config = load_config();
  EXPECT_EQ(config.auth.issuer, "intercab");
  EXPECT_EQ(config.auth.audience, "intercab-api");
  EXPECT_TRUE(config.auth.ed25519_key_file.empty());
  std::map<std::string, GatewayRouteSettings> routes;
  for (const auto& route : config.gateway.routes) routes[route.prefix] = route;
  for (const char* prefix : {"/api/v1/auth", "/.well-known/jwks.json", "/api/v1/cities", "/api/v1/quotes"}) {
    EXPECT_EQ(routes.at(prefix).auth, RouteAuth::public_access) << prefix;
  }
  for (const char* prefix : {"/api/v1/users", "/api/v1/bookings", "/api/v1/payments", "/api/v1/admin"}) {
    EXPECT_EQ(routes.at(prefix).auth, RouteAuth::authenticated) << prefix;
  }
  EXPECT_EQ(routes.at("/api/v1/admin").roles, (std::vector<std::string>{"admin", "support"}));
  EXPECT_TRUE(routes.at("/api/v1/bookings").roles.empty());
}

TEST_F(ConfigTest, ReadsAuthSettingsAndRouteAuth) {
  write_file(
      "auth: {issuer: me, audience: my-api, ed25519_key_file: /keys/access.pem}\n"
      "gateway:\n  routes:\n"
      "    - {prefix: /api/v1/auth, service: user, auth: authenticated}\n"
      "    - {prefix: /api/v1/bookings, service: booking, auth: public}\n"
      "    - {prefix: /api/v1/admin, service: admin, roles: [support]}\n");
  auto config = load_config();
  EXPECT_EQ(config.auth.issuer, "me");
  EXPECT_EQ(config.auth.audience, "my-api");
  EXPECT_EQ(config.auth.ed25519_key_file, "/keys/access.pem");
  ASSERT_EQ(config.gateway.routes.size(), 3U);
  EXPECT_EQ(config.gateway.routes[0].auth, RouteAuth::authenticated);
  EXPECT_EQ(config.gateway.routes[1].auth, RouteAuth::public_access);
  EXPECT_EQ(config.gateway.routes[2].auth, RouteAuth::authenticated);
  EXPECT_EQ(config.gateway.routes[2].roles, std::vector<std::string>{"support"});
  EXPECT_THAT(config.describe(), AllOf(HasSubstr("issuer: me"), HasSubstr("auth: public")));
}

TEST_F(ConfigTest, RejectsBadRouteAuthAndUnknownRoles) {
  write_file("gateway:\n  routes:\n    - {prefix: /api/v1/admin, service: admin, roles: [admin, superuser]}\n");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("gateway.routes[0].roles"), HasSubstr("superuser")));
  write_file("gateway:\n  routes:\n    - {prefix: /api/v1/admin, service: admin, auth: maybe}\n");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("gateway.routes[0].auth"), HasSubstr("public or authenticated")));
  write_file("gateway:\n  routes:\n    - {prefix: /api/v1/admin, service: admin, auth: public, roles: [admin]}\n");
  EXPECT_THAT(load_error(), HasSubstr("gateway.routes[0].roles"));
  write_file("auth: {audience: \"\"}\n");
  EXPECT_THAT(load_error(), HasSubstr("auth.audience"));
}

TEST_F(ConfigTest, EnvironmentOverridesFileAndDefaults) {
  write_file("log: {level: warn}\nservices: {user: {port: 9101}}\nhttp: {max_body_bytes: 2048}\n");
  env_["LOG_LEVEL"] = "debug";
  env_["BOOKING_PORT"] = "0";
  env_["DB_CONNECTION"] = "postgresql://intercab@db/intercab_{service}";
  env_["PAYMENT_DB_CONNECTION"] = "sqlite:///tmp/pay.db";
  env_["EVENTS_URL"] = "nats://127.0.0.1:4222";
  env_["SERVICE_NAME"] = "booking";
  env_["SERVICE_PORT"] = "7002";
  auto config = load_config();
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(config.services.at("user").port, 9101);
  EXPECT_EQ(config.services.at("booking").port, 0);
  EXPECT_EQ(config.http.max_body_bytes, 2048U);
  EXPECT_EQ(config.services.at("driver").db_connection, "postgresql://intercab@db/intercab_driver");
  EXPECT_EQ(config.services.at("payment").db_connection, "sqlite:///tmp/pay.db");
  EXPECT_EQ(config.events_url, "nats://127.0.0.1:4222");
  EXPECT_EQ(config.service_name, "booking");
  EXPECT_EQ(config.single_service_port, 7002);
}

TEST_F(ConfigTest, BadPortNamesVariableAndKey) {
  env_["USER_PORT"] = "80a";
  EXPECT_THAT(load_error(),
              AllOf(HasSubstr("USER_PORT"), HasSubstr("services.user.port"), HasSubstr("not an integer")));
  env_["USER_PORT"] = "70000";
  EXPECT_THAT(load_error(), HasSubstr("between 0 and 65535"));
}

TEST_F(ConfigTest, KafkaIsRejectedWithPointerToNats) {
  env_["KAFKA_BROKERS"] = "localhost:9092";
  EXPECT_THAT(load_error(), AllOf(HasSubstr("not supported"), HasSubstr("EVENTS_URL=nats://")));
}

TEST_F(ConfigTest, UnknownKeyIsATypo) {
  write_file("http:\n  max_body_byte: 10\n");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("unknown config key http.max_body_byte"), HasSubstr("intercab.yaml")));
  write_file("services:\n  user: {prot: 1}\n");
  EXPECT_THAT(load_error(), HasSubstr("services.user.prot"));
}

TEST_F(ConfigTest, BadValuesNameTheirKey) {
  write_file("http: {idle_timeout_s: -1}\n");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("http.idle_timeout_s"), HasSubstr("between 1 and 3600")));
  write_file("http: {client: {max_retries: many}}\n");
  EXPECT_THAT(load_error(), HasSubstr("http.client.max_retries"));
  write_file("log: {level: loud}\n");
  EXPECT_THAT(load_error(), HasSubstr("log.level"));
  write_file("http: [1, 2\n");
  EXPECT_THAT(load_error(), HasSubstr("not valid YAML"));
  write_file("- a\n- b\n");
  EXPECT_THAT(load_error(), HasSubstr("top level must be a mapping"));
}

TEST_F(ConfigTest, BadEnvironmentValuesNameTheirVariable) {
  env_["REDIS_URL"] = "memcached://x";
  EXPECT_THAT(load_error(), AllOf(HasSubstr("REDIS_URL"), HasSubstr("redis://")));
  env_.erase("REDIS_URL");
  env_["JWT_SECRET"] = "short";
  EXPECT_THAT(load_error(), AllOf(HasSubstr("JWT_SECRET"), HasSubstr("at least 32 bytes")));
  env_.erase("JWT_SECRET");
  env_["SERVICE_NAME"] = "bookings";
  EXPECT_THAT(load_error(), HasSubstr("SERVICE_NAME='bookings'"));
  env_.erase("SERVICE_NAME");
  env_["LOG_LEVEL"] = "trace";
  EXPECT_THAT(load_error(), HasSubstr("LOG_LEVEL"));
}

TEST_F(ConfigTest, DescribeMasksSecrets) {
  env_["JWT_SECRET"] = std::string(40, 'k');
  auto text = load_config().describe();
  EXPECT_EQ(text.find(std::string(40, 'k')), std::string::npos);
  EXPECT_THAT(text, HasSubstr("jwt_secret: \"********\""));
  EXPECT_THAT(text, HasSubstr("booking:"));
}

TEST_F(ConfigTest, AuthDefaultsAreProductionGradeAndTestsLowerHashingByEnvironment) {
  auto config = load_config();
  EXPECT_EQ(config.auth.access_token_lifetime_s, 900);
  EXPECT_EQ(config.auth.refresh_token_lifetime_days, 30);
  EXPECT_EQ(config.auth.password_ops_limit, 2U);
  EXPECT_EQ(config.auth.password_mem_limit_kib, 65536U);
  EXPECT_EQ(config.auth.login_max_failures_per_account, 5);
  EXPECT_EQ(config.auth.verification_code_ttl_s, 600);
  EXPECT_TRUE(config.auth.oauth_providers.empty());  // presets without a client id are not offered
  env_["AUTH_PASSWORD_OPS_LIMIT"] = "1";
  env_["AUTH_PASSWORD_MEM_KIB"] = "8";
  config = load_config();
  EXPECT_EQ(config.auth.password_ops_limit, 1U);
  EXPECT_EQ(config.auth.password_mem_limit_kib, 8U);
  env_["AUTH_PASSWORD_MEM_KIB"] = "4";
  EXPECT_THAT(load_error(), HasSubstr("AUTH_PASSWORD_MEM_KIB"));
}

TEST_F(ConfigTest, InternalSecretMustDifferFromTheUserTokenSecret) {
  env_["JWT_SECRET"] = std::string(40, 'k');
  env_["INTERNAL_JWT_SECRET"] = std::string(40, 'k');
  EXPECT_THAT(load_error(), AllOf(HasSubstr("INTERNAL_JWT_SECRET"), HasSubstr("must differ")));
  env_["INTERNAL_JWT_SECRET"] = std::string(40, 'i');
  EXPECT_EQ(load_config().auth.internal_jwt_secret, std::string(40, 'i'));
}

TEST_F(ConfigTest, OAuthProvidersAreOfferedOnceConfiguredAndCheckedForCompleteness) {
  env_["OAUTH_GOOGLE_CLIENT_ID"] = "123.apps.googleusercontent.com";
  EXPECT_THAT(load_error(), AllOf(HasSubstr("auth.oauth.providers.google.redirect_uri"), HasSubstr("callback")));
  env_["OAUTH_GOOGLE_REDIRECT_URI"] = "https://cabs.example.in/api/v1/auth/oauth/google/callback";
  env_["OAUTH_GOOGLE_CLIENT_SECRET"] = "google-secret";
  auto config = load_config();
  ASSERT_EQ(config.auth.oauth_providers.size(), 1U);
  EXPECT_EQ(config.auth.oauth_providers[0].name, "google");
  EXPECT_EQ(config.auth.oauth_providers[0].issuer, "https://accounts.google.com");
  EXPECT_EQ(config.auth.oauth_providers[0].client_secret, "google-secret");
  EXPECT_EQ(config.describe().find("google-secret"), std::string::npos);
  write_file(
      "auth:\n  oauth:\n    providers:\n      local:\n        issuer: http://127.0.0.1:9\n"
      "        client_id: c\n        redirect_uri: http://x/cb\n        scopes: [email]\n");
  EXPECT_THAT(load_error(), HasSubstr("must include openid"));
  write_file("auth:\n  oauth:\n    providers:\n      local:\n        isuer: http://127.0.0.1:9\n");
  EXPECT_THAT(load_error(), HasSubstr("auth.oauth.providers.local.isuer"));
}

TEST_F(ConfigTest, DescribeMasksPasswordsInUrls) {
  env_["DB_CONNECTION"] = "postgresql://app:s3cret-pw@db:5432/intercab_{service}";
  env_["REDIS_URL"] = "redis://:redis-pw@cache:6379/0";
  env_["EVENTS_URL"] = "nats://bus:nats-pw@nats:4222";
  auto text = load_config().describe();
  for (const char* secret : {"s3cret-pw", "redis-pw", "nats-pw"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked:\n" << text;
  }
  EXPECT_THAT(text, HasSubstr("postgresql://app:********@db:5432/intercab_booking"));
  EXPECT_THAT(text, HasSubstr("redis://:********@cache:6379/0"));
}

TEST_F(ConfigTest, StorageAndEventSettingsAreReadAndChecked) {
  auto config = load_config();
  EXPECT_EQ(config.storage.pool_size, 4);
  EXPECT_EQ(config.events.max_deliveries, 5);
  EXPECT_EQ(config.events.retention_days, 7);
  write_file("storage: {pool_size: 8}\nevents: {max_deliveries: 9, relay_poll_ms: 50}\n");
  config = load_config();
  EXPECT_EQ(config.storage.pool_size, 8);
  EXPECT_EQ(config.events.max_deliveries, 9);
  EXPECT_EQ(config.events.relay_poll_ms, 50);
  write_file("events: {max_deliveries: 0}\n");
  EXPECT_THAT(load_error(), HasSubstr("events.max_deliveries"));
  write_file("events: {max_delivery: 3}\n");
  EXPECT_THAT(load_error(), HasSubstr("events.max_delivery"));
}

TEST_F(ConfigTest, GatewayRoutesAndPoliciesComeFromConfig) {
  auto config = load_config();
  const auto& gateway = config.gateway;
  ASSERT_GE(gateway.routes.size(), 20U);
  auto find = [&](const std::string& prefix) {
    for (const auto& route : gateway.routes) {
      if (route.prefix == prefix) return route;
    }
    ADD_FAILURE() << "no route " << prefix;
    return GatewayRouteSettings{};
  };
  EXPECT_EQ(find("/.well-known/jwks.json").service, "user");
  EXPECT_EQ(find("/api/v1/bookings").service, "booking");
  EXPECT_TRUE(find("/api/v1/notifications/stream").streaming);
  EXPECT_EQ(find("/api/v1/admin").timeout_s, 60);
  EXPECT_EQ(find("/api/v1/quotes").timeout_s, 30);
  EXPECT_EQ(gateway.load_balancing, "round_robin");
  EXPECT_FALSE(gateway.cors.allowed_origins.empty());
  EXPECT_EQ(gateway.rate_limit.burst, 40);
}

TEST_F(ConfigTest, GatewayEnvironmentOverrides) {
  env_["BOOKING_UPSTREAMS"] = "http://10.0.0.1:8002, http://10.0.0.2:8002";
  env_["GATEWAY_CORS_ORIGINS"] = "https://app.intercab.in";
  env_["GATEWAY_RATE_LIMIT_PER_S"] = "2.5";
  env_["GATEWAY_RATE_LIMIT_BURST"] = "5";
  auto config = load_config();
  EXPECT_EQ(config.gateway.upstreams.at("booking"),
            (std::vector<std::string>{"http://10.0.0.1:8002", "http://10.0.0.2:8002"}));
  EXPECT_EQ(config.gateway.cors.allowed_origins, std::vector<std::string>{"https://app.intercab.in"});
  EXPECT_DOUBLE_EQ(config.gateway.rate_limit.requests_per_s, 2.5);
  EXPECT_EQ(config.gateway.rate_limit.burst, 5);
  env_["BOOKING_UPSTREAMS"] = "ftp://x";
  EXPECT_THAT(load_error(), HasSubstr("BOOKING_UPSTREAMS"));
}

TEST_F(ConfigTest, BadGatewayEntriesNameTheirKey) {
  write_file("gateway:\n  routes:\n    - {prefix: /x, service: nowhere}\n");
  EXPECT_THAT(load_error(), HasSubstr("gateway.routes[0].service"));
  write_file("gateway:\n  routes:\n    - {prefix: /x, service: user, timeout: 5}\n");
  EXPECT_THAT(load_error(), HasSubstr("gateway.routes[0].timeout"));
  write_file("gateway:\n  load_balancing: random\n");
  EXPECT_THAT(load_error(), HasSubstr("gateway.load_balancing"));
  write_file("gateway:\n  cors: {allowed_origins: https://x}\n");
  EXPECT_THAT(load_error(), HasSubstr("gateway.cors.allowed_origins"));
  write_file("gateway:\n  upstreams: {booking: [\"http://a:1\"], bogus: []}\n");
  EXPECT_THAT(load_error(), HasSubstr("gateway.upstreams.bogus"));
}

TEST_F(ConfigTest, ExplicitMissingConfigFileIsAnError) { EXPECT_THROW(load({env_, home_ / "nope.yaml"}), ConfigError); }

}  // namespace
}  // namespace intercab::config
