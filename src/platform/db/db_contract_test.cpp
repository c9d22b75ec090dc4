// The contract of platform/db, run against both backends: SQLite (a file under a TempDir) and PostgreSQL (a
// private server shared by this binary). Each test works in a database of its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "platform/db/db.hpp"
#include "platform/db/migrations.hpp"
#include "postgres_server.hpp"
#include "process.hpp"

namespace intercab::embedded {
std::span<const db::MigrationFile> contract_test_migrations();
}

namespace intercab::db {

void PrintTo(Dialect dialect, std::ostream* out) { *out << to_string(dialect); }

namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::filesystem::path& sqlite_directory() {
  static const testing::TempDir directory("db-contract");
  return directory.path();
}

class DbContractTest : public ::testing::TestWithParam<Dialect> {
 protected:
  Dialect dialect() const { return GetParam(); }

  // A database name no other test uses.
  static std::string fresh_name() {
    static std::atomic<int> counter{0};
    return "contract_" + std::to_string(++counter);
  }

  std::string url_for(const std::string& name) const {
    if (dialect() == Dialect::kPostgres) return testing::PostgresServer::shared().url(name);
    return "sqlite://" + (sqlite_directory() / (name + ".db")).string();
  }

  std::unique_ptr<Database> open_fresh(const DatabaseOptions& options = {}) {
    database_url_ = url_for(fresh_name());
    return Database::open(database_url_, options);
  }

  // Another pool on the same database, as a second process would have.
  std::unique_ptr<Database> open_again(const DatabaseOptions& options = {}) const {
    return Database::open(database_url_, options);
  }

  static void execute(Database& database, const std::string& statement) {
    database.transact([&](Tx& tx) { tx.sql() << statement; });
  }

  static long long count(Database& database, const std::string& query) {
    return database.with_session([&](soci::session& sql) {
      long long result = 0;
      sql << query, soci::into(result);
      return result;
    });
  }

  std::string auto_id_column() const {
    return dialect() == Dialect::kPostgres ? "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
                                           : "id INTEGER PRIMARY KEY";
  }

