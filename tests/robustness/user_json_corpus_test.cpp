// Every JSON endpoint of the user service against the JSONTestSuite bodies of
// tests/corpora/json_test_parsing: n_ files are 400 problems, y_ files parse and are then refused
// as invalid (422) or unauthorised (401/403/404), i_ files never get a 5xx. Authenticated endpoints
// get a valid token, so that the body is what is judged. The service then still serves.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "in_process_service.hpp"
#include "platform/auth/jwt.hpp"
#include "platform/auth/keys.hpp"
#include "process.hpp"
#include "raw_http.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;

struct Endpoint {
  std::string method;
  std::string path;
  std::string token;  // empty: public
};

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST(UserJsonCorpus, EveryEndpointAnswersEveryCorpusBodyAsItsPrefixDemands) {
  http::ServerLimits limits;
  testing::InProcessService service("user", limits);
  const auto& config = service.config();

  auto access_keys = std::make_shared<const auth::KeySet>(auth::SigningKey::hs256(config.jwt_secret));
  const auth::AccessTokenIssuer issuer(access_keys, {config.auth.issuer, config.auth.audience});
  const auto rider = issuer.issue({"0190f5a4-7c1e-7d2a-9b3c-1234567890ab", "test", {"rider"}, true}).token;
  const auto admin = issuer.issue({"0190f5a4-7c1e-7d2a-9b3c-1234567890ac", "test", {"admin"}, true}).token;
  auto internal_keys = std::make_shared<const auth::KeySet>(auth::SigningKey::hs256(config.auth.internal_jwt_secret));
  auth::ServiceTokenIssuer services(internal_keys, {config.auth.issuer + "-internal", "gateway"});
  const auto service_token = services.token_for("user");

  const std::vector<Endpoint> endpoints = {
      {"POST", "/api/v1/auth/register", ""},
      {"POST", "/api/v1/auth/login", ""},
      {"POST", "/api/v1/auth/refresh", ""},
      {"POST", "/api/v1/auth/logout", ""},
      {"POST", "/api/v1/auth/password/forgot", ""},
      {"POST", "/api/v1/auth/password/reset", ""},
      {"POST", "/api/v1/auth/verify", rider},
      {"POST", "/api/v1/auth/verify/resend", rider},
      {"PATCH", "/api/v1/users/me", rider},
      {"POST", "/api/v1/users/me/password", rider},
      {"PUT", "/api/v1/users/0190f5a4-7c1e-7d2a-9b3c-1234567890ab/roles", admin},
      {"POST", "/api/v1/api-keys", admin},
      {"POST", "/internal/v1/api-keys/exchange", service_token},
  };

  const auto corpus =
      std::filesystem::path(testing::required_env("INTERCAB_SOURCE_DIR")) / "tests/corpora/json_test_parsing";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 300U) << corpus;

  int requests = 0;
  for (const auto& endpoint : endpoints) {
    SCOPED_TRACE(endpoint.method + " " + endpoint.path);
    for (const auto& file : files) {
      const auto name = file.filename().string();
      std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
      if (!endpoint.token.empty()) headers["Authorization"] = "Bearer " + endpoint.token;
      const auto response = testing::request(service.port(), endpoint.method, endpoint.path, read_bytes(file), headers);
      ++requests;
      ASSERT_TRUE(response) << name << ": no answer";
      EXPECT_LT(response->status, 500) << name << ": " << response->body;
      EXPECT_EQ(response->header("content-type").rfind("application/problem+json", 0), 0U)
          << name << " answered " << response->status << " " << response->body;
      if (name.rfind("n_", 0) == 0) {
        EXPECT_EQ(response->status, 400) << name << ": " << response->body;
      } else if (name.rfind("y_", 0) == 0) {
        EXPECT_NE(response->status, 400) << name << " is valid JSON: " << response->body;
        EXPECT_TRUE(response->status == 401 || response->status == 403 || response->status == 404 ||
                    response->status == 422)
            << name << ": " << response->status << " " << response->body;
      }
    }
  }
  std::cout << requests << " requests, " << files.size() << " corpus files x " << endpoints.size() << " endpoints\n";
  auto health = testing::request(service.port(), "GET", "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace intercab
