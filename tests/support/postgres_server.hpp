// Test support: a private PostgreSQL 15 server on a free loopback port, with trust authentication for `postgres`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace intercab::testing {

class PostgresServer {
 public:
  // initdb + pg_ctl start in a fresh directory under /tmp (kept short: the server's socket lives there). Throws
  // naming the Debian package postgresql-15 when it is not installed. As root, the server runs as the `postgres`
  // user, because PostgreSQL refuses to run as root.
  PostgresServer();
  ~PostgresServer();  // stops the server (by its data directory, whose postmaster.pid names it) and removes the dir
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // One server for the whole test binary, started on first use and stopped at exit; initdb takes a second or two,
  // so tests share it and isolate themselves with a database each. Tests that stop the server make their own.
  static PostgresServer& shared();

  // "postgresql://postgres@127.0.0.1:PORT/<database>"
  std::string url(const std::string& database) const;
  std::uint16_t port() const { return port_; }

  void stop();   // fast shutdown: connections are terminated; the data stays
  void start();  // starts again on the same port
  bool running() const { return running_; }

 private:
  // Runs a command line as the user that owns the data directory; throws with its output when it fails.
  void run_as_owner(const std::string& command_line, const std::string& what) const;
  void stop_and_remove() noexcept;

  std::string bin_dir_;
  std::filesystem::path dir_;  // holds data/, the log and the socket
  std::uint16_t port_ = 0;
  bool as_postgres_user_ = false;
  bool running_ = false;
};

}  // namespace intercab::testing
