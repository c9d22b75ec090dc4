// Tests of the CORS policy: allowed and refused origins, methods and headers; wildcard; credentials.
#include "gateway/policy/cors.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace intercab::gateway {
namespace {

CorsSettings app_settings() {
  return {.allowed_origins = {"https://app.example.com", "http://localhost:5173"},
          .allowed_methods = {"GET", "POST", "PATCH", "DELETE"},
          .allowed_headers = {"Authorization", "Content-Type", "Idempotency-Key", "If-Match"},
          .exposed_headers = {"X-Request-Id", "RateLimit-Remaining", "Retry-After"},
          .max_age_s = 600,
          .allow_credentials = true};
}

http::Headers preflight_request(std::string origin, std::string method, std::string requested_headers = {}) {
  http::Headers headers;
  headers.add("Origin", std::move(origin));
  headers.add("Access-Control-Request-Method", std::move(method));
  if (!requested_headers.empty()) headers.add("Access-Control-Request-Headers", std::move(requested_headers));
  return headers;
}

std::string header(const HeaderList& headers, std::string_view name) {
  for (const auto& [field, value] : headers) {
    if (http::iequals(field, name)) return value;
  }
  return "<absent>";
}

// The field lines an actual response to a request from `origin` gets.
std::string response_headers(const CorsPolicy& policy, std::string_view origin) {
  http::FieldLines fields;
  policy.add_response_headers(origin, fields);
  return fields.text();
}

TEST(Cors, RecognisesPreflights) {
  const auto request = preflight_request("https://app.example.com", "POST");
  EXPECT_TRUE(CorsPolicy::is_preflight("OPTIONS", request));
  EXPECT_FALSE(CorsPolicy::is_preflight("POST", request));
  http::Headers plain_options;
  plain_options.add("Origin", "https://app.example.com");
  EXPECT_FALSE(CorsPolicy::is_preflight("OPTIONS", plain_options));
  http::Headers lower_case;
  lower_case.add("origin", "https://app.example.com");
  lower_case.add("access-control-request-method", "GET");
  EXPECT_TRUE(CorsPolicy::is_preflight("OPTIONS", lower_case));
}

TEST(Cors, AllowedPreflightCarriesTheFullHeaderSet) {
  CorsPolicy policy(app_settings());
  const auto result =
      policy.preflight(preflight_request("https://app.example.com", "PATCH", "content-type, authorization"));
  ASSERT_TRUE(result.allowed) << result.refusal;
  EXPECT_EQ(result.refusal, "");
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Methods"), "GET, POST, PATCH, DELETE");
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Headers"), "Content-Type, Authorization");
  EXPECT_EQ(header(result.headers, "Access-Control-Max-Age"), "600");
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(header(result.headers, "Vary"), "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
}

TEST(Cors, PreflightWithoutRequestedHeadersOmitsAllowHeaders) {
  CorsPolicy policy(app_settings());
  const auto result = policy.preflight(preflight_request("http://localhost:5173", "DELETE"));
  ASSERT_TRUE(result.allowed);
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Origin"), "http://localhost:5173");
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Headers"), "<absent>");
}

TEST(Cors, RequestedHeadersAcrossFieldsWithOddSpacingAndCase) {
  CorsPolicy policy(app_settings());
  auto request = preflight_request("https://app.example.com", "POST", " IDEMPOTENCY-KEY ,,\tcontent-type");
  request.add("Access-Control-Request-Headers", "if-match, Content-Type");
  const auto result = policy.preflight(request);
  ASSERT_TRUE(result.allowed) << result.refusal;
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Headers"), "Idempotency-Key, Content-Type, If-Match");
}

TEST(Cors, OriginsCompareWithoutCaseButNotByPrefixOrSuffix) {
  CorsPolicy policy(app_settings());
  EXPECT_TRUE(policy.origin_allowed("https://APP.example.com"));
  EXPECT_FALSE(policy.origin_allowed("https://app.example.com.evil.example"));
  EXPECT_FALSE(policy.origin_allowed("https://evilapp.example.com"));
  EXPECT_FALSE(policy.origin_allowed("http://app.example.com"));
  EXPECT_FALSE(policy.origin_allowed("https://app.example.com:8443"));
  EXPECT_FALSE(policy.origin_allowed("null"));
  EXPECT_FALSE(policy.origin_allowed(""));
}

TEST(Cors, RefusesOriginMethodAndHeaderWithReasons) {
  CorsPolicy policy(app_settings());
  const std::string vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

  auto result = policy.preflight(preflight_request("https://evil.example", "GET"));
  EXPECT_FALSE(result.allowed);
  EXPECT_EQ(result.refusal, "origin https://evil.example is not allowed");
  EXPECT_EQ(result.headers, (HeaderList{{"Vary", vary}}));

  result = policy.preflight(preflight_request("https://app.example.com", "PUT"));
  EXPECT_FALSE(result.allowed);
  EXPECT_EQ(result.refusal, "method PUT is not allowed");
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Origin"), "<absent>");

  result = policy.preflight(preflight_request("https://app.example.com", "post"));
  EXPECT_FALSE(result.allowed) << "methods are case-sensitive";

  result = policy.preflight(preflight_request("https://app.example.com", "POST", "content-type, x-user-id"));
  EXPECT_FALSE(result.allowed);
  EXPECT_EQ(result.refusal, "header x-user-id is not allowed");
  EXPECT_EQ(result.headers, (HeaderList{{"Vary", vary}}));
}

TEST(Cors, RefusesMalformedPreflights) {
  CorsPolicy policy(app_settings());
  auto two_origins = preflight_request("https://app.example.com", "GET");
  two_origins.add("Origin", "https://evil.example");
  EXPECT_FALSE(policy.preflight(two_origins).allowed);

  http::Headers no_method;
  no_method.add("Origin", "https://app.example.com");
  const auto result = policy.preflight(no_method);
  EXPECT_FALSE(result.allowed);
  EXPECT_EQ(result.refusal, "a preflight must carry Access-Control-Request-Method");

  EXPECT_FALSE(policy.preflight(preflight_request("https://app.example.com\r\nX-Evil: 1", "GET")).allowed);
}

TEST(Cors, ActualResponsesGetHeadersOnlyForAllowedOrigins) {
  CorsPolicy policy(app_settings());
  EXPECT_EQ(response_headers(policy, "https://app.example.com"),
            "Access-Control-Allow-Origin: https://app.example.com\r\n"
            "Access-Control-Allow-Credentials: true\r\n"
            "Access-Control-Expose-Headers: X-Request-Id, RateLimit-Remaining, Retry-After\r\n"
            "Vary: Origin\r\n");
  EXPECT_EQ(response_headers(policy, "https://evil.example"), "Vary: Origin\r\n");
  EXPECT_EQ(response_headers(policy, ""), "Vary: Origin\r\n");
  // Origins compare case-insensitively (scheme and host are); the one echoed is as configured or sent.
  EXPECT_EQ(response_headers(policy, "HTTPS://APP.EXAMPLE.COM").rfind("Access-Control-Allow-Origin: ", 0), 0U);
}

TEST(Cors, WildcardAllowsAnyOriginWithoutCredentials) {
  CorsPolicy policy({.allowed_origins = {"*"}, .allowed_methods = {"GET"}, .allowed_headers = {}, .max_age_s = 0});
  EXPECT_TRUE(policy.origin_allowed("https://anything.example"));
  const auto result = policy.preflight(preflight_request("https://anything.example", "GET"));
  ASSERT_TRUE(result.allowed);
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(header(result.headers, "Access-Control-Allow-Credentials"), "<absent>");
  EXPECT_EQ(header(result.headers, "Access-Control-Max-Age"), "<absent>");
  EXPECT_FALSE(policy.preflight(preflight_request("https://anything.example", "GET", "authorization")).allowed);
  // "*" is answered literally, so a hostile Origin value is never echoed.
  EXPECT_EQ(response_headers(policy, "https://x.example\r\nSet-Cookie: a=b"),
            "Access-Control-Allow-Origin: *\r\nVary: Origin\r\n");
}

TEST(Cors, DisabledWhenNoOriginIsConfigured) {
  CorsPolicy policy({});
  EXPECT_FALSE(policy.preflight(preflight_request("https://app.example.com", "GET")).allowed);
  EXPECT_EQ(response_headers(policy, "https://app.example.com"), "");
}

TEST(Cors, RejectsUnsafeOrMistakenSettings) {
  auto settings = app_settings();
  settings.allowed_origins = {"*"};
  EXPECT_THROW(CorsPolicy{settings}, std::invalid_argument);  // "*" with credentials

  for (const std::string origin : {"null", "https://app.example.com/", "app.example.com", "https://", "https://a b",
                                   "https://app.example.com/path"}) {
    settings = app_settings();
    settings.allowed_origins = {origin};
    EXPECT_THROW(CorsPolicy{settings}, std::invalid_argument) << origin;
  }
  settings = app_settings();
  settings.allowed_headers = {"*"};
  EXPECT_THROW(CorsPolicy{settings}, std::invalid_argument);
  settings = app_settings();
  settings.allowed_methods = {"GET POST"};
  EXPECT_THROW(CorsPolicy{settings}, std::invalid_argument);
  settings = app_settings();
  settings.max_age_s = -1;
  EXPECT_THROW(CorsPolicy{settings}, std::invalid_argument);
  settings = app_settings();
  settings.allowed_origins = {"http://[::1]:8080", "https://app.example.com:8443"};
  EXPECT_NO_THROW(CorsPolicy{settings});
}

}  // namespace
}  // namespace intercab::gateway
