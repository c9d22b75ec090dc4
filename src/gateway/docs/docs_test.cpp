// Tests of the merged OpenAPI document and of the /docs routes serving the embedded Swagger UI.
#include "gateway/docs/docs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace intercab::gateway::docs {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// What every service serves at /openapi.json besides its own paths (a trimmed common.openapi.yaml).
constexpr std::string_view kCommonPaths = R"({
  "/health": {"get": {"operationId": "getHealth", "tags": ["operations"],
              "responses": {"200": {"description": "alive",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}},
  "/ready": {"get": {"operationId": "getReady", "tags": ["operations"], "responses": {"200": {"description": "ok"}}}},
  "/metrics": {"get": {"operationId": "getMetrics", "tags": ["operations"], "responses": {"200": {"description": "ok"}}}},
  "/version": {"get": {"operationId": "getVersion", "tags": ["operations"], "responses": {"200": {"description": "ok"}}}},
  "/openapi.json": {"get": {"operationId": "getOpenApi", "tags": ["operations"],
                    "responses": {"200": {"description": "ok"}}}}
})";

// A service document: the common endpoints and schemas plus `paths` and `schemas` (JSON object texts).
json::object service_document(std::string_view description, std::string_view paths, std::string_view schemas = "{}") {
  auto document = json::parse(R"({"openapi": "3.1.0", "info": {"title": "t", "version": "0.1.0"},
    "tags": [{"name": "operations", "description": "Health, readiness, metrics, version and this document."}],
    "components": {"schemas": {"Health": {"type": "object"}}}})")
                      .as_object();
  document["info"].as_object()["description"] = description;
  auto all_paths = json::parse(kCommonPaths).as_object();
  const auto own_paths = json::parse(paths);  // named: a range-for over parse(...).as_object() would dangle
  for (const auto& [path, item] : own_paths.as_object()) all_paths[path] = item;
  document["paths"] = std::move(all_paths);
  auto& all_schemas = document["components"].as_object()["schemas"].as_object();
  const auto own_schemas = json::parse(schemas);
  for (const auto& [name, schema] : own_schemas.as_object()) all_schemas[name] = schema;
  return document;
}

std::vector<std::string> strings(const json::value& array) {
  std::vector<std::string> result;
  for (const auto& item : array.as_array()) result.emplace_back(item.as_string());
  return result;
}

const json::object& operation(const json::object& merged, std::string_view path, std::string_view method) {
  return merged.at("paths").as_object().at(path).as_object().at(method).as_object();
}

class MergeOpenApiTest : public ::testing::Test {
 protected:
  json::object booking_ = service_document("Fare engine and bookings.", R"({
    "/api/v1/quotes": {"post": {"operationId": "createQuote", "tags": ["quotes"],
                                "responses": {"200": {"description": "ok"}}}},
    "/api/v1/bookings/{id}": {"get": {"operationId": "getBooking", "responses": {"200": {"description": "ok"}}}}
  })");
  json::object payment_ = service_document("Payments, wallets and refunds.", R"({
    "/api/v1/payments/{id}": {"get": {"operationId": "getPayment", "responses": {"200": {"description": "ok"}}}}
  })");
};

TEST_F(MergeOpenApiTest, DescribesTheWholeApiAsSeenThroughTheGateway) {
  const auto merged = merge_openapi({{"booking", booking_}, {"payment", payment_}}, "1.2.3");
  EXPECT_EQ(merged.at("openapi").as_string(), "3.1.0");
  EXPECT_EQ(merged.at("info").at("title").as_string(), "intercab API");
  EXPECT_EQ(merged.at("info").at("version").as_string(), "1.2.3");
  EXPECT_EQ(json::serialize(merged.at("servers")), R"([{"url":"/"}])");
  EXPECT_TRUE(merged.at("paths").as_object().contains("/api/v1/quotes"));
  EXPECT_TRUE(merged.at("paths").as_object().contains("/api/v1/bookings/{id}"));
  EXPECT_TRUE(merged.at("paths").as_object().contains("/api/v1/payments/{id}"));
}

