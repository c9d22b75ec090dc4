// Test support: start the intercab binary as a child process and stop it by its pid.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace intercab::testing {

// Environment for children: names set here replace or add to the test's own environment.
using EnvOverrides = std::map<std::string, std::string>;

class ChildProcess {
 public:
  // Starts `program` with `args`; stdout and stderr go to `log_file`.
  ChildProcess(const std::string& program, const std::vector<std::string>& args, const EnvOverrides& env,
               const std::filesystem::path& log_file);
  ~ChildProcess();  // kills the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void signal(int signal_number) const;
  // After SIGSTOP: waits until every thread of the child has stopped (the signal is delivered asynchronously, and
  // a thread already running on another CPU can still answer a request meanwhile); false on timeout.
  bool wait_until_stopped(std::chrono::milliseconds timeout) const;
  // The exit status (or 128+signal), or nullopt if it did not exit in time.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::filesystem::path log_file_;
};

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The value of a variable set by ctest (intercab_test), failing the test if absent.
std::string required_env(const char* name);

// Runs a shell command, returning its exit status and combined output.
int run_command(const std::string& command, std::string* output);

// Polls `condition` until it holds or `timeout` passes; returns its last value. For tests that
// wait on other processes and threads: no fixed sleeps, generous deadlines.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(interval);
  }
  return condition();
}

// A loopback TCP port that was free a moment ago (bound to port 0, then released), for
// servers that cannot be told to bind port 0 themselves (nats-server, redis-server, postgres).
std::uint16_t free_loopback_port();

// Waits until something accepts TCP connections on 127.0.0.1:port; false on timeout.
bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout);

// The absolute path of a server program, or throws std::runtime_error naming the Debian package
// that provides it ("nats-server not found: install the Debian package nats-server (scripts/bootstrap)").
// Tests of distributed adapters call this: a missing server fails the test, it never skips it.
std::string required_program(const std::string& path_or_name, const std::string& debian_package);

}  // namespace intercab::testing
