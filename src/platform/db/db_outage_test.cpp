// PostgreSQL goes away and comes back: the Database reports the outage promptly as DatabaseUnavailable (never a
// hang, never an SQL error) and recovers by itself, on every pooled connection, once the server is back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>

#include "platform/db/db.hpp"
#include "postgres_server.hpp"

namespace intercab::db {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// Generous for a loaded CI machine under sanitizers, yet far below a hang (libpq would wait forever on a
// silent server without connect_timeout).
constexpr auto kPrompt = std::chrono::seconds(10);

constexpr int kPoolSize = 3;

// Runs `work` on every pooled session at once (nested leases), so each connection is exercised.
void on_every_pooled_session(Database& database, const std::function<void(soci::session&)>& work, int depth = 1) {
  database.with_session([&](soci::session& sql) {
    work(sql);
    if (depth < kPoolSize) on_every_pooled_session(database, work, depth + 1);
  });
}

long long read_counter(soci::session& sql) {
  long long value = 0;
  sql << "SELECT value FROM counter WHERE id = 1", soci::into(value);
  return value;
}

TEST(DbOutage, UnavailableWhileStoppedAndRecoveredWhenStartedAgain) {
  testing::PostgresServer server;
  DatabaseOptions options;
  options.pool_size = kPoolSize;
  auto database = Database::open(server.url("outage"), options);
  database->transact([](Tx& tx) {
    tx.sql() << "CREATE TABLE counter (id BIGINT PRIMARY KEY, value BIGINT NOT NULL)";
    tx.sql() << "INSERT INTO counter VALUES (1, 1)";
  });
  on_every_pooled_session(*database, [](soci::session& sql) { EXPECT_EQ(read_counter(sql), 1); });

  server.stop();

  auto started = Clock::now();
  const auto reason = database->unavailable_reason();
  EXPECT_LT(Clock::now() - started, kPrompt);
  ASSERT_TRUE(reason.has_value());
  EXPECT_THAT(*reason, HasSubstr("127.0.0.1"));

  started = Clock::now();
  EXPECT_THROW(database->transact([](Tx& tx) { tx.sql() << "UPDATE counter SET value = 2 WHERE id = 1"; }),
               DatabaseUnavailable);
  EXPECT_THROW(database->with_session([](soci::session& sql) { read_counter(sql); }), DatabaseUnavailable);
  EXPECT_LT(Clock::now() - started, kPrompt);
  // Still down: a new pool cannot be opened either, and says why.
  started = Clock::now();
  EXPECT_THROW(Database::open(server.url("outage"), options), DatabaseUnavailable);
  EXPECT_LT(Clock::now() - started, kPrompt);

  server.start();

  // The same object works again at once, on every pooled connection (each had a connection the restart broke).
  EXPECT_EQ(database->unavailable_reason(), std::nullopt);
  database->transact([](Tx& tx) { tx.sql() << "UPDATE counter SET value = value + 1 WHERE id = 1"; });
  on_every_pooled_session(*database, [](soci::session& sql) { EXPECT_EQ(read_counter(sql), 2); });
}

TEST(DbOutage, AConnectionLostInsideATransactionIsReportedAndReplaced) {
  testing::PostgresServer server;
  DatabaseOptions options;
  options.pool_size = 1;
  auto database = Database::open(server.url("midway"), options);
  database->transact([](Tx& tx) { tx.sql() << "CREATE TABLE t (id BIGINT)"; });

  // The server goes away after the transaction started: the work's statement fails, the transaction is lost.
  try {
    database->transact([&](Tx& tx) {
      tx.sql() << "INSERT INTO t VALUES (1)";
      server.stop();
      tx.sql() << "INSERT INTO t VALUES (2)";
    });
    FAIL() << "no exception";
  } catch (const DatabaseUnavailable& e) {
    EXPECT_THAT(e.what(), HasSubstr("was not applied"));
  }
  server.start();
  const long long rows = database->with_session([](soci::session& sql) {
    long long count = 0;
    sql << "SELECT count(*) FROM t", soci::into(count);
    return count;
  });
  EXPECT_EQ(rows, 0);
}

}  // namespace
}  // namespace intercab::db