  std::string database_url_;
};

std::string dialect_name(const ::testing::TestParamInfo<Dialect>& info) { return std::string(to_string(info.param)); }

INSTANTIATE_TEST_SUITE_P(Backends, DbContractTest, ::testing::Values(Dialect::kSqlite, Dialect::kPostgres),
                         dialect_name);

// ---- opening ----

TEST_P(DbContractTest, OpenCreatesTheDatabase) {
  const std::string name = fresh_name();
  std::string url = url_for(name);
  if (dialect() == Dialect::kSqlite) {
    url = "sqlite://" + (sqlite_directory() / "nested" / name / "deeper" / "x.db").string();
  }
  auto database = Database::open(url);
  EXPECT_EQ(database->dialect(), dialect());
  EXPECT_EQ(database->unavailable_reason(), std::nullopt);
  if (dialect() == Dialect::kPostgres) {
    const auto current = database->with_session([](soci::session& sql) {
      std::string value;
      sql << "SELECT current_database()", soci::into(value);
      return value;
    });
    EXPECT_EQ(current, name);
  } else {
    EXPECT_TRUE(std::filesystem::exists(sqlite_directory() / "nested" / name / "deeper" / "x.db"));
  }
  // Opening an existing database works as well, and sees what the first pool wrote.
  execute(*database, "CREATE TABLE marker (id BIGINT)");
  execute(*database, "INSERT INTO marker VALUES (7)");
  auto again = Database::open(url);
  EXPECT_EQ(count(*again, "SELECT id FROM marker"), 7);
}

// SQLite: WAL, busy_timeout and foreign keys; PostgreSQL: UTC session time zone, on every pooled connection.
TEST_P(DbContractTest, EveryPooledConnectionIsConfigured) {
  DatabaseOptions options;
  options.pool_size = 3;
  options.busy_timeout = std::chrono::milliseconds(1234);
  auto database = open_fresh(options);
  // Hold every pooled session at once, so each connection is checked, not just the first.
  std::vector<std::string> seen;
  std::function<void(int)> check = [&](int depth) {
    database->with_session([&](soci::session& sql) {
      if (dialect() == Dialect::kPostgres) {
        std::string time_zone;
        sql << "SHOW TimeZone", soci::into(time_zone);
        seen.push_back(time_zone);
      } else {
        std::string journal_mode;
        int busy_timeout = 0;
        int foreign_keys = 0;
        sql << "PRAGMA journal_mode", soci::into(journal_mode);
        sql << "PRAGMA busy_timeout", soci::into(busy_timeout);
        sql << "PRAGMA foreign_keys", soci::into(foreign_keys);
        seen.push_back(journal_mode + "/" + std::to_string(busy_timeout) + "/" + std::to_string(foreign_keys));
      }
      if (depth > 1) check(depth - 1);
    });
  };
  check(3);
  const std::string expected = dialect() == Dialect::kPostgres ? "UTC" : "wal/1234/1";
  EXPECT_THAT(seen, ElementsAre(expected, expected, expected));
}

TEST_P(DbContractTest, OpenWithoutCreateIfMissingFailsAsUnavailable) {
  DatabaseOptions options;
  options.create_if_missing = false;
  const std::string name = fresh_name();
  try {
    Database::open(url_for(name), options);
    FAIL() << "opened a missing database";
  } catch (const DatabaseUnavailable& e) {
    EXPECT_THAT(e.what(), HasSubstr(name));
  }
}

TEST(SqliteInMemory, IsOneDatabaseSharedByTheWholePool) {
  DatabaseOptions options;
  options.pool_size = 4;  // ignored: every connection to :memory: would be a database of its own
  auto database = Database::open("sqlite::memory:", options);
  database->transact([](Tx& tx) {
    tx.sql() << "CREATE TABLE notes (body TEXT)";
    tx.sql() << "INSERT INTO notes VALUES ('kept')";
  });
  const std::string body = database->with_session([](soci::session& sql) {
    std::string value;
    sql << "SELECT body FROM notes", soci::into(value);
    return value;
  });
  EXPECT_EQ(body, "kept");
}

// ---- transactions ----

TEST_P(DbContractTest, TransactCommitsAndReturnsTheResult) {
  auto database = open_fresh();
  execute(*database, "CREATE TABLE rides (" + auto_id_column() + ", city TEXT NOT NULL)");
  const auto insert = [&](const std::string& city) {
    return database->transact([&](Tx& tx) {
      long long id = 0;
      tx.sql() << "INSERT INTO rides (city) VALUES (:city) RETURNING id", soci::use(city), soci::into(id);
      return id;
    });
  };
  const long long first = insert("Pune");
  const long long second = insert("Goa");
  EXPECT_GT(first, 0);
  EXPECT_EQ(second, first + 1);
  const std::string city = database->with_session([&](soci::session& sql) {
    std::string value;
    sql << "SELECT city FROM rides WHERE id = :id", soci::use(second), soci::into(value);
    return value;
  });
  EXPECT_EQ(city, "Goa");
  // A transaction's result may be any value type.
  const auto both = database->transact([](Tx& tx) {
    std::vector<std::string> cities(10);
    tx.sql() << "SELECT city FROM rides ORDER BY id", soci::into(cities);
    return cities;
  });
  EXPECT_THAT(both, ElementsAre("Pune", "Goa"));
}

TEST_P(DbContractTest, TransactRollsBackWhenWorkThrowsAndPassesTheExceptionOn) {
  auto database = open_fresh();
  execute(*database, "CREATE TABLE rides (id BIGINT PRIMARY KEY)");
  int runs = 0;
  try {
    database->transact([&](Tx& tx) {
      ++runs;
      tx.sql() << "INSERT INTO rides (id) VALUES (1)";
      throw std::out_of_range("fare above the limit");
    });
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "fare above the limit");
  }
  EXPECT_EQ(runs, 1);  // not a conflict, so not retried
  EXPECT_EQ(count(*database, "SELECT count(*) FROM rides"), 0);
  // The session went back to the pool clean: the next transaction works.
  execute(*database, "INSERT INTO rides (id) VALUES (2)");
  EXPECT_EQ(count(*database, "SELECT count(*) FROM rides"), 1);
}

