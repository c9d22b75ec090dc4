// Unit tests of migration file selection and validation (no database needed).
#include "platform/db/migrations.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace intercab::db {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string error_of(const std::vector<MigrationFile>& files) {
  try {
    select_migrations(files, Dialect::kSqlite);
  } catch (const MigrationError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no MigrationError";
  return {};
}

TEST(Sha256Hex, MatchesTheStandardTestVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SelectMigrations, SortsByVersionAndChecksumsTheText) {
  const std::vector<MigrationFile> files{
      {"010_ten.sql", "SELECT 10"}, {"002_two.sql", "SELECT 2"}, {"001_one.sql", "SELECT 1"}};
  const auto selected = select_migrations(files, Dialect::kPostgres);
  ASSERT_EQ(selected.size(), 3U);
  EXPECT_EQ(selected[0].version, 1);
  EXPECT_EQ(selected[0].name, "one");
  EXPECT_EQ(selected[0].file_name, "001_one.sql");
  EXPECT_EQ(selected[0].sql, "SELECT 1");
  EXPECT_EQ(selected[0].checksum, sha256_hex("SELECT 1"));
  EXPECT_EQ(selected[1].version, 2);
  EXPECT_EQ(selected[2].version, 10);
  EXPECT_EQ(selected[2].file_name, "010_ten.sql");
}

TEST(SelectMigrations, PicksTheDialectVariant) {
  const std::vector<MigrationFile> files{
      {"001_base.sql", "common"}, {"002_ids.postgres.sql", "postgres text"}, {"002_ids.sqlite.sql", "sqlite text"}};
  const auto for_sqlite = select_migrations(files, Dialect::kSqlite);
  const auto for_postgres = select_migrations(files, Dialect::kPostgres);
  ASSERT_EQ(for_sqlite.size(), 2U);
  ASSERT_EQ(for_postgres.size(), 2U);
  EXPECT_EQ(for_sqlite[0].sql, "common");
  EXPECT_EQ(for_postgres[0].sql, "common");
  EXPECT_EQ(for_sqlite[1].sql, "sqlite text");
  EXPECT_EQ(for_sqlite[1].file_name, "002_ids.sqlite.sql");
  EXPECT_EQ(for_sqlite[1].name, "ids");
  EXPECT_EQ(for_postgres[1].sql, "postgres text");
  EXPECT_EQ(for_postgres[1].file_name, "002_ids.postgres.sql");
}

TEST(SelectMigrations, NoFilesIsNoMigrations) { EXPECT_TRUE(select_migrations({}, Dialect::kSqlite).empty()); }

TEST(SelectMigrations, RejectsBadFileNames) {
  EXPECT_THAT(error_of({{"1_short.sql", ""}}), AllOf(HasSubstr("\"1_short.sql\""), HasSubstr("3 to 9 digits")));
  EXPECT_THAT(error_of({{"0001234567890_long.sql", ""}}), HasSubstr("3 to 9 digits"));
  EXPECT_THAT(error_of({{"001-dash.sql", ""}}), HasSubstr("no '_'"));
  EXPECT_THAT(error_of({{"001_Upper.sql", ""}}), HasSubstr("lower-case"));
  EXPECT_THAT(error_of({{"001_.sql", ""}}), HasSubstr("lower-case"));
  EXPECT_THAT(error_of({{"000_zero.sql", ""}}), HasSubstr("start at 001"));
  EXPECT_THAT(error_of({{"001_notes.txt", ""}}), HasSubstr("does not end in .sql"));
  EXPECT_THAT(error_of({{"001_x.mysql.sql", ""}}), HasSubstr("lower-case"));
  EXPECT_THAT(error_of({{"abc_x.sql", ""}}), HasSubstr("3 to 9 digits"));
}

TEST(SelectMigrations, RejectsAVersionUsedTwice) {
  EXPECT_THAT(error_of({{"001_a.sql", ""}, {"001_b.sql", ""}}),
              AllOf(HasSubstr("001_a.sql"), HasSubstr("001_b.sql"), HasSubstr("same number")));
  EXPECT_THAT(error_of({{"001_a.sql", ""}, {"0001_a.sql", ""}}), HasSubstr("same number"));
  EXPECT_THAT(error_of({{"002_a.sqlite.sql", ""}, {"002_a.sqlite.sql", ""}}), HasSubstr("same number"));
}

TEST(SelectMigrations, RejectsACommonFileNextToDialectFiles) {
  EXPECT_THAT(error_of({{"003_x.sql", ""}, {"003_x.sqlite.sql", ""}, {"003_x.postgres.sql", ""}}),
              HasSubstr("both a common .sql file and dialect files"));
}

TEST(SelectMigrations, RejectsADialectFileWithoutItsPartner) {
  EXPECT_THAT(error_of({{"004_only.sqlite.sql", ""}}),
              AllOf(HasSubstr("004_only.sqlite.sql"), HasSubstr("add the matching .postgres.sql")));
  EXPECT_THAT(error_of({{"004_only.postgres.sql", ""}}), HasSubstr("add the matching .sqlite.sql"));
}

TEST(SelectMigrations, RejectsDialectVariantsWithDifferentNames) {
  EXPECT_THAT(error_of({{"005_left.sqlite.sql", ""}, {"005_right.postgres.sql", ""}}),
              AllOf(HasSubstr("\"left\""), HasSubstr("\"right\""), HasSubstr("share one name")));
}

}  // namespace
}  // namespace intercab::db
