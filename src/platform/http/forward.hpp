// Streaming forwarding of requests to upstream servers, for the gateway. The policy (which
// upstream, which headers, limits, rejections) is the caller's; the byte pumping, timeouts,
// retries on another instance and connection reuse happen here, inside the HTTP library.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "platform/http/message.hpp"

namespace intercab::http {

struct UpstreamChoice {
  std::size_t instance = 0;  // the caller's index, reported back in `report`
  std::string host;
  std::uint16_t port = 0;
};

// What happened to one forwarded request, for metrics and logs.
struct ForwardOutcome {
  int status = 0;        // sent to the client
  std::string upstream;  // host:port of the last attempt, empty when none was made
  int attempts = 0;
  double seconds = 0;  // head received -> response fully relayed
  std::string error;   // why the gateway answered 502/503/504 itself, or why relaying stopped
};

// The decision for one request, taken from its head alone (the body has not been read).
struct ForwardPlan {
  // When set, this response is sent as is and nothing is forwarded (404, 429, CORS preflight...).
  std::optional<Response> respond;
  // When set, the decision needs blocking work first (a call to another service): it runs on a
  // worker thread and returns the real plan. Everything else in this plan is ignored. It must not
  // throw; if it does, the client gets a 500 problem.
  std::function<ForwardPlan(Request& head)> prepare;

  std::string upstream_name;  // service name, for error messages
  std::string target;         // request target sent upstream ("/api/v1/bookings?limit=5")
  // The header section sent upstream, already transformed (Host included), without framing: the
  // forwarder adds Content-Length or Transfer-Encoding for the body it sends, and Connection/Upgrade
  // when the client asks to switch protocols. Sent as is: the caller has left out the client's
  // hop-by-hop fields and Expect.
  FieldLines upstream_fields;
  FieldLines response_fields;                   // added to every response to the client (CORS, RateLimit-*)
  std::optional<std::uint64_t> max_body_bytes;  // larger request bodies -> 413; nullopt = unlimited

  std::chrono::milliseconds connect_timeout{1000};
  // Non-streaming routes: the whole exchange with the upstream. Streaming routes (SSE, long
  // downloads): each read or write may wait this long instead.
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds idle_timeout{300'000};
  bool streaming = false;

  // Attempts on distinct instances; a request is retried only when it is idempotent, has no
  // body, and the previous attempt failed before any response byte reached the client.
  int max_attempts = 1;
  bool idempotent = false;

  // Chooses an instance not in `tried`; nullopt when none is healthy (-> 503).
  std::function<std::optional<UpstreamChoice>(const std::vector<std::size_t>& tried)> pick;
  // Passive health: each attempt's result (false for connect errors, timeouts, 502/503/504).
  std::function<void(std::size_t instance, bool healthy)> report;
  // Called once per request with the outcome, on an io thread (must not block).
  std::function<void(const Request& request, const ForwardOutcome& outcome)> complete;
};

// Decides on the head of a request no route of the server matched. Runs on an io thread, so it
// must not block (no I/O, no waiting on locks held for long).
using Forwarder = std::function<ForwardPlan(Request& head)>;

}  // namespace intercab::http
