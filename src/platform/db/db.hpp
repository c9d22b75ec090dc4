// One SQL database (SQLite 3 or PostgreSQL 15) behind SOCI: a connection URL parser, a pool of sessions,
// serialisable transactions that are retried on conflicts, and the errors a caller maps to HTTP.
#pragma once

#include <soci/soci.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// SOCI 4.0 knows boost::optional but not std::optional; this lets `soci::into(std::optional<T>&)` and
// `soci::use(const std::optional<T>&)` read and write NULL as an empty optional.
namespace soci {
template <typename T>
struct type_conversion<std::optional<T>> {
  using base_type = typename type_conversion<T>::base_type;

  static void from_base(const base_type& in, indicator ind, std::optional<T>& out) {
    if (ind == i_null) {
      out.reset();
      return;
    }
    T value{};
    type_conversion<T>::from_base(in, ind, value);
    out = std::move(value);
  }

  static void to_base(const std::optional<T>& in, base_type& out, indicator& ind) {
    if (in) {
      type_conversion<T>::to_base(*in, out, ind);
    } else {
      ind = i_null;
    }
  }
};
}  // namespace soci

namespace intercab::db {

enum class Dialect { kSqlite, kPostgres };

std::string_view to_string(Dialect dialect);  // "sqlite" or "postgres", as in migration file names

// The server cannot be reached, the connection broke, or no pooled connection came free in time. Callers map it
// to 503: the request may succeed later and nothing about it was wrong. It is never an SQL error.
class DatabaseUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A transaction kept conflicting with concurrent ones (PostgreSQL 40001/40P01, SQLite BUSY/LOCKED) on every one of
// its attempts. Like DatabaseUnavailable it means "try again later", so it derives from it.
class TransactionConflict : public DatabaseUnavailable {
 public:
  using DatabaseUnavailable::DatabaseUnavailable;
};

// What a database URL names. Accepted forms:
//   sqlite:///absolute/path/file.db   sqlite://relative/path/file.db (relative to the working directory)
//   sqlite::memory:                   (a private in-memory database; the pool then has one connection)
//   postgresql://user:password@host:port/database?libpq_parameter=value&...   (postgres:// also accepted)
struct ConnectionUrl {
  Dialect dialect = Dialect::kSqlite;
  std::string connect_string;  // for SOCI: libpq keyword=value pairs, or SQLite's db="path"
  // PostgreSQL: the same server's `postgres` maintenance database, used to create `database` when it is missing.
  std::string maintenance_connect_string;
  std::string database;  // PostgreSQL database name, absolute SQLite file path, or ":memory:"
  std::string display;   // the URL with its password replaced by ***, for logs and error messages
};

// Throws std::invalid_argument naming the (masked) URL, what is wrong with it and the accepted forms.
// PostgreSQL URLs get connect_timeout=5 unless they set it, so a dead server is reported instead of waited for.
ConnectionUrl parse_connection_url(std::string_view url);

struct DatabaseOptions {
  int pool_size = 4;
  std::chrono::milliseconds busy_timeout{5000};  // SQLite: how long a statement waits for another writer's lock
  int max_transaction_attempts = 5;              // first attempt plus retries after conflicts
  bool create_if_missing = true;                 // create the SQLite file (and directories) or PostgreSQL database
  std::chrono::milliseconds pool_wait_timeout{10000};  // waiting for a free pooled connection
};

// The handle that transact() gives its work. Valid only during that call.
class Tx {
 public:
  soci::session& sql() { return session_; }
  Dialect dialect() const { return dialect_; }
  // Runs `action` once the transaction has committed (never when it rolls back or is retried):
  // for telling others about what is now visible, e.g. waking the outbox relay. Keep it quick
  // and non-throwing; it runs on the committing thread.
  void after_commit(std::function<void()> action) { after_commit_.push_back(std::move(action)); }

  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;

 private:
  friend class Database;
  Tx(soci::session& session, Dialect dialect) : session_(session), dialect_(dialect) {}

  soci::session& session_;
  Dialect dialect_;
  std::vector<std::function<void()>> after_commit_;
};

// A pool of connections to one database. Thread-safe; share one per process and component.
class Database {
 public:
  // Connects every pooled session. SQLite: creates missing parent directories, then sets WAL, busy_timeout and
  // foreign_keys=ON on each connection. PostgreSQL: creates the database when it is missing (through the
  // `postgres` maintenance database; safe when several processes race to do it). Throws DatabaseUnavailable when
  // the database cannot be reached or created, std::invalid_argument for a bad URL or options.
  static std::unique_ptr<Database> open(std::string_view url, const DatabaseOptions& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Dialect dialect() const;
  const std::string& display_url() const;

  // Runs work(Tx&) in a transaction on a pooled session and commits it, returning what work returns.
  // Transactions are serialisable on both databases (PostgreSQL: ISOLATION LEVEL SERIALIZABLE; SQLite: BEGIN
  // IMMEDIATE, which also avoids the deadlock of two readers upgrading to writers). When the database reports a
  // conflict with a concurrent transaction the whole of work runs again after a jittered backoff, so work must
  // not have effects outside the database; after max_transaction_attempts it throws TransactionConflict.
  // Any other exception rolls back and propagates unchanged; a lost connection becomes DatabaseUnavailable.
  // Each call holds one pooled session for its duration: work that calls transact() or with_session() again
  // needs a second one, and waits up to pool_wait_timeout for it.
  template <class F>
  std::invoke_result_t<F&, Tx&> transact(F&& work) {
    using Result = std::invoke_result_t<F&, Tx&>;
    static_assert(!std::is_reference_v<Result>, "transact() returns values: return a copy from the work");
    if constexpr (std::is_void_v<Result>) {
      run_transaction([&work](Tx& tx) { work(tx); });
    } else {
      std::optional<Result> result;
      run_transaction([&work, &result](Tx& tx) { result.emplace(work(tx)); });
      return std::move(*result);
    }
  }

  // Runs work(soci::session&) on a pooled session in autocommit mode, for reads that need no transaction.
  // It is not retried. If work throws, a transaction it opened is rolled back and the exception passes on (a lost
  // connection as DatabaseUnavailable); if it returns with one open, that is rolled back and std::logic_error thrown.
  template <class F>
  std::invoke_result_t<F&, soci::session&> with_session(F&& work) {
    using Result = std::invoke_result_t<F&, soci::session&>;
    static_assert(!std::is_reference_v<Result>, "with_session() returns values: return a copy from the work");
    if constexpr (std::is_void_v<Result>) {
      run_with_session([&work](soci::session& sql) { work(sql); }, pool_wait_timeout());
    } else {
      std::optional<Result> result;
      run_with_session([&work, &result](soci::session& sql) { result.emplace(work(sql)); }, pool_wait_timeout());
      return std::move(*result);
    }
  }

  // Why the database cannot be used right now (for /ready), or nullopt when `SELECT 1` works. Bounded: it waits
  // at most a second for a pooled connection and connects with the URL's connect_timeout.
  std::optional<std::string> unavailable_reason();

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);

  void run_transaction(const std::function<void(Tx&)>& work);
  void run_with_session(const std::function<void(soci::session&)>& work, std::chrono::milliseconds pool_wait);
  std::chrono::milliseconds pool_wait_timeout() const;

  std::unique_ptr<Impl> impl_;
};

// True when `error` is an SQL unique or primary-key violation (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE
// or _PRIMARYKEY), e.g. to turn a duplicate idempotency key into "already done".
bool is_unique_violation(const std::exception& error);

}  // namespace intercab::db
