// The HTTP/1.1 server: a shared io/worker runtime and listeners that feed a Router.
// Beast and Asio stay inside server.cpp; services see only these small types.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "platform/errors/errors.hpp"
#include "platform/http/forward.hpp"
#include "platform/http/router.hpp"

namespace intercab::http {

// Threads shared by every listener and client of the process: io threads run the network,
// worker threads run handlers (which may block on SQL or on outgoing calls).
class Runtime {
 public:
  Runtime(int io_threads, int worker_threads);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Stops the io and worker threads and waits for them; idempotent.
  void stop();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct ServerLimits {
  std::size_t max_header_bytes = 16384;                   // request line + headers; above -> 431
  std::size_t max_body_bytes = std::size_t{1024} * 1024;  // default per route; above -> 413
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};  // longest pause between two reads of a body
  std::chrono::milliseconds idle_timeout{60'000};
  int max_queued_requests = 1024;  // handler jobs queued or running; above -> 503
};

// Wraps every handler call on its worker thread (metrics, logs). The handler it receives
// never throws: typed errors are already mapped to problem+json responses.
using Interceptor = std::function<Response(Request&, const Handler&)>;

class Server {
 public:
  Server(Runtime& runtime, Router router, ServerLimits limits, Interceptor interceptor = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Requests that no route matches go to `forwarder` (a gateway) instead of a 404.
  // Set before listen().
  void set_forwarder(Forwarder forwarder);

  // Binds and starts accepting; port 0 picks a free port. Returns the bound port.
  std::uint16_t listen(const std::string& address, std::uint16_t port);

  // Graceful shutdown, step 1: stop accepting, close idle keep-alive connections; requests
  // in flight complete and their connections close after the response.
  void start_drain();
  // Step 2: waits until no request is in flight; false on timeout.
  bool wait_idle(std::chrono::milliseconds timeout) const;
  int requests_in_flight() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Runs a handler, turning typed errors into problem+json and any other exception into a
// logged 500 that reveals nothing. The one place where exceptions become HTTP responses.
Response invoke_handler(const Handler& handler, Request& request);

// The problem+json response for a typed error, with its extra headers.
Response problem_response(const errors::Problem& problem, const Request& request);

}  // namespace intercab::http