TEST_F(MergeOpenApiTest, ListsTheOperationalEndpointsOnceAsTheGatewaysOwn) {
  const auto merged = merge_openapi({{"booking", booking_}, {"payment", payment_}}, "1.2.3");
  for (const auto* path : {"/health", "/ready", "/metrics", "/version", "/openapi.json"}) {
    SCOPED_TRACE(path);
    const auto& get = operation(merged, path, "get");
    EXPECT_THAT(strings(get.at("tags")), ElementsAre("gateway"));
  }
  EXPECT_EQ(operation(merged, "/health", "get").at("operationId").as_string(), "getHealth");
  EXPECT_EQ(merged.at("paths").as_object().size(), 5u + 3u);
  // The schema the gateway's /health refers to is still there.
  EXPECT_TRUE(merged.at("components").at("schemas").as_object().contains("Health"));
}

TEST_F(MergeOpenApiTest, TheGatewaysOwnDocumentDescribesItsTagAndAddsItsPaths) {
  auto gateway = service_document("The edge: routing, rate limits, CORS.", R"({
    "/docs/openapi.json": {"get": {"operationId": "getMergedOpenApi", "responses": {"200": {"description": "ok"}}}}
  })");
  const auto merged = merge_openapi({{"gateway", gateway}, {"booking", booking_}}, "1.2.3");
  EXPECT_THAT(strings(operation(merged, "/docs/openapi.json", "get").at("tags")), ElementsAre("gateway"));
  EXPECT_THAT(strings(operation(merged, "/health", "get").at("tags")), ElementsAre("gateway"));
  const auto& tags = merged.at("tags").as_array();
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(json::serialize(tags[0]), R"({"name":"gateway","description":"The edge: routing, rate limits, CORS."})");
}

TEST_F(MergeOpenApiTest, TagsEachOperationWithItsServiceAndKeepsItsOwnTags) {
  const auto merged = merge_openapi({{"booking", booking_}, {"payment", payment_}}, "1.2.3");
  EXPECT_THAT(strings(operation(merged, "/api/v1/quotes", "post").at("tags")), ElementsAre("booking", "quotes"));
  EXPECT_THAT(strings(operation(merged, "/api/v1/bookings/{id}", "get").at("tags")), ElementsAre("booking"));
  EXPECT_THAT(strings(operation(merged, "/api/v1/payments/{id}", "get").at("tags")), ElementsAre("payment"));
}

TEST_F(MergeOpenApiTest, ListsATagPerServiceDescribedByItsInfoDescription) {
  const auto merged = merge_openapi({{"booking", booking_}, {"payment", payment_}}, "1.2.3");
  const auto& tags = merged.at("tags").as_array();
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(json::serialize(tags[0]), R"({"name":"booking","description":"Fare engine and bookings."})");
  EXPECT_EQ(json::serialize(tags[1]), R"({"name":"payment","description":"Payments, wallets and refunds."})");
  EXPECT_EQ(tags[2].at("name").as_string(), "gateway");
  // "operations" was only used by the dropped per-service endpoints, so it is not listed.
  EXPECT_THAT(json::serialize(tags), Not(HasSubstr("\"operations\"")));
}

TEST_F(MergeOpenApiTest, PrefixesOperationIdsThatTwoServicesUseWithTheServiceName) {
  auto user = service_document("Accounts.", R"({
    "/api/v1/users/me": {"get": {"operationId": "getMe", "responses": {"200": {"description": "ok"}}}}
  })");
  auto driver = service_document("Drivers.", R"({
    "/api/v1/drivers/me": {"get": {"operationId": "getMe", "responses": {"200": {"description": "ok"}}}},
    "/api/v1/drivers/{id}": {"get": {"operationId": "getDriver", "responses": {"200": {"description": "ok"}}}}
  })");
  const auto merged = merge_openapi({{"user", user}, {"driver-pool", driver}}, "1.2.3");
  EXPECT_EQ(operation(merged, "/api/v1/users/me", "get").at("operationId").as_string(), "userGetMe");
  EXPECT_EQ(operation(merged, "/api/v1/drivers/me", "get").at("operationId").as_string(), "driverPoolGetMe");
  EXPECT_EQ(operation(merged, "/api/v1/drivers/{id}", "get").at("operationId").as_string(), "getDriver");
  EXPECT_EQ(operation(merged, "/health", "get").at("operationId").as_string(), "getHealth");
}

