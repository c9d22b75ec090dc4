// Tests of the edge header rules: hop-by-hop, spoofed and hostile fields, headers the gateway adds.
#include "gateway/policy/headers.hpp"

#include <gtest/gtest.h>

#include "platform/http/message_head.hpp"

namespace intercab::gateway {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

const ForwardContext kContext{.request_id = "req-1",
                              .traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                              .tracestate = "",
                              .client_ip = "203.0.113.9",
                              .original_host = "api.intercab.example",
                              .scheme = "http"};

http::Headers headers_of(const Fields& fields) {
  http::Headers headers;
  for (const auto& [name, value] : fields) headers.add(name, value);
  return headers;
}

// The fields upstream_request_fields writes, read back as an upstream reads them: the text must
// make a valid head between a request line and the empty line.
http::Headers forwarded_headers(const http::Headers& client_headers, const ForwardContext& context) {
  const auto fields = upstream_request_fields(client_headers, context);
  http::RequestHead head;
  http::Request request;
  if (const auto problem = parse_request_head("GET / HTTP/1.1\r\n" + fields.text() + "\r\n", head, request)) {
    ADD_FAILURE() << "not a valid header section (" << problem->detail() << "):\n" << fields.text();
  }
  return request.headers;
}

TEST(UpstreamRequestHeaders, KeepsEndToEndHeadersAndAddsOurs) {
  const auto forwarded = forwarded_headers(headers_of({{"Host", "api.intercab.example"},
                                                       {"Accept", "application/json"},
                                                       {"Authorization", "Bearer t"},
                                                       {"Content-Type", "application/json"},
                                                       {"Idempotency-Key", "k1"},
                                                       {"Cookie", "a=1"},
                                                       {"Cookie", "b=2"}}),
                                           kContext);
  EXPECT_EQ(forwarded.fields(), (Fields{{"Host", "api.intercab.example"},
                                        {"Accept", "application/json"},
                                        {"Authorization", "Bearer t"},
                                        {"Content-Type", "application/json"},
                                        {"Idempotency-Key", "k1"},
                                        {"Cookie", "a=1"},
                                        {"Cookie", "b=2"},
                                        {"X-Request-Id", "req-1"},
                                        {"traceparent", std::string(kContext.traceparent)},
                                        {"X-Forwarded-For", "203.0.113.9"},
                                        {"X-Forwarded-Host", "api.intercab.example"},
                                        {"X-Forwarded-Proto", "http"}}));
}

TEST(UpstreamRequestHeaders, DropsHopByHopAndFramingHeaders) {
  const auto forwarded = forwarded_headers(headers_of({{"Connection", "keep-alive"},
                                                       {"Keep-Alive", "timeout=5"},
                                                       {"Proxy-Connection", "keep-alive"},
                                                       {"Proxy-Authenticate", "Basic"},
                                                       {"Proxy-Authorization", "Basic Zm9vOmJhcg=="},
                                                       {"TE", "trailers"},
                                                       {"Trailer", "Expires"},
                                                       {"Transfer-Encoding", "chunked"},
                                                       {"Upgrade", "websocket"},
                                                       {"Content-Length", "12"},
                                                       {"Accept", "*/*"}}),
                                           kContext);
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
                           "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}) {
    EXPECT_FALSE(forwarded.contains(name)) << name;
  }
  EXPECT_EQ(forwarded.get("Accept"), "*/*");
}

TEST(UpstreamRequestHeaders, DropsHeadersNamedInConnection) {
  const auto forwarded = forwarded_headers(headers_of({{"Connection", "close, X-Debug ,\tx-trace-me"},
                                                       {"connection", "Cookie"},
                                                       {"X-Debug", "1"},
                                                       {"X-TRACE-ME", "1"},
                                                       {"Cookie", "a=1"},
                                                       {"X-Kept", "1"}}),
                                           kContext);
  EXPECT_FALSE(forwarded.contains("X-Debug"));
  EXPECT_FALSE(forwarded.contains("X-Trace-Me"));
  EXPECT_FALSE(forwarded.contains("Cookie"));
  EXPECT_EQ(forwarded.get("X-Kept"), "1");
}

