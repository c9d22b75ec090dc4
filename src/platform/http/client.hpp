// The one HTTP client of the code base: http:// and https:// (TLS with peer and host name verification),
// keep-alive pools per host, per-call timeouts, jittered retries for idempotent methods, a circuit breaker
// per host, trace propagation.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "platform/http/message.hpp"
#include "platform/http/server.hpp"

namespace intercab::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{5000};  // whole call, per attempt
  int max_retries = 2;                              // extra attempts, idempotent methods only
  std::chrono::milliseconds retry_backoff{50};      // base of exponential backoff with full jitter
  int pool_size_per_host = 32;                      // idle keep-alive connections kept per host
  int breaker_failure_threshold = 5;                // consecutive failures that open the breaker
  std::chrono::milliseconds breaker_open{10'000};   // then one trial call is let through
  std::size_t max_response_bytes = std::size_t{64} * 1024 * 1024;
  // https:// peers must present a certificate for the URL's host that chains to the system CA store
  // (/etc/ssl/certs) or to a CA in this PEM file (a private CA, or a test's own). The Client constructor
  // throws std::runtime_error if the file cannot be read; https calls fail with kTls if it holds no valid PEM.
  std::string extra_ca_file;
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // absolute: http://127.0.0.1:8001/api/v1/users/me, https://oauth2.googleapis.com/token
  Headers headers;
  std::string body;
  // Overrides ClientOptions::request_timeout for this call.
  std::optional<std::chrono::milliseconds> timeout;
};

// kTls: the TLS handshake failed for another reason than the network, above all an untrusted certificate or one
// for another host; it is neither retried nor held against the host's circuit breaker.
enum class ClientErrorKind { kNone, kInvalidUrl, kConnect, kTimeout, kNetwork, kProtocol, kCircuitOpen, kTls };

struct ClientResponse {
  int status = 0;  // 0 when the call failed before a response arrived
  Headers headers;
  std::string body;
  ClientErrorKind error = ClientErrorKind::kNone;
  std::string error_message;
  int attempts = 0;

  bool ok() const { return error == ClientErrorKind::kNone; }
};

class Client {
 public:
  Client(Runtime& runtime, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Asynchronous: `done` runs on an io thread when the call (with its retries) ends.
  void async_send(ClientRequest request, std::function<void(ClientResponse)> done);

  // Blocking convenience for worker threads and tests. Never call it from an io thread.
  ClientResponse send(ClientRequest request);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace intercab::http
