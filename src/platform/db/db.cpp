// The connection pool, transactions with retry, and the recovery of connections broken by a server restart.
#include "platform/db/db.hpp"

#include <poll.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "platform/log/log.hpp"

namespace intercab::db {
namespace {

// Retry backoff: a random delay in [ceiling/2, ceiling], the ceiling doubling from 2 ms up to 200 ms.
constexpr std::chrono::milliseconds kFirstBackoff{2};
constexpr std::chrono::milliseconds kMaxBackoff{200};
constexpr std::chrono::milliseconds kReadinessPoolWait{1000};

std::chrono::milliseconds backoff(int failed_attempts) {
  thread_local std::mt19937 random{std::random_device{}()};
  auto ceiling = kFirstBackoff;
  for (int i = 1; i < failed_attempts && ceiling < kMaxBackoff; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, kMaxBackoff);
  std::uniform_int_distribution<std::chrono::milliseconds::rep> pick(ceiling.count() / 2, ceiling.count());
  return std::chrono::milliseconds(pick(random));
}

// libpq and SOCI messages span several lines; logs and problem details want one.
std::string one_line(std::string_view text) {
  std::string line;
  bool pending_space = false;
  for (const char c : text) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      pending_space = !line.empty();
      continue;
    }
    if (pending_space) line += ' ';
    pending_space = false;
    line += c;
  }
  return line;
}

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return one_line(e.what());
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

soci::postgresql_session_backend& postgres_backend(soci::session& sql) {
  return *static_cast<soci::postgresql_session_backend*>(sql.get_backend());
}

sqlite_api::sqlite3* sqlite_handle(soci::session& sql) {
  return static_cast<soci::sqlite3_session_backend*>(sql.get_backend())->conn_;
}

// True when the session has no usable connection: never connected, a failed reconnect, or libpq saw it break.
bool connection_lost(soci::session& sql, Dialect dialect) {
  if (sql.get_backend() == nullptr) return true;
  if (dialect == Dialect::kPostgres) return PQstatus(postgres_backend(sql).conn_) != CONNECTION_OK;
  return false;
}

// An idle PostgreSQL connection receives nothing unless the server is going away (a FATAL message, then EOF), so
// a readable socket before a query means the connection is dead even though libpq has not noticed yet.
bool idle_connection_closed_by_server(soci::session& sql) {
  const int socket = PQsocket(postgres_backend(sql).conn_);
  if (socket < 0) return true;
  pollfd descriptor{socket, POLLIN, 0};
  return ::poll(&descriptor, 1, 0) != 0;
}

bool in_transaction(soci::session& sql, Dialect dialect) {
  if (dialect == Dialect::kPostgres) return PQtransactionStatus(postgres_backend(sql).conn_) != PQTRANS_IDLE;
  return sqlite_api::sqlite3_get_autocommit(sqlite_handle(sql)) == 0;
}

// Serialisation failures and deadlocks (PostgreSQL), a lock held too long by another connection (SQLite): the
// transaction did nothing and can run again.
bool is_conflict(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const soci::postgresql_soci_error& e) {
    const std::string state = e.sqlstate();
    return state == "40001" || state == "40P01";
  } catch (const soci::sqlite3_soci_error& e) {
    const int primary_code = e.result() & 0xff;  // extended result codes are on
    return primary_code == SQLITE_BUSY || primary_code == SQLITE_LOCKED;
  } catch (...) {
    return false;
  }
}

// PostgreSQL notices (e.g. "there is no transaction in progress") would otherwise go to stderr unstructured.
void log_postgres_notice(void* /*unused*/, const PGresult* notice) {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const std::string message = one_line(PQresultErrorMessage(notice));
  log::debug("postgres notice", {{"severity", severity != nullptr ? severity : ""}, {"message", message}});
}

