#include "platform/service/service.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "raw_http.hpp"

namespace intercab::service {
namespace {

using ::testing::HasSubstr;

class ServiceTest : public ::testing::Test {
 protected:
  void start(const std::function<void(ServiceBuilder&)>& setup) {
    runtime_ = std::make_unique<http::Runtime>(1, 2);
    client_ = std::make_unique<http::Client>(*runtime_, http::ClientOptions{});
    ServiceBuilder builder("booking", BuildInfo{"0.1.0", "abc1234", "Debug", "2026-11-24T18:00:00Z"}, *client_);
    setup(builder);
    auto built = std::move(builder).build();
    server_ = std::make_unique<http::Server>(*runtime_, std::move(built.router), http::ServerLimits{},
                                             std::move(built.interceptor));
    port_ = server_->listen("127.0.0.1", 0);
  }
  void TearDown() override {
    server_->start_drain();
    server_->wait_idle(std::chrono::seconds(2));
    runtime_->stop();
  }
  testing::RawResponse get(const std::string& target) { return *testing::request(port_, "GET", target); }

  std::unique_ptr<http::Runtime> runtime_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(ServiceTest, CommonEndpointsHaveTheAgreedShapes) {
  start([](ServiceBuilder& builder) { builder.add_capability("booking.quotes"); });
  EXPECT_EQ(get("/health").body, R"({"status":"ok"})");
  auto ready = boost::json::parse(get("/ready").body).as_object();
  EXPECT_EQ(ready.at("status").as_string(), "ready");
  EXPECT_TRUE(ready.at("checks").is_object());
  auto version = boost::json::parse(get("/version").body).as_object();
  EXPECT_EQ(version.at("service").as_string(), "booking");
  EXPECT_EQ(version.at("git_sha").as_string(), "abc1234");
  auto capabilities = version.at("capabilities").as_array();
  EXPECT_NE(std::find(capabilities.begin(), capabilities.end(), boost::json::value("booking.quotes")),
            capabilities.end());
  auto metrics = get("/metrics");
  EXPECT_THAT(metrics.header("content-type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(metrics.body, HasSubstr("http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("process_resident_memory_bytes"));
}

TEST_F(ServiceTest, FailingCheckMakesReadyAnswer503WithItsMessage) {
  start([](ServiceBuilder& builder) {
    builder.add_readiness_check("db", [] { return std::optional<std::string>("database file is read-only"); });
    builder.add_readiness_check("cache", [] { return std::optional<std::string>(); });
  });
  auto response = get("/ready");
  EXPECT_EQ(response.status, 503);
  auto body = boost::json::parse(response.body).as_object();
  EXPECT_EQ(body.at("status").as_string(), "not_ready");
  EXPECT_EQ(body.at("checks").at("db").as_string(), "database file is read-only");
  EXPECT_EQ(body.at("checks").at("cache").as_string(), "ok");
}

TEST_F(ServiceTest, UnreachableDependencyFailsReadiness) {
  start([](ServiceBuilder& builder) { builder.add_dependency("user", "http://127.0.0.1:1"); });
  auto response = get("/ready");
  EXPECT_EQ(response.status, 503);
  EXPECT_THAT(response.body, HasSubstr("dependency.user"));
  EXPECT_THAT(response.body, HasSubstr("http://127.0.0.1:1/health"));
}

TEST_F(ServiceTest, OpenApiMergesServicePathsWithCommonOnes) {
  start([](ServiceBuilder& builder) {
    builder.set_openapi_yaml(
        "openapi: \"3.1.0\"\ninfo: {title: Booking, version: \"0.1.0\"}\npaths:\n  /api/v1/bookings:\n    get: "
        "{operationId: listBookings, responses: {\"200\": {description: ok}}}\n");
  });
  auto document = boost::json::parse(get("/openapi.json").body).as_object();
  EXPECT_EQ(document.at("openapi").as_string(), "3.1.0");
  EXPECT_EQ(document.at("info").at("title").as_string(), "Booking");
  auto& paths = document.at("paths").as_object();
  EXPECT_TRUE(paths.contains("/api/v1/bookings"));
  EXPECT_TRUE(paths.contains("/health"));
  EXPECT_TRUE(paths.contains("/ready"));
  EXPECT_TRUE(document.at("components").at("schemas").as_object().contains("Problem"));
  EXPECT_TRUE(paths.at("/health").at("get").at("responses").as_object().contains("200"));  // quoted key kept
}

TEST_F(ServiceTest, EveryRequestIsCountedByRouteTemplate) {
  start([](ServiceBuilder& builder) {
    builder.router().add("GET", "/api/v1/bookings/{id}",
                         [](http::Request& r) { return http::Response::text(r.param("id"), "text/plain"); });
  });
  get("/api/v1/bookings/b1");
  get("/api/v1/bookings/b2");
  get("/missing");
  auto text = get("/metrics").body;
  EXPECT_THAT(text, HasSubstr("route=\"/api/v1/bookings/{id}\",status=\"200\"} 2"));
  EXPECT_THAT(text, HasSubstr("route=\"(unmatched)\",status=\"404\"} 1"));
  EXPECT_THAT(text, HasSubstr("http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/bookings/{id}\""));
}

}  // namespace
}  // namespace intercab::service
