// Test support: nats-server with JetStream, started and stopped by its own pid.
#include "nats_server.hpp"

#include <signal.h>

#include <stdexcept>
#include <thread>

namespace intercab::testing {
namespace {

// Generous: a loaded CI machine running sanitizer builds in parallel can take seconds to start a Go binary.
constexpr std::chrono::seconds kStartTimeout{30};
constexpr std::chrono::seconds kStopTimeout{30};

}  // namespace

NatsServer::NatsServer()
    : program_(required_program("nats-server", "nats-server")), dir_("intercab-nats"), port_(free_loopback_port()) {
  std::filesystem::create_directories(dir_.path() / "store");
  start();
}

NatsServer::~NatsServer() {
  try {
    stop();
  } catch (...) {
    // ChildProcess's destructor still kills it.
  }
}

std::string NatsServer::url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

bool NatsServer::running() const { return process_ != nullptr && process_->running(); }

void NatsServer::start() {
  if (running()) return;
  process_.reset();
  ++starts_;
  const auto log_file = dir_.path() / ("nats-server-" + std::to_string(starts_) + ".log");
  process_ = std::make_unique<ChildProcess>(
      program_,
      std::vector<std::string>{"-a", "127.0.0.1", "-p", std::to_string(port_), "-js", "-sd",
                               (dir_.path() / "store").string(), "-P", (dir_.path() / "nats-server.pid").string()},
      EnvOverrides{}, log_file);

  // "Server is ready" comes after JetStream has restored its streams and consumers; the port check on top makes
  // sure it is our server that answers. If another process took the port while we were stopped, the server exits
  // and its log says why.
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (true) {
    if (!process_->running()) {
      throw std::runtime_error("nats-server exited while starting on port " + std::to_string(port_) + ":\n" + log());
    }
    if (log().find("Server is ready") != std::string::npos && wait_for_port(port_, std::chrono::milliseconds(100))) {
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("nats-server did not become ready on port " + std::to_string(port_) + ":\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void NatsServer::stop() {
  if (!running()) return;
  process_->signal(SIGTERM);
  process_->signal(SIGCONT);  // a paused server acts on SIGTERM only once it runs again
  if (!process_->wait(kStopTimeout)) {
    process_->signal(SIGKILL);
    process_->wait(kStopTimeout);
  }
}

void NatsServer::clear_store() {
  if (running()) throw std::logic_error("clear_store() needs the nats-server to be stopped");
  std::filesystem::remove_all(dir_.path() / "store");
  std::filesystem::create_directories(dir_.path() / "store");
}

void NatsServer::pause() {
  if (!running()) return;
  process_->signal(SIGSTOP);
  if (!process_->wait_until_stopped(kStopTimeout)) {
    throw std::runtime_error("nats-server on port " + std::to_string(port_) + " did not stop on SIGSTOP");
  }
}

void NatsServer::resume() {
  if (process_) process_->signal(SIGCONT);
}

std::string NatsServer::log() const { return process_ ? process_->log() : std::string(); }

}  // namespace intercab::testing
