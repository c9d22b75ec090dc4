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

// The client's headers minus hop-by-hop ones (RFC 9110 §7.6.1, plus any the client's Connection
// header names), minus headers upstreams would trust if the client could set them (X-User-*,
// X-Internal-*, X-Forwarded-*, Forwarded, X-Real-IP, X-Request-Id, traceparent, tracestate),
// minus Content-Length (the transport frames the body it actually sends), minus fields that no
// valid parser would have produced (name not a token, CR/LF/NUL in the value); then Host =
// original_host and the gateway's X-Request-Id, traceparent, tracestate, X-Forwarded-For,
// X-Forwarded-Host and X-Forwarded-Proto. The gateway is the edge: it trusts no forwarding
// header it receives, so X-Forwarded-For holds the client's address only.
http::Headers upstream_request_headers(const http::Headers& client_headers, const ForwardContext& context);

// The upstream's response headers minus hop-by-hop ones and those its Connection header names.
// Transfer-Encoding and Content-Length are dropped too: framing is the transport's, which sets
// whichever fits the body it actually relays to the client.
http::Headers client_response_headers(const http::Headers& upstream_headers);

}  // namespace intercab::gateway
