// Choosing, checking and applying schema migrations; see migrations.hpp for the rules a migration file follows.
#include "platform/db/migrations.hpp"

#include <openssl/evp.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <array>
#include <map>

#include "platform/log/log.hpp"

namespace intercab::db {
namespace {

// Serialises migrate() across processes on PostgreSQL: the bytes of "intercab" as a bigint advisory lock key.
constexpr std::string_view kMigrationLockKey = "7597137600480239970";
constexpr std::size_t kMaxVersionDigits = 9;  // keeps versions within int

enum class Variant { kCommon, kSqlite, kPostgres };

struct ParsedName {
  int version = 0;
  std::string name;
  Variant variant = Variant::kCommon;
};

bool is_name_character(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

[[noreturn]] void reject_file(std::string_view file_name, std::string_view problem) {
  throw MigrationError("migration file \"" + std::string(file_name) + "\" " + std::string(problem) +
                       "; files are named NNN_name.sql, or NNN_name.sqlite.sql plus NNN_name.postgres.sql");
}

ParsedName parse_file_name(std::string_view file_name) {
  ParsedName parsed;
  std::string_view rest = file_name;
  if (rest.ends_with(".sqlite.sql")) {
    parsed.variant = Variant::kSqlite;
    rest.remove_suffix(std::string_view(".sqlite.sql").size());
  } else if (rest.ends_with(".postgres.sql")) {
    parsed.variant = Variant::kPostgres;
    rest.remove_suffix(std::string_view(".postgres.sql").size());
  } else if (rest.ends_with(".sql")) {
    rest.remove_suffix(std::string_view(".sql").size());
  } else {
    reject_file(file_name, "does not end in .sql");
  }
  const auto underscore = rest.find('_');
  if (underscore == std::string_view::npos) reject_file(file_name, "has no '_' between its number and its name");
  const std::string_view digits = rest.substr(0, underscore);
  parsed.name = std::string(rest.substr(underscore + 1));
  if (digits.size() < 3 || digits.size() > kMaxVersionDigits ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    reject_file(file_name, "must start with a number of 3 to 9 digits (001, 002...)");
  }
  parsed.version = std::stoi(std::string(digits));
  if (parsed.version == 0) reject_file(file_name, "is numbered 0; numbers start at 001");
  if (parsed.name.empty() || !std::all_of(parsed.name.begin(), parsed.name.end(), is_name_character)) {
    reject_file(file_name, "must have a name of lower-case letters, digits and '_' after its number");
  }
  return parsed;
}

struct VersionFiles {
  const MigrationFile* common = nullptr;
  const MigrationFile* sqlite = nullptr;
  const MigrationFile* postgres = nullptr;
};

void validate_component(std::string_view component) {
  if (component.empty() || component.size() > 63 ||
      !std::all_of(component.begin(), component.end(), is_name_character)) {
    throw MigrationError("migration component \"" + std::string(component) +
                         "\" must be 1 to 63 lower-case letters, digits or '_'");
  }
}

// The transaction around one migration step. READ COMMITTED on PostgreSQL, so that after waiting for the advisory
// lock the step sees what the previous holder committed (a serialisable snapshot would predate it).
class MigrationTransaction {
 public:
  MigrationTransaction(soci::session& sql, Dialect dialect) : sql_(sql) {
    if (dialect == Dialect::kPostgres) {
      sql_ << "BEGIN ISOLATION LEVEL READ COMMITTED";
      sql_ << "SELECT pg_advisory_xact_lock(" << kMigrationLockKey << ")";
    } else {
      sql_ << "BEGIN IMMEDIATE";  // the database's single write lock, held until COMMIT
    }
  }
  ~MigrationTransaction() {
    if (committed_) return;
    try {
      sql_ << "ROLLBACK";
    } catch (const std::exception&) {
      // The connection is gone; Database::with_session notices and replaces it.
    }
  }
  MigrationTransaction(const MigrationTransaction&) = delete;
  MigrationTransaction& operator=(const MigrationTransaction&) = delete;

  void commit() {
    sql_ << "COMMIT";
    committed_ = true;
  }

 private:
  soci::session& sql_;
  bool committed_ = false;
};

void create_migrations_table(soci::session& sql, Dialect dialect) {
  const std::string applied_at = dialect == Dialect::kPostgres
                                     ? "applied_at TIMESTAMPTZ NOT NULL DEFAULT now()"
                                     : "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
  sql << "CREATE TABLE IF NOT EXISTS schema_migrations ("
         "component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL, " +
             applied_at + ", PRIMARY KEY (component, version))";
}

struct AppliedMigration {
  std::string name;
  std::string checksum;
};

std::map<int, AppliedMigration> read_applied(soci::session& sql, const std::string& component) {
  std::map<int, AppliedMigration> applied;
  int version = 0;
  AppliedMigration row;
  soci::statement select = (sql.prepare << "SELECT version, name, checksum FROM schema_migrations "
                                           "WHERE component = :component ORDER BY version",
                            soci::use(component), soci::into(version), soci::into(row.name), soci::into(row.checksum));
  select.execute();
  while (select.fetch()) applied[version] = row;
  return applied;
}

std::string describe_file(const std::string& component, const Migration& migration) {
  return "migration " + component + "/" + migration.file_name;
}

// One step under the lock: checks what is applied, then applies the first pending migration. Returns false when
// nothing was pending.
bool apply_next_migration(soci::session& sql, Dialect dialect, const std::string& component,
                          const std::vector<Migration>& migrations, MigrationReport& report) {
  MigrationTransaction transaction(sql, dialect);
  create_migrations_table(sql, dialect);
  const auto applied = read_applied(sql, component);

  const Migration* pending = nullptr;
  int matched = 0;
  for (const Migration& migration : migrations) {
    const auto found = applied.find(migration.version);
    if (found == applied.end()) {
      if (pending == nullptr) pending = &migration;
      continue;
    }
    ++matched;
    if (found->second.checksum != migration.checksum) {
      throw MigrationError(describe_file(component, migration) + " was changed after it was applied: checksum " +
                           found->second.checksum + " was applied, the file now has " + migration.checksum +
                           ". Never edit an applied migration: restore its original text and add a new migration "
                           "with the next number for the change.");
    }
  }
  report.unknown_versions.clear();
  for (const auto& [version, row] : applied) {
    const bool known = std::any_of(migrations.begin(), migrations.end(),
                                   [version = version](const Migration& m) { return m.version == version; });
    if (!known) report.unknown_versions.push_back(version);
  }

  if (pending == nullptr) {
    transaction.commit();
    report.already_applied = matched - static_cast<int>(report.applied.size());
    if (!report.unknown_versions.empty()) {
      log::warn("database has migrations this build does not know; a newer build migrated it",
                {{"component", component}, {"unknown_versions", report.unknown_versions.size()}});
    }
    return false;
  }
  if (!applied.empty() && pending->version < applied.rbegin()->first) {
    throw MigrationError(describe_file(component, *pending) + " is numbered below version " +
                         std::to_string(applied.rbegin()->first) +
                         ", which is already applied; renumber it after the last applied migration.");
  }
  try {
    run_sql_script(sql, dialect, pending->sql);
  } catch (const std::exception& e) {
    throw MigrationError(describe_file(component, *pending) + " failed and was rolled back: " + e.what());
  }
  sql << "INSERT INTO schema_migrations (component, version, name, checksum) "
         "VALUES (:component, :version, :name, :checksum)",
      soci::use(component), soci::use(pending->version), soci::use(pending->name), soci::use(pending->checksum);
  transaction.commit();
  report.applied.push_back(pending->file_name);
  log::info("applied migration", {{"component", component}, {"file", pending->file_name}});
  return true;
}

}  // namespace

std::vector<Migration> select_migrations(std::span<const MigrationFile> files, Dialect dialect) {
  std::map<int, VersionFiles> versions;
  std::map<int, std::string> names;
  for (const MigrationFile& file : files) {
    const ParsedName parsed = parse_file_name(file.file_name);
    VersionFiles& slot = versions[parsed.version];
    const MigrationFile*& target = parsed.variant == Variant::kCommon   ? slot.common
                                   : parsed.variant == Variant::kSqlite ? slot.sqlite
                                                                        : slot.postgres;
    if (target != nullptr) {
      throw MigrationError("migration files \"" + std::string(target->file_name) + "\" and \"" +
                           std::string(file.file_name) + "\" have the same number; give each migration its own");
    }
    target = &file;
    const auto [name, inserted] = names.emplace(parsed.version, parsed.name);
    if (!inserted && name->second != parsed.name) {
      throw MigrationError("migration files numbered " + std::to_string(parsed.version) + " are named \"" +
                           name->second + "\" and \"" + parsed.name +
                           "\"; the two dialect variants of a migration share one name");
    }
  }

  std::vector<Migration> selected;
  for (const auto& [version, slot] : versions) {
    const std::string& name = names[version];
    if (slot.common != nullptr && (slot.sqlite != nullptr || slot.postgres != nullptr)) {
      throw MigrationError("migration " + std::to_string(version) + " (" + name +
                           ") has both a common .sql file and dialect files; keep either the common file or the "
                           ".sqlite.sql/.postgres.sql pair");
    }
    if (slot.common == nullptr && (slot.sqlite == nullptr || slot.postgres == nullptr)) {
      const MigrationFile* present = slot.sqlite != nullptr ? slot.sqlite : slot.postgres;
      throw MigrationError("migration file \"" + std::string(present->file_name) +
                           "\" has no partner for the other dialect; add the matching " +
                           (slot.sqlite != nullptr ? ".postgres.sql" : ".sqlite.sql") +
                           " file, or use one common .sql file");
    }
    const MigrationFile* chosen = slot.common != nullptr          ? slot.common
                                  : dialect == Dialect::kPostgres ? slot.postgres
                                                                  : slot.sqlite;
    selected.push_back(Migration{version, name, std::string(chosen->file_name), chosen->sql, sha256_hex(chosen->sql)});
  }
  return selected;
}

MigrationReport migrate(Database& database, std::string_view component_name, std::span<const MigrationFile> files) {
  validate_component(component_name);
  const std::string component(component_name);
  std::vector<Migration> migrations;
  try {
    migrations = select_migrations(files, database.dialect());
  } catch (const MigrationError& e) {
    throw MigrationError("migrations of component \"" + component + "\": " + e.what());
  }
  MigrationReport report;
  const Dialect dialect = database.dialect();
  // One migration per transaction, so a long history does not hold the lock (or a huge transaction) at once.
  while (database.with_session(
      [&](soci::session& sql) { return apply_next_migration(sql, dialect, component, migrations, report); })) {
  }
  return report;
}

void run_sql_script(soci::session& sql, Dialect dialect, std::string_view script) {
  const std::string text(script);  // both APIs want a NUL-terminated string
  if (dialect == Dialect::kPostgres) {
    PGconn* connection = static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
    PGresult* result = PQexec(connection, text.c_str());
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
      PQclear(result);
      return;
    }
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string message = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(connection);
    PQclear(result);
    if (state == nullptr) state = PQstatus(connection) == CONNECTION_BAD ? "08000" : "XX000";
    throw soci::postgresql_soci_error(message, state);
  }
  auto* connection = static_cast<soci::sqlite3_session_backend*>(sql.get_backend())->conn_;
  char* error_message = nullptr;
  const int result = sqlite_api::sqlite3_exec(connection, text.c_str(), nullptr, nullptr, &error_message);
  if (result != SQLITE_OK) {
    std::string message = error_message != nullptr ? error_message : sqlite_api::sqlite3_errstr(result);
    sqlite_api::sqlite3_free(error_message);
    throw soci::sqlite3_soci_error(message, result);
  }
}

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(std::size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0f];
  }
  return hex;
}

}  // namespace intercab::db