TEST_P(DbContractTest, ValuesRoundTrip) {
  auto database = open_fresh();
  execute(*database,
          "CREATE TABLE samples (id BIGINT PRIMARY KEY, whole BIGINT, real_number DOUBLE PRECISION, words TEXT)");
  const std::vector<long long> wholes{
      0, -1, 1, std::numeric_limits<long long>::max(), std::numeric_limits<long long>::min(), 4'294'967'296LL};
  const std::vector<double> reals{0.0, -0.5, 0.1, 3.141592653589793, 1e300, -2.2250738585072014e-308, 123456.789};
  const std::vector<std::string> texts{
      "",
      " leading and trailing ",
      "O'Reilly \"quoted\" \\backslash\\",
      "'; DROP TABLE samples; --",
      "Robert'); DELETE FROM samples WHERE ('1' = '1",
      "%s %n %x %d {0} ${jndi:ldap://example.org/a}",
      "<script>alert(1)</script>",
      "null",
      "NULL",
      "tab\tnewline\ncarriage\rend",
      "\x7f\x01\x1f control bytes",
      "Zürich, São Paulo, Łódź, İstanbul",
      "मुंबई बेंगलुरु 中文 日本語 한국어",
      "مرحبا بالعالم \u200f RTL \u202e reversed",
      "emoji 🚕🚖🛺 and a flag 🇮🇳 and a family 👨‍👩‍👧",
      "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
      "\ufeffbyte order mark, zero\u200bwidth, soft\u00adhyphen",
      std::string(100'000, 'x') + "é",
  };
  database->transact([&](Tx& tx) {
    long long id = 0;
    for (std::size_t i = 0; i < std::max({wholes.size(), reals.size(), texts.size()}); ++i) {
      const long long whole = wholes[i % wholes.size()];
      const double real_number = reals[i % reals.size()];
      const std::string& words = texts[i % texts.size()];
      ++id;
      tx.sql() << "INSERT INTO samples (id, whole, real_number, words) VALUES (:id, :whole, :real_number, :words)",
          soci::use(id), soci::use(whole), soci::use(real_number), soci::use(words);
    }
  });
  database->with_session([&](soci::session& sql) {
    for (std::size_t i = 0; i < std::max({wholes.size(), reals.size(), texts.size()}); ++i) {
      const long long id = static_cast<long long>(i) + 1;
      long long whole = 0;
      double real_number = 0;
      std::string words;
      sql << "SELECT whole, real_number, words FROM samples WHERE id = :id", soci::use(id), soci::into(whole),
          soci::into(real_number), soci::into(words);
      EXPECT_EQ(whole, wholes[i % wholes.size()]) << "row " << id;
      EXPECT_EQ(real_number, reals[i % reals.size()]) << "row " << id;
      EXPECT_EQ(words, texts[i % texts.size()]) << "row " << id;
    }
  });
}

TEST_P(DbContractTest, NullRoundTripsThroughIndicatorsAndOptionals) {
  auto database = open_fresh();
  execute(*database,
          "CREATE TABLE maybe (id BIGINT PRIMARY KEY, words TEXT, whole BIGINT, real_number DOUBLE PRECISION)");
  database->transact([](Tx& tx) {
    const std::optional<std::string> no_words;
    const std::optional<long long> no_whole;
    const std::optional<double> no_real;
    tx.sql() << "INSERT INTO maybe VALUES (1, :words, :whole, :real_number)", soci::use(no_words), soci::use(no_whole),
        soci::use(no_real);
    const std::optional<std::string> words = "present";
    const std::optional<long long> whole = 42;
    const std::optional<double> real_number = 2.5;
    tx.sql() << "INSERT INTO maybe VALUES (2, :words, :whole, :real_number)", soci::use(words), soci::use(whole),
        soci::use(real_number);
    std::string empty_text;
    soci::indicator null = soci::i_null;
    tx.sql() << "INSERT INTO maybe (id, words) VALUES (3, :words)", soci::use(empty_text, null);
  });
  database->with_session([](soci::session& sql) {
    std::optional<std::string> words = "stale";
    std::optional<long long> whole = 1;
    std::optional<double> real_number = 1.0;
    sql << "SELECT words, whole, real_number FROM maybe WHERE id = 1", soci::into(words), soci::into(whole),
        soci::into(real_number);
    EXPECT_EQ(words, std::nullopt);
    EXPECT_EQ(whole, std::nullopt);
    EXPECT_EQ(real_number, std::nullopt);

    sql << "SELECT words, whole, real_number FROM maybe WHERE id = 2", soci::into(words), soci::into(whole),
        soci::into(real_number);
    EXPECT_EQ(words, "present");
    EXPECT_EQ(whole, 42);
    EXPECT_EQ(real_number, 2.5);

    std::string text;
    soci::indicator indicator = soci::i_ok;
    sql << "SELECT words FROM maybe WHERE id = 3", soci::into(text, indicator);
    EXPECT_EQ(indicator, soci::i_null);
    // NULL and the empty string stay different.
    sql << "INSERT INTO maybe (id, words) VALUES (4, '')";
    sql << "SELECT words FROM maybe WHERE id = 4", soci::into(text, indicator);
    EXPECT_EQ(indicator, soci::i_ok);
    EXPECT_EQ(text, "");
  });
}

TEST_P(DbContractTest, UniqueViolationThrowsAnSqlErrorAndLeavesTheDataIntact) {
  auto database = open_fresh();
  execute(*database, "CREATE TABLE drivers (id BIGINT PRIMARY KEY, phone TEXT NOT NULL UNIQUE)");
  execute(*database, "INSERT INTO drivers VALUES (1, '+911234567890')");
  try {
    database->transact([](Tx& tx) {
      tx.sql() << "INSERT INTO drivers VALUES (2, '+919999999999')";
      tx.sql() << "INSERT INTO drivers VALUES (3, '+911234567890')";
    });
    FAIL() << "duplicate phone accepted";
  } catch (const DatabaseUnavailable& e) {
    FAIL() << "an SQL error must not look like an outage: " << e.what();
  } catch (const soci::soci_error& e) {
    EXPECT_TRUE(is_unique_violation(e)) << e.what();
  }
  EXPECT_EQ(count(*database, "SELECT count(*) FROM drivers"), 1);  // row 2 was rolled back with row 3
  EXPECT_EQ(count(*database, "SELECT id FROM drivers WHERE phone = '+911234567890'"), 1);

  try {
    execute(*database, "INSERT INTO drivers VALUES (1, '+910000000000')");
    FAIL() << "duplicate primary key accepted";
  } catch (const soci::soci_error& e) {
    EXPECT_TRUE(is_unique_violation(e)) << e.what();
  }
  try {
    execute(*database, "INSERT INTO drivers (id) VALUES (5)");  // NOT NULL: a constraint, but not a unique one
    FAIL() << "NULL phone accepted";
  } catch (const soci::soci_error& e) {
    EXPECT_FALSE(is_unique_violation(e)) << e.what();
  }
}

TEST_P(DbContractTest, ConcurrentReadModifyWriteTransactionsLoseNoUpdate) {
  DatabaseOptions options;
  options.pool_size = 4;
  // PostgreSQL reports a serialisation failure whenever two increments overlap; under sanitizers on a busy
  // machine that happens often, and every one must be retried rather than lost.
  options.max_transaction_attempts = 1000;
  auto database = open_fresh(options);
  execute(*database, "CREATE TABLE counter (id BIGINT PRIMARY KEY, value BIGINT NOT NULL)");
  execute(*database, "INSERT INTO counter VALUES (1, 0)");

  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 50;
  std::atomic<int> runs{0};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        try {
          database->transact([&](Tx& tx) {
            ++runs;
            long long value = 0;
            tx.sql() << "SELECT value FROM counter WHERE id = 1", soci::into(value);
            const long long next = value + 1;
            tx.sql() << "UPDATE counter SET value = :next WHERE id = 1", soci::use(next);
          });
        } catch (const std::exception& e) {
          const std::lock_guard lock(errors_mutex);
          errors.emplace_back(e.what());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(count(*database, "SELECT value FROM counter WHERE id = 1"), kThreads * kIncrementsPerThread);
  EXPECT_GE(runs.load(), kThreads * kIncrementsPerThread);
  RecordProperty("work_runs", runs.load());
}

// A conflict that happens on every attempt: the work runs max_transaction_attempts times, then TransactionConflict.
TEST_P(DbContractTest, ConflictsAreRetriedAndFinallyReported) {
  DatabaseOptions options;
  options.max_transaction_attempts = 3;
  options.busy_timeout = std::chrono::milliseconds(20);
  auto database = open_fresh(options);
  execute(*database, "CREATE TABLE counter (id BIGINT PRIMARY KEY, value BIGINT NOT NULL)");
  execute(*database, "INSERT INTO counter VALUES (1, 0)");
  auto other = open_again();

  if (dialect() == Dialect::kPostgres) {
    // Another connection commits a change to the row between this transaction's read and its write.
    int runs = 0;
    int interfere_until_run = 2;
    const auto increment = [&](Tx& tx) {
      ++runs;
      long long value = 0;
      tx.sql() << "SELECT value FROM counter WHERE id = 1", soci::into(value);
      if (runs <= interfere_until_run) {
        other->with_session([](soci::session& sql) { sql << "UPDATE counter SET value = value + 100 WHERE id = 1"; });
      }
      const long long next = value + 1;
      tx.sql() << "UPDATE counter SET value = :next WHERE id = 1", soci::use(next);
    };
    database->transact(increment);  // two conflicts, then success
    EXPECT_EQ(runs, 3);
    EXPECT_EQ(count(*database, "SELECT value FROM counter WHERE id = 1"), 201);

    runs = 0;
    interfere_until_run = 1000;
    try {
      database->transact(increment);
      FAIL() << "no TransactionConflict";
    } catch (const TransactionConflict& e) {
      EXPECT_THAT(e.what(), AllOf(HasSubstr("3 attempts"), HasSubstr("could not serialize")));
    }
    EXPECT_EQ(runs, 3);
    return;
  }

  // SQLite: another connection holds the write lock longer than busy_timeout on every attempt.
  std::promise<void> holding;
  std::promise<void> release;
  std::thread holder([&] {
    other->transact([&](Tx& tx) {
      tx.sql() << "UPDATE counter SET value = 100 WHERE id = 1";
      holding.set_value();
      release.get_future().wait();
    });
  });
  holding.get_future().wait();
  int runs = 0;
  try {
    database->transact([&](Tx&) { ++runs; });
    ADD_FAILURE() << "no TransactionConflict";
  } catch (const TransactionConflict& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("3 attempts"), HasSubstr("locked")));
  }
  EXPECT_EQ(runs, 0);  // BEGIN IMMEDIATE itself waited for the lock, so no work ran
  release.set_value();
  holder.join();
  database->transact([&](Tx&) { ++runs; });
  EXPECT_EQ(runs, 1);
}

TEST_P(DbContractTest, WithSessionMustNotLeaveATransactionOpen) {
  auto database = open_fresh();
  execute(*database, "CREATE TABLE t (id BIGINT)");
  EXPECT_THROW(database->with_session([](soci::session& sql) {
    sql << "BEGIN";
    sql << "INSERT INTO t VALUES (1)";
  }),
               std::logic_error);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM t"), 0);
}

TEST_P(DbContractTest, AnExhaustedPoolIsReportedAsUnavailableAfterTheWait) {
  DatabaseOptions options;
  options.pool_size = 1;
  options.pool_wait_timeout = std::chrono::milliseconds(200);
  auto database = open_fresh(options);
  database->with_session([&](soci::session&) {
    try {
      database->with_session([](soci::session&) {});
      ADD_FAILURE() << "a second session from a pool of one";
    } catch (const DatabaseUnavailable& e) {
      EXPECT_THAT(e.what(), AllOf(HasSubstr("no free connection"), HasSubstr("200 ms"), HasSubstr("pool_size 1")));
    }
    EXPECT_THAT(database->unavailable_reason().value_or(""), HasSubstr("no free connection"));
  });
  EXPECT_EQ(database->unavailable_reason(), std::nullopt);
}

// ---- migrations ----

std::span<const MigrationFile> contract_migrations() { return embedded::contract_test_migrations(); }

TEST_P(DbContractTest, MigrationsApplyInOrderAndAreRecorded) {
  auto database = open_fresh();
  const auto report = migrate(*database, "contract", contract_migrations());
  const std::string dialect_file = "003_widget_audit." + std::string(to_string(dialect())) + ".sql";
  EXPECT_THAT(report.applied, ElementsAre("001_create_widgets.sql", "002_add_widget_colour.sql", dialect_file));
  EXPECT_EQ(report.already_applied, 0);
  EXPECT_TRUE(report.unknown_versions.empty());

  const auto expected = select_migrations(contract_migrations(), dialect());
  database->with_session([&](soci::session& sql) {
    int version = 0;
    std::string name;
    std::string checksum;
    std::string applied_at;
    soci::statement rows = (sql.prepare << "SELECT version, name, checksum, applied_at FROM schema_migrations "
                                           "WHERE component = 'contract' ORDER BY version",
                            soci::into(version), soci::into(name), soci::into(checksum), soci::into(applied_at));
    rows.execute();
    std::size_t index = 0;
    while (rows.fetch()) {
      ASSERT_LT(index, expected.size());
      EXPECT_EQ(version, expected[index].version);
      EXPECT_EQ(name, expected[index].name);
      EXPECT_EQ(checksum, expected[index].checksum);
      EXPECT_EQ(checksum, sha256_hex(expected[index].sql));
      EXPECT_FALSE(applied_at.empty());
      ++index;
    }
    EXPECT_EQ(index, 3U);
  });

  // 002 ran both statements (its string literal holds ';' and '--'); 003 installed the dialect's trigger.
  const std::string first = database->with_session([](soci::session& sql) {
    std::string value;
    sql << "SELECT name || '/' || colour FROM widgets WHERE id = 1", soci::into(value);
    return value;
  });
  EXPECT_EQ(first, "first; not -- a comment/grey");
  execute(*database, "INSERT INTO widgets (id, name) VALUES (2, 'second')");
  const std::string recorded_by = database->with_session([](soci::session& sql) {
    std::string value;
    sql << "SELECT recorded_by FROM widget_audit WHERE widget_id = 2", soci::into(value);
    return value;
  });
  EXPECT_EQ(recorded_by, std::string(to_string(dialect())) + " trigger");
}

TEST_P(DbContractTest, MigrateIsIdempotent) {
  auto database = open_fresh();
  migrate(*database, "contract", contract_migrations());
  const auto again = migrate(*database, "contract", contract_migrations());
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(again.already_applied, 3);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM schema_migrations"), 3);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM widgets"), 1);  // 002's insert did not run twice
}

