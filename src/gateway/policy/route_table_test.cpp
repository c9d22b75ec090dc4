// Tests of the gateway route table: validation, segment-boundary matching, the default routes.
#include "gateway/policy/route_table.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace intercab::gateway {
namespace {

using namespace std::chrono_literals;

std::string service_of(const RouteTable& table, std::string_view path) {
  const auto* route = table.match(path);
  return route ? route->service : "<none>";
}

TEST(RouteTable, MatchesOnSegmentBoundaries) {
  RouteTable table(std::vector<GatewayRoute>{{.prefix = "/api/v1/users", .service = "user"}});
  EXPECT_EQ(service_of(table, "/api/v1/users"), "user");
  EXPECT_EQ(service_of(table, "/api/v1/users/"), "user");
  EXPECT_EQ(service_of(table, "/api/v1/users/me"), "user");
  EXPECT_EQ(service_of(table, "/api/v1/usersx"), "<none>");
  EXPECT_EQ(service_of(table, "/api/v1/user"), "<none>");
  EXPECT_EQ(service_of(table, "/api/v1"), "<none>");
  EXPECT_EQ(service_of(table, ""), "<none>");
  EXPECT_EQ(service_of(table, "api/v1/users"), "<none>");
}

TEST(RouteTable, LongestPrefixWinsWhateverTheOrder) {
  RouteTable table(std::vector<GatewayRoute>{{.prefix = "/api/v1/notifications", .service = "notification"},
                                             {.prefix = "/", .service = "web"},
                                             {.prefix = "/api/v1/notifications/stream", .service = "stream"}});
  EXPECT_EQ(service_of(table, "/api/v1/notifications/stream"), "stream");
  EXPECT_EQ(service_of(table, "/api/v1/notifications/stream/x"), "stream");
  EXPECT_EQ(service_of(table, "/api/v1/notifications/streams"), "notification");
  EXPECT_EQ(service_of(table, "/api/v1/notifications/n1"), "notification");
  EXPECT_EQ(service_of(table, "/index.html"), "web");
  EXPECT_EQ(service_of(table, "/"), "web");
}

TEST(RouteTable, DotSegmentsMatchNothing) {
  RouteTable table(
      std::vector<GatewayRoute>{{.prefix = "/api/v1/users", .service = "user"}, {.prefix = "/", .service = "web"}});
  EXPECT_EQ(service_of(table, "/api/v1/users/../admin"), "<none>");
  EXPECT_EQ(service_of(table, "/api/v1/users/./me"), "<none>");
  EXPECT_EQ(service_of(table, "/api/v1/users/.."), "<none>");
  EXPECT_EQ(service_of(table, "/api/v1/users/..x"), "user");
  EXPECT_EQ(service_of(table, "/api/v1/users/.well"), "user");
}

TEST(RouteTable, RejectsInvalidRoutesNamingThem) {
  auto message_for = [](std::vector<GatewayRoute> routes) -> std::string {
    try {
      RouteTable table(std::move(routes));
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "<accepted>";
  };
  EXPECT_NE(message_for({{.prefix = "api/v1/x", .service = "x"}}).find("\"api/v1/x\""), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "", .service = "x"}}).find("must start with '/'"), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "/api/v1/x/", .service = "x"}}).find("\"/api/v1/x/\""), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "/api//x", .service = "x"}}).find("empty segment"), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "/api/../x", .service = "x"}}).find("\"..\""), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "/api?x=1", .service = "x"}}).find("plain path"), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "/api/v1/x", .service = ""}}).find("service name is empty"), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "/api/v1/x", .service = "x", .timeout = 0ms}}).find("timeout"), std::string::npos);
  EXPECT_NE(message_for({{.prefix = "/api/v1/x", .service = "x", .idle_timeout = -1ms}}).find("idle_timeout"),
            std::string::npos);
  const auto duplicate =
      message_for({{.prefix = "/api/v1/x", .service = "a"}, {.prefix = "/api/v1/x", .service = "b"}});
  EXPECT_NE(duplicate.find("\"/api/v1/x\" -> \"b\""), std::string::npos) << duplicate;
  EXPECT_NE(duplicate.find("twice"), std::string::npos);
  EXPECT_EQ(message_for({{.prefix = "/", .service = "web"}}), "<accepted>");
}

TEST(RouteTable, DefaultTableRoutesEveryPrefixOfTheIssue) {
  const auto table = default_route_table();
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"/api/v1/auth/login", "user"},
      {"/api/v1/users/me", "user"},
      {"/.well-known/jwks.json", "user"},
      {"/api/v1/quotes", "booking"},
      {"/api/v1/bookings/bkg_1/cancel", "booking"},
      {"/api/v1/cities/attribution", "location"},
      {"/api/v1/geocode", "location"},
      {"/api/v1/routes", "location"},
      {"/api/v1/locations/l1", "location"},
      {"/api/v1/drivers/me", "driver"},
      {"/api/v1/vehicles", "driver"},
      {"/api/v1/payments/p1", "payment"},
      {"/api/v1/wallets/me", "payment"},
      {"/api/v1/refunds", "payment"},
      {"/api/v1/invoices/i1", "payment"},
      {"/api/v1/notifications", "notification"},
      {"/api/v1/notifications/stream", "notification"},
      {"/api/v1/ai/chat", "ai"},
      {"/api/v1/analytics/reports", "analytics"},
      {"/api/v1/admin/flags", "admin"},
  };
  for (const auto& [path, service] : expected) EXPECT_EQ(service_of(table, path), service) << path;
  EXPECT_EQ(table.routes().size(), 21U);
  EXPECT_EQ(service_of(table, "/.well-known/jwks.jsonx"), "<none>");
  EXPECT_EQ(service_of(table, "/.well-known/openid-configuration"), "<none>");
  EXPECT_EQ(service_of(table, "/internal/v1/users"), "<none>");
  EXPECT_EQ(service_of(table, "/api/v1/aix"), "<none>");
  EXPECT_EQ(service_of(table, "/api/v2/users"), "<none>");
}

TEST(RouteTable, DefaultTimeoutsAndTheStreamingRoute) {
  const auto table = default_route_table();
  const auto* bookings = table.match("/api/v1/bookings");
  ASSERT_NE(bookings, nullptr);
  EXPECT_FALSE(bookings->streaming);
  EXPECT_EQ(bookings->timeout, 30s);
  EXPECT_EQ(bookings->idle_timeout, 300s);
  const auto* stream = table.match("/api/v1/notifications/stream");
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->streaming);
  EXPECT_EQ(stream->idle_timeout, 300s);
  EXPECT_FALSE(table.match("/api/v1/notifications/n1")->streaming);
}

}  // namespace
}  // namespace intercab::gateway
