// A daemonized redis-server per fixture, found by its pidfile and stopped by its pid.
#include "redis_server.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace intercab::testing {
namespace {

using namespace std::chrono_literals;

// redis-server --daemonize forks and its launcher exits, so the server is an orphan. Orphans go to the
// nearest "child subreaper" ancestor, else to PID 1, which in a container may never reap them. Making
// the test process a subreaper lets it reap its servers itself (other orphans of the test process would
// wait as zombies until it exits, which costs nothing).
void adopt_orphaned_descendants() {
  static std::once_flag once;
  std::call_once(once, [] { ::prctl(PR_SET_CHILD_SUBREAPER, 1); });
}

// True once `pid` is gone: reaped here when it is our (adopted) child, otherwise gone or a zombie
// (a zombie no longer holds its port).
bool exited(pid_t pid) {
  int status = 0;
  const auto reaped = ::waitpid(pid, &status, WNOHANG);
  if (reaped == pid) return true;
  if (reaped == 0) return false;  // our child, still running
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto state_at = line.rfind(')');
  return state_at != std::string::npos && state_at + 2 < line.size() && line[state_at + 2] == 'Z';
}

bool wait_until_exited(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exited(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

RedisServer::RedisServer()
    : program_(required_program("redis-server", "redis-server")), dir_("intercab-redis"), port_(free_loopback_port()) {
  start();
}

RedisServer::~RedisServer() {
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; the server was killed or is already gone.
  }
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

std::string RedisServer::log() const {
  std::ifstream in(dir_.path() / "redis.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void RedisServer::start() {
  if (running()) return;
  adopt_orphaned_descendants();
  const auto pidfile = dir_.path() / "redis.pid";
  std::filesystem::remove(pidfile);
  // --daemonize: the launcher exits once the server has forked; the server writes its pid to the pidfile.
  ChildProcess launcher(program_,
                        {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", dir_.path().string(), "--pidfile", pidfile.string(), "--logfile",
                         (dir_.path() / "redis.log").string(), "--daemonize", "yes"},
                        {}, dir_.path() / "launcher.log");
  const auto status = launcher.wait(10s);
  if (status != 0) {
    throw std::runtime_error("redis-server did not daemonize (status " + (status ? std::to_string(*status) : "none") +
                             "): " + launcher.log() + log());
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(pidfile);
    pid_t pid = -1;
    if (in >> pid && pid > 0) {
      pid_ = pid;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  if (pid_ <= 0)
    throw std::runtime_error("redis-server wrote no pidfile on port " + std::to_string(port_) + ": " + log());
  const auto remaining =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (!wait_for_port(port_, std::max(remaining, std::chrono::milliseconds(1000)))) {
    stop();
    throw std::runtime_error("redis-server did not listen on 127.0.0.1:" + std::to_string(port_) + ": " + log());
  }
}

void RedisServer::stop() {
  if (!running()) return;
  const pid_t pid = pid_;
  pid_ = -1;
  ::kill(pid, SIGTERM);
  if (!wait_until_exited(pid, 10s)) {
    ::kill(pid, SIGKILL);
    if (!wait_until_exited(pid, 5s)) {
      throw std::runtime_error("redis-server " + std::to_string(pid) + " survived SIGKILL");
    }
  }
  std::error_code ignored;
  std::filesystem::remove(dir_.path() / "redis.pid", ignored);
}

}  // namespace intercab::testing