TEST(UpstreamRequestHeaders, ConnectionCannotRemoveWhatTheGatewayAsserts) {
  const auto forwarded =
      forwarded_headers(headers_of({{"Connection", "Host, X-Forwarded-For, X-Request-Id, traceparent"},
                                    {"Host", "api.intercab.example"}}),
                        kContext);
  EXPECT_EQ(forwarded.get("Host"), "api.intercab.example");
  EXPECT_EQ(forwarded.get("X-Forwarded-For"), "203.0.113.9");
  EXPECT_EQ(forwarded.get("X-Request-Id"), "req-1");
  EXPECT_EQ(forwarded.get("traceparent"), kContext.traceparent);
}

TEST(UpstreamRequestHeaders, DropsSpoofedIdentityAndForwardingHeadersInAnyCase) {
  const auto forwarded = forwarded_headers(headers_of({{"X-User-Id", "admin"},
                                                       {"x-user-roles", "admin"},
                                                       {"X-USER-ID", "u2"},
                                                       {"X-Internal-Token", "s"},
                                                       {"x-internal-service", "payment"},
                                                       {"X-Forwarded-For", "127.0.0.1"},
                                                       {"X-Forwarded-Host", "internal"},
                                                       {"X-Forwarded-Proto", "https"},
                                                       {"X-Forwarded-Port", "443"},
                                                       {"x-forwarded-prefix", "/admin"},
                                                       {"Forwarded", "for=127.0.0.1"},
                                                       {"X-Real-IP", "127.0.0.1"},
                                                       {"X-Request-Id", "chosen-by-client"},
                                                       {"TraceParent",
                                                        "00-ffffffffffffffffffffffffffffffff-"
                                                        "ffffffffffffffff-01"},
                                                       {"tracestate", "evil=1"}}),
                                           kContext);
  EXPECT_EQ(forwarded.count("X-User-Id"), 0U);
  EXPECT_EQ(forwarded.count("X-User-Roles"), 0U);
  EXPECT_EQ(forwarded.count("X-Internal-Token"), 0U);
  EXPECT_EQ(forwarded.count("X-Internal-Service"), 0U);
  EXPECT_EQ(forwarded.count("Forwarded"), 0U);
  EXPECT_EQ(forwarded.count("X-Real-IP"), 0U);
  EXPECT_EQ(forwarded.count("X-Forwarded-Port"), 0U);
  EXPECT_EQ(forwarded.count("X-Forwarded-Prefix"), 0U);
  EXPECT_EQ(forwarded.count("tracestate"), 0U);  // ours is empty, so none is sent
  EXPECT_EQ(forwarded.count("X-Forwarded-For"), 1U);
  EXPECT_EQ(forwarded.get("X-Forwarded-For"), "203.0.113.9");
  EXPECT_EQ(forwarded.get("X-Forwarded-Host"), "api.intercab.example");
  EXPECT_EQ(forwarded.get("X-Forwarded-Proto"), "http");
  EXPECT_EQ(forwarded.count("X-Request-Id"), 1U);
  EXPECT_EQ(forwarded.get("X-Request-Id"), "req-1");
  EXPECT_EQ(forwarded.count("traceparent"), 1U);
  EXPECT_EQ(forwarded.get("traceparent"), kContext.traceparent);
}

TEST(UpstreamRequestHeaders, HostIsTheOriginalOneAndAppearsOnce) {
  const auto forwarded =
      forwarded_headers(headers_of({{"Host", "api.intercab.example"}, {"host", "evil.example"}}), kContext);
  EXPECT_EQ(forwarded.count("Host"), 1U);
  EXPECT_EQ(forwarded.get("Host"), "api.intercab.example");
  EXPECT_EQ(forwarded.fields().front().first, "Host");

  auto without_context_host = kContext;
  without_context_host.original_host = {};
  const auto fallback = forwarded_headers(headers_of({{"Host", "a.example"}}), without_context_host);
  EXPECT_EQ(fallback.get("Host"), "a.example");
  EXPECT_EQ(fallback.get("X-Forwarded-Host"), "a.example");
}

