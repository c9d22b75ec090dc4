// Numbered, checksummed schema migrations compiled into the binary and applied once per database and component.
//
// Files are named NNN_name.sql (NNN: three or more digits, from 001; name: lower-case letters, digits, '_') and
// hold SQL that both dialects accept. Where a dialect needs its own text (triggers, functions, identity columns),
// the version has NNN_name.sqlite.sql and NNN_name.postgres.sql instead, always as a pair.
//
// Each file runs as one script through the backend's own multi-statement execution (sqlite3_exec, libpq's simple
// query protocol), so it may hold any number of statements, including CREATE TRIGGER ... BEGIN ...; END and
// dollar-quoted PostgreSQL function bodies. A file must not contain BEGIN/COMMIT: the runner wraps it, together
// with its row in schema_migrations, in one transaction, so it applies completely or not at all.
//
// The SQL of an applied migration must never change: migrate() compares SHA-256 checksums and stops with a
// MigrationError. To change a schema, add a migration with the next number.
#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "platform/db/db.hpp"

namespace intercab::db {

// A migration file as embedded by intercab_migrations() in CMake: its file name (no directory) and its text.
struct MigrationFile {
  std::string_view file_name;
  std::string_view sql;
};

// A bad set of migration files, an edited applied migration, or a migration that failed; what() names the
// component and file and says what to do.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One migration chosen for a dialect.
struct Migration {
  int version = 0;
  std::string name;       // "create_bookings"
  std::string file_name;  // the file chosen for the dialect: "001_create_bookings.sql" or "...postgres.sql"
  std::string_view sql;
  std::string checksum;  // lower-case hex SHA-256 of sql
};

// The migrations for `dialect` in version order. Throws MigrationError for a bad file name, a version used twice,
// or a dialect-specific file without its partner.
std::vector<Migration> select_migrations(std::span<const MigrationFile> files, Dialect dialect);

struct MigrationReport {
  std::vector<std::string> applied;  // file names applied by this call, in order
  int already_applied = 0;           // versions found applied with matching checksums
  // Versions recorded in the database that are not among the files: a newer build migrated this database.
  std::vector<int> unknown_versions;
};

// Applies the pending migrations of `component` ("platform", "booking"...: several share one database, each with
// its own version sequence in schema_migrations). Safe when several processes migrate at once: they take turns
// (PostgreSQL advisory lock, SQLite write lock), and each migration is applied exactly once.
// Throws MigrationError when an applied migration's checksum differs from its file, when a new file is numbered
// below an applied one, or when a migration fails (it is then rolled back); DatabaseUnavailable as usual.
MigrationReport migrate(Database& database, std::string_view component, std::span<const MigrationFile> files);

// Runs a script of one or more statements on `sql` (see the rule above), throwing SOCI's error for the dialect.
void run_sql_script(soci::session& sql, Dialect dialect, std::string_view script);

// Lower-case hex SHA-256, as stored in schema_migrations.checksum.
std::string sha256_hex(std::string_view text);

}  // namespace intercab::db
