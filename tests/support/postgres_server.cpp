// Test support: a private PostgreSQL server, created with initdb and driven with pg_ctl.
#include "postgres_server.hpp"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "process.hpp"

namespace intercab::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
constexpr const char* kPackage = "postgresql-15";

std::string file_contents(const std::filesystem::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

PostgresServer::PostgresServer() {
  required_program(std::string(kBinDir) + "/postgres", kPackage);
  required_program(std::string(kBinDir) + "/initdb", kPackage);
  required_program(std::string(kBinDir) + "/pg_ctl", kPackage);
  bin_dir_ = kBinDir;
  as_postgres_user_ = ::geteuid() == 0;

  // mkdtemp under /tmp rather than TempDir: the socket path must stay under 107 bytes, and as root the directory
  // must be one the postgres user can enter (not under /root or the build tree).
  std::string pattern = "/tmp/pg.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  dir_ = pattern;
  try {
    if (as_postgres_user_) {
      required_program("runuser", "util-linux");
      const passwd* postgres = ::getpwnam("postgres");
      if (postgres == nullptr) {
        throw std::runtime_error("no `postgres` user to run the test server as: install the Debian package " +
                                 std::string(kPackage));
      }
      if (::chown(dir_.c_str(), postgres->pw_uid, postgres->pw_gid) != 0) {
        throw std::runtime_error("cannot chown " + dir_.string() + " to postgres");
      }
    }
    // -N: no fsync; a test cluster need not survive a power cut.
    run_as_owner(
        bin_dir_ + "/initdb -D " + (dir_ / "data").string() + " -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 -N",
        "initdb");
    port_ = free_loopback_port();
    start();
  } catch (...) {
    stop_and_remove();
    throw;
  }
}

PostgresServer::~PostgresServer() { stop_and_remove(); }

void PostgresServer::stop_and_remove() noexcept {
  try {
    running_ = true;  // also when start() failed half-way: pg_ctl stop is harmless on a stopped server
    stop();
  } catch (const std::exception&) {
    // pg_ctl failed or timed out; checked below.
  }
  // A clean shutdown removes postmaster.pid. If it is still there, kill the postmaster by the pid it recorded, so
  // that no server outlives the test.
  std::ifstream pid_file(dir_ / "data" / "postmaster.pid");
  pid_t pid = 0;
  if (pid_file >> pid && pid > 0) ::kill(pid, SIGKILL);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

PostgresServer& PostgresServer::shared() {
  static PostgresServer server;
  return server;
}

std::string PostgresServer::url(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

void PostgresServer::start() {
  if (running_) return;
  // Durability settings off and small buffers: many test binaries may run a server each at the same time.
  const std::string options = "-p " + std::to_string(port_) + " -k " + dir_.string() +
                              " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                              " -c full_page_writes=off -c shared_buffers=16MB -c max_connections=200";
  run_as_owner(bin_dir_ + "/pg_ctl -D " + (dir_ / "data").string() + " -l " + (dir_ / "server.log").string() +
                   " -w -t 120 -o '" + options + "' start",
               "pg_ctl start");
  running_ = true;
  if (!wait_for_port(port_, std::chrono::seconds(60))) {
    throw std::runtime_error("PostgreSQL started but does not accept connections on port " + std::to_string(port_) +
                             "; its log:\n" + file_contents(dir_ / "server.log"));
  }
}

void PostgresServer::stop() {
  if (!running_) return;
  run_as_owner(bin_dir_ + "/pg_ctl -D " + (dir_ / "data").string() + " -w -t 120 -m fast stop", "pg_ctl stop");
  running_ = false;
}

void PostgresServer::run_as_owner(const std::string& command_line, const std::string& what) const {
  const std::string command = as_postgres_user_ ? "runuser -u postgres -- " + command_line : command_line;
  std::string output;
  if (run_command(command, &output) != 0) {
    std::string message = what + " failed: " + command + "\n" + output;
    if (std::filesystem::exists(dir_ / "server.log")) message += "\nserver log:\n" + file_contents(dir_ / "server.log");
    throw std::runtime_error(message);
  }
}

}  // namespace intercab::testing