TEST(UpstreamRequestHeaders, ForwardsTracestateWhenWeHaveOne) {
  auto context = kContext;
  context.tracestate = "intercab=abc";
  const auto forwarded = forwarded_headers(headers_of({{"tracestate", "client=1"}}), context);
  EXPECT_EQ(forwarded.count("tracestate"), 1U);
  EXPECT_EQ(forwarded.get("tracestate"), "intercab=abc");
}

TEST(UpstreamRequestHeaders, DropsHostileFields) {
  const auto forwarded = forwarded_headers(headers_of({{"X-User-Id ", "admin"},
                                                       {"X User Id", "admin"},
                                                       {"", "empty name"},
                                                       {"X-Injected", "a\r\nX-User-Id: admin"},
                                                       {"X-Smuggle", "1\r\n\r\nGET /internal/v1/x HTTP/1.1"},
                                                       {"X-Nul", std::string("a\0b", 3)},
                                                       {"X-Control",
                                                        "a\x01"
                                                        "b"},
                                                       {"X-Delete",
                                                        "a\x7f"
                                                        "b"},
                                                       {"X-Tab", "a\tb"},
                                                       {"X-Long", std::string(10000, 'a')},
                                                       {"Accept", "text/plain"}}),
                                           kContext);
  for (const auto& [name, value] : forwarded.fields()) {
    EXPECT_EQ(name.find_first_of(" :\r\n"), std::string::npos) << name;
    EXPECT_EQ(value.find_first_of(std::string_view("\r\n\0", 3)), std::string::npos) << name;
  }
  EXPECT_EQ(forwarded.count("X-User-Id"), 0U);
  EXPECT_FALSE(forwarded.contains("X-Injected"));
  EXPECT_FALSE(forwarded.contains("X-Smuggle"));
  EXPECT_FALSE(forwarded.contains("X-Nul"));
  EXPECT_FALSE(forwarded.contains("X-Control"));
  EXPECT_FALSE(forwarded.contains("X-Delete"));
  EXPECT_EQ(forwarded.get("X-Tab"), "a\tb");          // HTAB is the one control character a value may hold
  EXPECT_EQ(forwarded.get("X-Long").size(), 10000U);  // long but harmless: size limits are the server's
  EXPECT_EQ(forwarded.get("Accept"), "text/plain");

  auto hostile_context = kContext;
  hostile_context.original_host = "a.example\r\nX-User-Id: admin";
  const auto no_host = forwarded_headers({}, hostile_context);
  EXPECT_FALSE(no_host.contains("Host"));
  EXPECT_FALSE(no_host.contains("X-Forwarded-Host"));
  EXPECT_FALSE(no_host.contains("X-User-Id"));
}

TEST(UpstreamRequestHeaders, DropsExpectWhichTheGatewayAnswersItself) {
  const auto forwarded =
      forwarded_headers(headers_of({{"Expect", "100-continue"}, {"Content-Type", "application/json"}}), kContext);
  EXPECT_FALSE(forwarded.contains("Expect"));
  EXPECT_EQ(forwarded.get("Content-Type"), "application/json");
}

TEST(AddAssertedField, AddsSafeValuesOnly) {
  http::FieldLines fields;
  add_asserted_field(fields, "X-User-Id", "u1");
  add_asserted_field(fields, "X-User-Roles", "");
  add_asserted_field(fields, "X-User-Name", "a\r\nX-User-Id: admin");
  add_asserted_field(fields, "X-User-Tag", std::string("a\0b", 3));
  add_asserted_field(fields, "X-User-Note", "a\nb");
  EXPECT_EQ(fields.text(), "X-User-Id: u1\r\n");
}

}  // namespace
}  // namespace intercab::gateway