// Settings every connection needs, applied after each (re)connect.
void configure_session(soci::session& sql, const ConnectionUrl& url, const DatabaseOptions& options) {
  if (url.dialect == Dialect::kPostgres) {
    PQsetNoticeReceiver(postgres_backend(sql).conn_, &log_postgres_notice, nullptr);
    sql << "SET TIME ZONE 'UTC'";
    return;
  }
  // Extended codes tell a unique violation from other constraint failures (is_unique_violation).
  sqlite_api::sqlite3_extended_result_codes(sqlite_handle(sql), 1);
  sql << "PRAGMA busy_timeout = " << options.busy_timeout.count();
  if (url.database != ":memory:") {
    std::string journal_mode;
    sql << "PRAGMA journal_mode = WAL", soci::into(journal_mode);
    if (journal_mode != "wal") {
      throw DatabaseUnavailable("SQLite database " + url.database + " cannot use write-ahead logging (journal_mode " +
                                journal_mode + "); put it on a local file system");
    }
  }
  sql << "PRAGMA foreign_keys = ON";
}

std::string quote_identifier(std::string_view name) {
  std::string quoted = "\"";
  for (const char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

void prepare_sqlite_file(const ConnectionUrl& url, const DatabaseOptions& options) {
  if (url.database == ":memory:") return;
  const std::filesystem::path file(url.database);
  std::error_code error;
  if (std::filesystem::exists(file, error)) return;
  if (!options.create_if_missing) {
    throw DatabaseUnavailable("SQLite database file " + url.database +
                              " does not exist and create_if_missing is off; create it or enable creation");
  }
  std::filesystem::create_directories(file.parent_path(), error);
  if (error) {
    throw DatabaseUnavailable("cannot create the directory of SQLite database " + url.database + ": " +
                              error.message());
  }
}

// Creates the database through the maintenance database. Two processes may race to do it; the loser sees
// duplicate_database (42P04), or a unique violation on pg_database when the two commands really overlap.
void create_postgres_database(const ConnectionUrl& url, const std::string& first_error) {
  try {
    soci::session maintenance(soci::postgresql, url.maintenance_connect_string);
    long long existing = 0;
    maintenance << "SELECT count(*) FROM pg_database WHERE datname = :name", soci::use(url.database),
        soci::into(existing);
    if (existing > 0) {
      throw DatabaseUnavailable("cannot connect to " + url.display + ": " + first_error);  // exists: not the cause
    }
    try {
      maintenance << "CREATE DATABASE " + quote_identifier(url.database);
      log::info("created database", {{"database", url.database}, {"url", url.display}});
    } catch (const soci::postgresql_soci_error& e) {
      const std::string state = e.sqlstate();
      if (state != "42P04" && state != "23505") throw;
    }
  } catch (const soci::soci_error& e) {
    throw DatabaseUnavailable(
        "cannot connect to " + url.display + " (" + first_error +
        ") nor create the database through the postgres maintenance database: " + one_line(e.what()));
  }
}

}  // namespace

struct Database::Impl {
  struct Slot {
    bool needs_reconnect = false;  // only touched by the thread that holds the slot's lease
  };

  // Exclusive use of one pooled session, connected when handed out.
  class Lease {
   public:
    Lease(Impl& db, std::chrono::milliseconds wait) : db_(db) {
      const auto wait_ms = static_cast<int>(std::min<std::chrono::milliseconds::rep>(wait.count(), 1'000'000'000));
      if (!db_.pool.try_lease(position_, wait_ms)) {
        throw DatabaseUnavailable("no free connection to " + db_.url.display + " within " + std::to_string(wait_ms) +
                                  " ms (pool_size " + std::to_string(db_.slots.size()) + ")");
      }
      try {
        soci::session& sql = session();
        if (slot().needs_reconnect || sql.get_backend() == nullptr ||
            (db_.url.dialect == Dialect::kPostgres && idle_connection_closed_by_server(sql))) {
          reconnect();
        }
      } catch (...) {
        db_.pool.give_back(position_);
        throw;
      }
    }
    ~Lease() { db_.pool.give_back(position_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    soci::session& session() { return db_.pool.at(position_); }
    bool connected_during_lease() const { return reconnected_; }

    void reconnect() {
      slot().needs_reconnect = true;
      try {
        session().reconnect();
        configure_session(session(), db_.url, db_.options);
      } catch (const DatabaseUnavailable&) {
        throw;
      } catch (const std::exception& e) {
        throw DatabaseUnavailable("cannot connect to " + db_.url.display + ": " + one_line(e.what()));
      }
      slot().needs_reconnect = false;
      reconnected_ = true;
      log::info("reconnected to database", {{"url", db_.url.display}});
    }

    void mark_broken() {
      slot().needs_reconnect = true;
      log::warn("lost a database connection; it is replaced on next use", {{"url", db_.url.display}});
    }

    // Leaves the session outside any transaction, or marks it for reconnection when even that fails.
    void roll_back_quietly() {
      try {
        if (!connection_lost(session(), db_.url.dialect) && in_transaction(session(), db_.url.dialect)) {
          session() << "ROLLBACK";
        }
      } catch (const std::exception& e) {
        log::warn("rollback failed; the connection is replaced on next use", {{"error", one_line(e.what())}});
        slot().needs_reconnect = true;
      }
    }

   private:
    Slot& slot() { return db_.slots[position_]; }

    Impl& db_;
    std::size_t position_ = 0;
    bool reconnected_ = false;
  };

  Impl(ConnectionUrl connection_url, const DatabaseOptions& database_options, std::size_t pool_size)
      : url(std::move(connection_url)), options(database_options), pool(pool_size), slots(pool_size) {}

  void connect(std::size_t position) {
    soci::session& sql = pool.at(position);
    if (url.dialect == Dialect::kPostgres) {
      sql.open(soci::postgresql, url.connect_string);
    } else {
      sql.open(soci::sqlite3, url.connect_string);
    }
    configure_session(sql, url, options);
  }

  ConnectionUrl url;
  DatabaseOptions options;
  soci::connection_pool pool;
  std::vector<Slot> slots;
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

std::unique_ptr<Database> Database::open(std::string_view url_text, const DatabaseOptions& options) {
  if (options.pool_size < 1) throw std::invalid_argument("DatabaseOptions.pool_size must be at least 1");
  if (options.max_transaction_attempts < 1) {
    throw std::invalid_argument("DatabaseOptions.max_transaction_attempts must be at least 1");
  }
  ConnectionUrl url = parse_connection_url(url_text);
  // Every connection to ":memory:" would be a database of its own, so an in-memory database gets one.
  const auto pool_size = url.database == ":memory:" ? std::size_t{1} : static_cast<std::size_t>(options.pool_size);
  if (url.dialect == Dialect::kSqlite) prepare_sqlite_file(url, options);

  auto impl = std::make_unique<Impl>(std::move(url), options, pool_size);
  const ConnectionUrl& connection = impl->url;
  for (std::size_t position = 0; position < pool_size; ++position) {
    try {
      impl->connect(position);
    } catch (const DatabaseUnavailable&) {
      throw;
    } catch (const std::exception& e) {
      const std::string error = one_line(e.what());
      if (position != 0 || connection.dialect != Dialect::kPostgres || !options.create_if_missing) {
        throw DatabaseUnavailable("cannot connect to " + connection.display + ": " + error);
      }
      create_postgres_database(connection, error);
      try {
        impl->connect(position);
      } catch (const std::exception& second) {
        throw DatabaseUnavailable("cannot connect to " + connection.display + ": " + one_line(second.what()));
      }
    }
  }
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

Dialect Database::dialect() const { return impl_->url.dialect; }

const std::string& Database::display_url() const { return impl_->url.display; }

std::chrono::milliseconds Database::pool_wait_timeout() const { return impl_->options.pool_wait_timeout; }

void Database::run_transaction(const std::function<void(Tx&)>& work) {
  Impl::Lease lease(*impl_, impl_->options.pool_wait_timeout);
  soci::session& sql = lease.session();
  const Dialect dialect = impl_->url.dialect;
  const char* begin = dialect == Dialect::kPostgres ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN IMMEDIATE";
  const int max_attempts = impl_->options.max_transaction_attempts;
  bool retried_begin_on_fresh_connection = false;

  for (int attempt = 1;; ++attempt) {
    bool begun = false;
    bool committing = false;
    try {
      sql << begin;
      begun = true;
      Tx tx(sql, dialect);
      work(tx);
      committing = true;
      sql << "COMMIT";
      for (auto& action : tx.after_commit_) {
        try {
          action();
        } catch (const std::exception& action_error) {
          // Committed is committed: a failing notification must not look like a failed transaction.
          log::warn("after-commit action failed", {{"error", action_error.what()}});
        }
      }
      return;
    } catch (...) {
      const auto error = std::current_exception();
      if (connection_lost(sql, dialect)) {
        // A connection that broke while idle fails at BEGIN, before anything was done: reconnecting and starting
        // over is safe. A break after that loses the transaction (or, during COMMIT, leaves its outcome unknown).
        if (!begun && !retried_begin_on_fresh_connection && !lease.connected_during_lease()) {
          retried_begin_on_fresh_connection = true;
          lease.reconnect();
          --attempt;
          continue;
        }
        lease.mark_broken();
        throw DatabaseUnavailable("lost the connection to " + impl_->url.display +
                                  (committing ? " during COMMIT, so the transaction may or may not have been applied: "
                                              : " during a transaction, which was not applied: ") +
                                  describe(error));
      }
      lease.roll_back_quietly();
      if (!is_conflict(error)) throw;
      if (attempt >= max_attempts) {
        log::warn("transaction gave up after conflicts", {{"attempts", attempt}, {"error", describe(error)}});
        throw TransactionConflict("transaction on " + impl_->url.display + " conflicted with concurrent ones on all " +
                                  std::to_string(attempt) + " attempts; last error: " + describe(error));
      }
      log::debug("transaction conflict; retrying", {{"attempt", attempt}, {"error", describe(error)}});
      std::this_thread::sleep_for(backoff(attempt));
    }
  }
}

void Database::run_with_session(const std::function<void(soci::session&)>& work, std::chrono::milliseconds pool_wait) {
  Impl::Lease lease(*impl_, pool_wait);
  soci::session& sql = lease.session();
  const Dialect dialect = impl_->url.dialect;
  try {
    work(sql);
  } catch (...) {
    if (connection_lost(sql, dialect)) {
      lease.mark_broken();
      throw DatabaseUnavailable("lost the connection to " + impl_->url.display + ": " +
                                describe(std::current_exception()));
    }
    lease.roll_back_quietly();
    throw;
  }
  if (in_transaction(sql, dialect)) {
    lease.roll_back_quietly();
    throw std::logic_error("with_session() work left a transaction open (now rolled back); use transact()");
  }
}

std::optional<std::string> Database::unavailable_reason() {
  try {
    run_with_session(
        [](soci::session& sql) {
          int one = 0;
          sql << "SELECT 1", soci::into(one);
        },
        std::min(impl_->options.pool_wait_timeout, kReadinessPoolWait));
    return std::nullopt;
  } catch (const std::exception& e) {
    return one_line(e.what());
  }
}

bool is_unique_violation(const std::exception& error) {
  if (const auto* postgres = dynamic_cast<const soci::postgresql_soci_error*>(&error)) {
    return postgres->sqlstate() == "23505";
  }
  if (const auto* sqlite = dynamic_cast<const soci::sqlite3_soci_error*>(&error)) {
    return sqlite->result() == SQLITE_CONSTRAINT_UNIQUE || sqlite->result() == SQLITE_CONSTRAINT_PRIMARYKEY;
  }
  return false;
}

}  // namespace intercab::db