TEST_P(DbContractTest, AnEditedAppliedMigrationIsRefused) {
  auto database = open_fresh();
  migrate(*database, "contract", contract_migrations());
  std::vector<MigrationFile> edited(contract_migrations().begin(), contract_migrations().end());
  const std::string new_text = "ALTER TABLE widgets ADD COLUMN colour TEXT NOT NULL DEFAULT 'blue';";
  std::string old_text;
  for (auto& file : edited) {
    if (file.file_name == "002_add_widget_colour.sql") {
      old_text = std::string(file.sql);
      file.sql = new_text;
    }
  }
  ASSERT_FALSE(old_text.empty());
  try {
    migrate(*database, "contract", edited);
    FAIL() << "edited migration accepted";
  } catch (const MigrationError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("contract/002_add_widget_colour.sql"), HasSubstr(sha256_hex(old_text)),
                                HasSubstr(sha256_hex(new_text)), HasSubstr("add a new migration")));
  }
}

TEST_P(DbContractTest, ComponentsShareADatabaseWithTheirOwnVersions) {
  auto database = open_fresh();
  const std::vector<MigrationFile> gadgets{{"001_create_gadgets.sql", "CREATE TABLE gadgets (id BIGINT PRIMARY KEY);"}};
  EXPECT_EQ(migrate(*database, "alpha", contract_migrations()).applied.size(), 3U);
  EXPECT_THAT(migrate(*database, "beta", gadgets).applied, ElementsAre("001_create_gadgets.sql"));
  EXPECT_EQ(migrate(*database, "alpha", contract_migrations()).already_applied, 3);
  EXPECT_EQ(migrate(*database, "beta", gadgets).already_applied, 1);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM schema_migrations WHERE component = 'alpha'"), 3);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM schema_migrations WHERE component = 'beta'"), 1);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM gadgets"), 0);
  EXPECT_THROW(migrate(*database, "Bad-Name", gadgets), MigrationError);
}