TEST_F(MergeOpenApiTest, SharesIdenticalSchemasAndRenamesDifferentOnesWithTheirReferences) {
  auto booking = service_document("Bookings.", R"({
    "/api/v1/bookings": {"post": {"operationId": "createBooking", "responses": {"200": {"description": "ok",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Fare"}}}}}}}
  })",
                                  R"({"Money": {"type": "integer"}, "Fare": {"$ref": "#/components/schemas/Money"},
       "Problem": {"type": "object"}})");
  auto payment = service_document("Payments.", R"({
    "/api/v1/refunds": {"post": {"operationId": "createRefund", "responses": {"200": {"description": "ok",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Money/properties/amount"}}}}}}},
    "/api/v1/payments": {"post": {"operationId": "createPayment", "responses": {"200": {"description": "ok",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Fare"}}}}}}}
  })",
                                  R"({"Money": {"type": "object", "properties": {"amount": {"type": "integer"}}},
       "Fare": {"$ref": "#/components/schemas/Money"},
       "Method": {"oneOf": [{"$ref": "#/components/schemas/Money"}],
                  "discriminator": {"propertyName": "kind", "mapping": {"cash": "#/components/schemas/Money"}}},
       "Problem": {"type": "object"}})");
  const auto merged = merge_openapi({{"booking", booking}, {"payment", payment}}, "1.2.3");
  const auto& schemas = merged.at("components").at("schemas").as_object();

  EXPECT_EQ(json::serialize(schemas.at("Money")), R"({"type":"integer"})");
  EXPECT_EQ(schemas.at("PaymentMoney").at("type").as_string(), "object");
  // Fare reads the same in both services but refers to a different Money, so it is renamed too.
  EXPECT_EQ(schemas.at("Fare").at("$ref").as_string(), "#/components/schemas/Money");
  EXPECT_EQ(schemas.at("PaymentFare").at("$ref").as_string(), "#/components/schemas/PaymentMoney");
  EXPECT_EQ(schemas.at("Method").at("oneOf").at(0).at("$ref").as_string(), "#/components/schemas/PaymentMoney");
  EXPECT_EQ(schemas.at("Method").at("discriminator").at("mapping").at("cash").as_string(),
            "#/components/schemas/PaymentMoney");
  EXPECT_FALSE(schemas.contains("PaymentProblem"));  // identical definitions are shared
  EXPECT_FALSE(schemas.contains("PaymentHealth"));

  auto response_schema = [&](std::string_view path) {
    return operation(merged, path, "post").at("responses").at("200").at("content").at("application/json").at("schema");
  };
  EXPECT_EQ(response_schema("/api/v1/bookings").at("$ref").as_string(), "#/components/schemas/Fare");
  EXPECT_EQ(response_schema("/api/v1/payments").at("$ref").as_string(), "#/components/schemas/PaymentFare");
  EXPECT_EQ(response_schema("/api/v1/refunds").at("$ref").as_string(),
            "#/components/schemas/PaymentMoney/properties/amount");
}

TEST_F(MergeOpenApiTest, RenamesClashingSecuritySchemesInRequirementsAndAppliesServiceWideSecurity) {
  auto user = service_document("Accounts.", R"({
    "/api/v1/users/me": {"get": {"operationId": "getMe", "responses": {"200": {"description": "ok"}}}}
  })");
  user["components"].as_object()["securitySchemes"] =
      json::parse(R"({"bearer": {"type": "http", "scheme": "bearer"}})");
  user["security"] = json::parse(R"([{"bearer": []}])");
  auto admin = service_document("Back office.", R"({
    "/api/v1/admin/cities": {"get": {"operationId": "listCities", "responses": {"200": {"description": "ok"}}}},
    "/api/v1/admin/ping": {"get": {"operationId": "ping", "security": [],
                                   "responses": {"200": {"description": "ok"}}}}
  })");
  admin["components"].as_object()["securitySchemes"] =
      json::parse(R"({"bearer": {"type": "apiKey", "in": "header", "name": "X-Admin-Key"}})");
  admin["security"] = json::parse(R"([{"bearer": []}])");

  const auto merged = merge_openapi({{"user", user}, {"admin", admin}}, "1.2.3");
  const auto& schemes = merged.at("components").at("securitySchemes").as_object();
  EXPECT_EQ(schemes.at("bearer").at("type").as_string(), "http");
  EXPECT_EQ(schemes.at("AdminBearer").at("type").as_string(), "apiKey");
  EXPECT_EQ(json::serialize(operation(merged, "/api/v1/users/me", "get").at("security")), R"([{"bearer":[]}])");
  EXPECT_EQ(json::serialize(operation(merged, "/api/v1/admin/cities", "get").at("security")),
            R"([{"AdminBearer":[]}])");
  EXPECT_EQ(json::serialize(operation(merged, "/api/v1/admin/ping", "get").at("security")), "[]");
  EXPECT_FALSE(operation(merged, "/health", "get").contains("security"));
  EXPECT_FALSE(merged.contains("security"));
}

TEST_F(MergeOpenApiTest, KeepsTheFirstServicesOperationWhenTwoDeclareTheSameOne) {
  auto other = service_document("Squatter.", R"({
    "/api/v1/quotes": {"post": {"operationId": "stealQuote", "responses": {"200": {"description": "ok"}}},
                       "get": {"operationId": "listQuotes", "responses": {"200": {"description": "ok"}}}}
  })");
  const auto merged = merge_openapi({{"booking", booking_}, {"other", other}}, "1.2.3");
  EXPECT_EQ(operation(merged, "/api/v1/quotes", "post").at("operationId").as_string(), "createQuote");
  EXPECT_EQ(operation(merged, "/api/v1/quotes", "get").at("operationId").as_string(), "listQuotes");
}

TEST_F(MergeOpenApiTest, ListingAServiceTwiceChangesNothing) {
  EXPECT_EQ(merge_openapi({{"booking", booking_}, {"payment", payment_}, {"booking", booking_}}, "1.2.3"),
            merge_openapi({{"booking", booking_}, {"payment", payment_}}, "1.2.3"));
}

TEST_F(MergeOpenApiTest, NoServicesGiveAnEmptyButValidDocument) {
  const auto merged = merge_openapi({}, "1.2.3");
  EXPECT_TRUE(merged.at("paths").as_object().empty());
  EXPECT_TRUE(merged.at("tags").as_array().empty());
  EXPECT_FALSE(merged.contains("components"));
}

// ---------------------------------------------------------------------------------------------
// Routes

class DocsRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add_docs_routes(router_, [this] {
      ++document_requests_;
      return json::object{{"openapi", "3.1.0"}, {"paths", json::object{}}};
    });
  }

  http::Response get(const std::string& path, std::string_view if_none_match = {}) {
    auto match = router_.match("GET", path);
    EXPECT_EQ(match.status, http::MatchStatus::kFound) << path;
    if (match.status != http::MatchStatus::kFound) return http::Response::empty(404);
    http::Request request;
    request.method = "GET";
    request.target = path;
    request.path = path;
    request.route = match.route->pattern;
    if (!if_none_match.empty()) request.headers.add("If-None-Match", std::string(if_none_match));
    return match.route->handler(request);
  }

  http::Router router_;
  int document_requests_ = 0;
};

TEST_F(DocsRoutesTest, DocsWithoutSlashRedirectsSoThatRelativeFileNamesResolve) {
  auto response = get("/docs");
  EXPECT_EQ(response.status, 301);
  EXPECT_EQ(response.headers.get("Location"), "/docs/");
}

TEST_F(DocsRoutesTest, ThePageLoadsEverythingFromTheGateway) {
  auto response = get("/docs/");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.get("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(response.headers.get("Cache-Control"), "no-cache");
  EXPECT_THAT(response.body, HasSubstr("./swagger-ui.css"));
  EXPECT_THAT(response.body, HasSubstr("./swagger-ui-bundle.js"));
  EXPECT_THAT(response.body, HasSubstr("\"/docs/openapi.json\""));
  EXPECT_THAT(response.body, Not(HasSubstr("http://")));
  EXPECT_THAT(response.body, Not(HasSubstr("https://")));
  EXPECT_EQ(get("/docs/index.html").body, response.body);
}

TEST_F(DocsRoutesTest, ServesTheSwaggerUiFilesWithTheirTypesAndCaching) {
  struct Expected {
    std::string path;
    std::string content_type;
    std::string beginning;
    std::size_t minimum_size;
  };
  const std::vector<Expected> files = {
      {"/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8", "/*! For license information", 1'000'000},
      {"/docs/swagger-ui.css", "text/css; charset=utf-8", ".swagger-ui", 100'000},
      {"/docs/favicon-32x32.png", "image/png", "\x89PNG\r\n\x1a\n", 100},
      {"/docs/swagger-ui-bundle.js.LICENSE.txt", "text/plain; charset=utf-8", "", 100},
      {"/docs/LICENSE", "text/plain; charset=utf-8", "", 1000},
      {"/docs/NOTICE", "text/plain; charset=utf-8", "swagger-ui", 10},
  };
  for (const auto& file : files) {
    SCOPED_TRACE(file.path);
    auto response = get(file.path);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.headers.get("Content-Type"), file.content_type);
    EXPECT_EQ(response.headers.get("Cache-Control"), "public, max-age=3600");
    EXPECT_EQ(response.headers.get("X-Content-Type-Options"), "nosniff");
    EXPECT_THAT(std::string(response.headers.get("ETag")), StartsWith("\""));
    EXPECT_EQ(response.headers.get("ETag").size(), 18u);
    EXPECT_GE(response.body.size(), file.minimum_size);
    EXPECT_THAT(response.body, StartsWith(file.beginning));
  }
  EXPECT_THAT(get("/docs/swagger-ui-bundle.js").body, HasSubstr("SwaggerUIBundle"));
  EXPECT_NE(get("/docs/swagger-ui.css").headers.get("ETag"), get("/docs/swagger-ui-bundle.js").headers.get("ETag"));
}

TEST_F(DocsRoutesTest, AnswersNotModifiedWhenTheBrowserHasTheFile) {
  const auto tag = std::string(get("/docs/swagger-ui-bundle.js").headers.get("ETag"));
  for (const auto& if_none_match : {tag, "W/" + tag, "\"other\", " + tag, std::string("*")}) {
    SCOPED_TRACE(if_none_match);
    auto response = get("/docs/swagger-ui-bundle.js", if_none_match);
    EXPECT_EQ(response.status, 304);
    EXPECT_TRUE(response.body.empty());
    EXPECT_EQ(response.headers.get("ETag"), tag);
    EXPECT_EQ(response.headers.get("Cache-Control"), "public, max-age=3600");
  }
  EXPECT_EQ(get("/docs/swagger-ui-bundle.js", "\"other\"").status, 200);
}

TEST_F(DocsRoutesTest, TheDocumentIsAskedForOnEveryRequest) {
  auto first = get("/docs/openapi.json");
  get("/docs/openapi.json");
  EXPECT_EQ(document_requests_, 2);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.headers.get("Content-Type"), "application/json");
  EXPECT_EQ(first.headers.get("Cache-Control"), "no-cache");
  EXPECT_EQ(json::parse(first.body).at("openapi").as_string(), "3.1.0");
}

TEST_F(DocsRoutesTest, OtherPathsUnderDocsAreNotFound) {
  EXPECT_EQ(router_.match("GET", "/docs/swagger-initializer.js").status, http::MatchStatus::kNotFound);
  EXPECT_EQ(router_.match("POST", "/docs/").status, http::MatchStatus::kMethodNotAllowed);
}

}  // namespace
}  // namespace intercab::gateway::docs
