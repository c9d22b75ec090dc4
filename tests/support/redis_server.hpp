// Test support: a throwaway redis-server on a free loopback port, which tests can stop and start again
// on the same port to simulate an outage.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "process.hpp"

namespace intercab::testing {

class RedisServer {
 public:
  // Starts redis-server (no persistence, data in a fresh temp dir). Throws std::runtime_error naming the
  // Debian package when redis-server is missing, or with the server's log when it does not come up.
  RedisServer();
  ~RedisServer();  // stops the server by its pid
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "redis://127.0.0.1:<port>"
  std::string url() const;
  bool running() const { return pid_ > 0; }

  // Stops the server (SIGTERM, then SIGKILL after 10 s) and waits until its port is closed.
  void stop();
  // Starts it again on the same port; its data is gone (nothing is persisted).
  void start();
  // The server's log file, for failure messages.
  std::string log() const;

 private:
  std::string program_;
  TempDir dir_;
  std::uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace intercab::testing
