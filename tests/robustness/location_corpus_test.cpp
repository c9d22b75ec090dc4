// The location service against hostile input: every JSONTestSuite body on each JSON endpoint (n_ ->
// 400, y_ -> refused as invalid, i_ -> never a 5xx, always problem+json), and every Big List of
// Naughty Strings entry as the text of an autocomplete, geocoding or reverse-geocoding query
// (never a 5xx; a 200 is a well-formed list). The service then still serves.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
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

class LocationCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { service_ = new testing::InProcessService("location", http::ServerLimits{}); }
  static void TearDownTestSuite() {
    delete service_;
    service_ = nullptr;
  }
  static inline testing::InProcessService* service_ = nullptr;
};

TEST_F(LocationCorpus, EveryJsonEndpointAnswersEveryCorpusBodyAsItsPrefixDemands) {
  const auto& config = service_->config();
  auto access_keys = std::make_shared<const auth::KeySet>(auth::SigningKey::hs256(config.jwt_secret));
  const auth::AccessTokenIssuer issuer(access_keys, {config.auth.issuer, config.auth.audience});
  const auto driver = issuer.issue({"0190f5a4-7c1e-7d2a-9b3c-1234567890ab", "test", {"driver"}, true}).token;
  const auto rider = issuer.issue({"0190f5a4-7c1e-7d2a-9b3c-1234567890ac", "test", {"rider"}, true}).token;
  const std::vector<Endpoint> endpoints = {
      {"POST", "/api/v1/routes", ""},
      {"POST", "/api/v1/routes/matrix", rider},
      {"POST", "/api/v1/locations", driver},
  };
  const auto corpus =
      std::filesystem::path(testing::required_env("INTERCAB_SOURCE_DIR")) / "tests/corpora/json_test_parsing";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 300U) << corpus;
  for (const auto& endpoint : endpoints) {
    SCOPED_TRACE(endpoint.method + " " + endpoint.path);
    for (const auto& file : files) {
      const auto name = file.filename().string();
      std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
      if (!endpoint.token.empty()) headers["Authorization"] = "Bearer " + endpoint.token;
      const auto response =
          testing::request(service_->port(), endpoint.method, endpoint.path, read_bytes(file), headers);
      ASSERT_TRUE(response) << name << ": no answer";
      EXPECT_LT(response->status, 500) << name << ": " << response->body;
      EXPECT_EQ(response->header("content-type").rfind("application/problem+json", 0), 0U)
          << name << " answered " << response->status << " " << response->body;
      if (name.rfind("n_", 0) == 0) {
        EXPECT_EQ(response->status, 400) << name << ": " << response->body;
      } else if (name.rfind("y_", 0) == 0) {
        EXPECT_EQ(response->status, 422) << name << ": " << response->body;
      }
    }
  }
}

TEST_F(LocationCorpus, NaughtyStringsInQueriesNeverBreakTheService) {
  const auto file =
      std::filesystem::path(testing::required_env("INTERCAB_SOURCE_DIR")) / "tests/corpora/blns/blns.json";
  const auto strings = boost::json::parse(read_bytes(file)).as_array();
  ASSERT_GT(strings.size(), 400U);
  std::vector<std::string> targets;
  for (const auto& value : strings) {
    const auto encoded = boost::urls::encode(value.as_string(), boost::urls::unreserved_chars);
    targets.push_back("/api/v1/cities?q=" + encoded);
    targets.push_back("/api/v1/cities?state=" + encoded);
    targets.push_back("/api/v1/geocode?q=" + encoded);
    targets.push_back("/api/v1/geocode/reverse?lat=" + encoded + "&lon=77");
    targets.push_back("/api/v1/cities/" + encoded);
  }
  for (const auto& target : targets) {
    const auto response = testing::request(service_->port(), "GET", target);
    ASSERT_TRUE(response) << target << ": no answer";
    EXPECT_LT(response->status, 500) << target << ": " << response->body;
    if (response->status == 200) {
      const auto body = boost::json::parse(response->body).as_object();
      EXPECT_TRUE(body.contains("items") || body.contains("id") || body.contains("state_code")) << target;
    } else {
      EXPECT_EQ(response->header("content-type").rfind("application/problem+json", 0), 0U) << target;
    }
  }
  auto health = testing::request(service_->port(), "GET", "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace intercab