TEST_P(DbContractTest, AFailedMigrationIsRolledBackCompletely) {
  auto database = open_fresh();
  const std::vector<MigrationFile> broken{
      {"001_first.sql", "CREATE TABLE first_table (id BIGINT);"},
      {"002_second.sql", "CREATE TABLE half_done (id BIGINT); INSERT INTO no_such_table VALUES (1);"}};
  try {
    migrate(*database, "shaky", broken);
    FAIL() << "broken migration applied";
  } catch (const MigrationError& e) {
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr("shaky/002_second.sql"), HasSubstr("rolled back"), HasSubstr("no_such_table")));
  }
  EXPECT_EQ(count(*database, "SELECT count(*) FROM first_table"), 0);  // 001 stayed applied
  EXPECT_THROW(count(*database, "SELECT count(*) FROM half_done"), soci::soci_error);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM schema_migrations WHERE component = 'shaky'"), 1);

  const std::vector<MigrationFile> fixed{{"001_first.sql", broken[0].sql},
                                         {"002_second.sql", "CREATE TABLE half_done (id BIGINT);"}};
  EXPECT_THAT(migrate(*database, "shaky", fixed).applied, ElementsAre("002_second.sql"));
}

TEST_P(DbContractTest, AMigrationNumberedBelowAnAppliedOneIsRefused) {
  auto database = open_fresh();
  const std::vector<MigrationFile> first{{"001_a.sql", "CREATE TABLE a (id BIGINT);"},
                                         {"003_c.sql", "CREATE TABLE c (id BIGINT);"}};
  migrate(*database, "late", first);
  std::vector<MigrationFile> with_late_file = first;
  with_late_file.push_back({"002_b.sql", "CREATE TABLE b (id BIGINT);"});
  try {
    migrate(*database, "late", with_late_file);
    FAIL() << "out-of-order migration applied";
  } catch (const MigrationError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("late/002_b.sql"), HasSubstr("below version 3"), HasSubstr("renumber")));
  }
}

