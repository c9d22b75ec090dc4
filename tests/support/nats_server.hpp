// Test support: a nats-server with JetStream on a free loopback port, which tests can stop and start again on the
// same port and store directory (streams and durable consumers persist) to exercise reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "process.hpp"

namespace intercab::testing {

class NatsServer {
 public:
  // Starts `nats-server -a 127.0.0.1 -p PORT -js -sd STORE -P PIDFILE` and waits until it accepts clients; throws
  // std::runtime_error (naming the Debian package when nats-server is missing, with the server log otherwise).
  NatsServer();
  ~NatsServer();  // stops the server
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::string url() const;  // nats://127.0.0.1:PORT
  std::uint16_t port() const { return port_; }
  bool running() const;

  // SIGTERM to the server's pid and wait for it to exit (SIGKILL if it takes longer than 30 s).
  void stop();
  // Starts it again on the same port and store directory; a no-op while it runs.
  void start();
  // Deletes the JetStream store, as if the server had lost its disk; only while stopped.
  void clear_store();
  // SIGSTOP / SIGCONT: the server keeps its sockets but answers nothing, like a hung or partitioned server.
  void pause();
  void resume();

  // Everything the server logged since it was last started.
  std::string log() const;

 private:
  std::string program_;
  TempDir dir_;
  std::uint16_t port_;
  int starts_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace intercab::testing
