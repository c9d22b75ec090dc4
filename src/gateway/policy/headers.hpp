// Header transformation at the edge: what the gateway forwards upstream and relays back to the client.
#pragma once

#include <string>
#include <string_view>

#include "platform/http/message.hpp"

namespace intercab::gateway {

// Facts about the client request that the gateway asserts to upstreams. Views: they need only
// outlive the call to upstream_request_headers, which copies what it keeps.
struct ForwardContext {
  std::string_view request_id{};     // X-Request-Id
  std::string_view traceparent{};    // the gateway span's traceparent, already formatted
  std::string_view tracestate{};     // omitted when empty
  std::string_view client_ip{};      // the peer address of the client connection
  std::string_view original_host{};  // Host as the client sent it
  std::string_view scheme = "http";
};

// The header section sent upstream, for the forwarder to put between its request line and its
// framing: the client's fields minus hop-by-hop
// ones (RFC 9110 §7.6.1, plus any the client's Connection header names), minus Expect (the gateway
// answers 100-continue itself), minus headers upstreams would trust if the client could set them
// (X-User-*, X-Internal-*, X-Forwarded-*, Forwarded, X-Real-IP, X-Request-Id, traceparent,
// tracestate), minus Content-Length (the transport frames the body it actually sends), minus
// fields that no valid parser would have produced (name not a token, a control character other than HTAB in the value);
// then Host = original_host and the gateway's X-Request-Id, traceparent, tracestate, X-Forwarded-For, X-Forwarded-Host
// and X-Forwarded-Proto. The gateway is the edge: it trusts no forwarding header it receives, so X-Forwarded-For holds
// the client's address only.
http::FieldLines upstream_request_fields(const http::Headers& client_headers, const ForwardContext& context);

// Adds to such a header section a field the gateway asserts (X-User-Id from a verified token...);
// nothing when the value is empty or holds a control character (CR, LF, NUL...). `name` is the caller's constant token.
void add_asserted_field(http::FieldLines& fields, std::string_view name, std::string_view value);

}  // namespace intercab::gateway