TEST_P(DbContractTest, MigrationsFromANewerBuildAreReportedNotRefused) {
  auto database = open_fresh();
  migrate(*database, "contract", contract_migrations());
  const std::vector<MigrationFile> older(contract_migrations().begin(), contract_migrations().begin() + 2);
  const auto report = migrate(*database, "contract", older);
  EXPECT_TRUE(report.applied.empty());
  EXPECT_EQ(report.already_applied, 2);
  EXPECT_THAT(report.unknown_versions, ElementsAre(3));
}

TEST_P(DbContractTest, ConcurrentMigrateAppliesEachMigrationOnce) {
  auto database = open_fresh();
  constexpr int kProcesses = 4;
  std::vector<std::unique_ptr<Database>> pools;
  for (int i = 0; i < kProcesses; ++i) pools.push_back(open_again());
  std::vector<std::future<MigrationReport>> reports;
  for (auto& pool : pools) {
    reports.push_back(
        std::async(std::launch::async, [&pool] { return migrate(*pool, "contract", contract_migrations()); }));
  }
  std::size_t applied = 0;
  for (auto& report : reports) applied += report.get().applied.size();
  EXPECT_EQ(applied, 3U);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM schema_migrations"), 3);
  EXPECT_EQ(count(*database, "SELECT count(*) FROM widgets"), 1);
}

}  // namespace
}  // namespace intercab::db
