// Unit tests of parse_connection_url: the accepted forms, what SOCI gets, masking, and the error messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "platform/db/db.hpp"

namespace intercab::db {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string error_of(std::string_view url) {
  try {
    parse_connection_url(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << url;
  return {};
}

TEST(ConnectionUrl, SqliteAbsolutePath) {
  const auto url = parse_connection_url("sqlite:///var/lib/intercab/booking.db");
  EXPECT_EQ(url.dialect, Dialect::kSqlite);
  EXPECT_EQ(url.database, "/var/lib/intercab/booking.db");
  EXPECT_EQ(url.connect_string, "db=\"/var/lib/intercab/booking.db\"");
  EXPECT_EQ(url.display, "sqlite:///var/lib/intercab/booking.db");
}

TEST(ConnectionUrl, SqliteRelativePathIsTakenFromTheWorkingDirectory) {
  const auto url = parse_connection_url("sqlite://data/booking.db");
  EXPECT_EQ(url.database, (std::filesystem::current_path() / "data" / "booking.db").string());
}

TEST(ConnectionUrl, SqlitePathIsNormalisedAndMayContainSpaces) {
  EXPECT_EQ(parse_connection_url("sqlite:///srv/a/../b/x.db").database, "/srv/b/x.db");
  const auto url = parse_connection_url("sqlite:///srv/my data/x.db");
  EXPECT_EQ(url.connect_string, "db=\"/srv/my data/x.db\"");
}

TEST(ConnectionUrl, SqliteInMemory) {
  const auto url = parse_connection_url("sqlite::memory:");
  EXPECT_EQ(url.dialect, Dialect::kSqlite);
  EXPECT_EQ(url.database, ":memory:");
}

TEST(ConnectionUrl, PostgresWithEverything) {
  const auto url = parse_connection_url("postgresql://booker:s3cret@db.example:6543/booking?sslmode=require");
  EXPECT_EQ(url.dialect, Dialect::kPostgres);
  EXPECT_EQ(url.database, "booking");
  EXPECT_EQ(url.connect_string,
            "host='db.example' port='6543' user='booker' password='s3cret' sslmode='require' connect_timeout='5' "
            "dbname='booking'");
  EXPECT_EQ(url.maintenance_connect_string,
            "host='db.example' port='6543' user='booker' password='s3cret' sslmode='require' connect_timeout='5' "
            "dbname='postgres'");
  EXPECT_EQ(url.display, "postgresql://booker:***@db.example:6543/booking?sslmode=require");
}

TEST(ConnectionUrl, PostgresShortSchemeAndMinimalForm) {
  const auto url = parse_connection_url("postgres://localhost/rides");
  EXPECT_EQ(url.dialect, Dialect::kPostgres);
  EXPECT_EQ(url.connect_string, "host='localhost' connect_timeout='5' dbname='rides'");
  EXPECT_EQ(url.display, "postgres://localhost/rides");
}

TEST(ConnectionUrl, PostgresPercentEncodingIsDecodedAndQuotedForLibpq) {
  const auto url = parse_connection_url("postgresql://us%40er:p%40ss%27w%5Cd@[::1]:5433/my%20db");
  EXPECT_EQ(url.database, "my db");
  EXPECT_THAT(url.connect_string, HasSubstr("host='::1'"));
  EXPECT_THAT(url.connect_string, HasSubstr("user='us@er'"));
  EXPECT_THAT(url.connect_string, HasSubstr(R"(password='p@ss\'w\\d')"));
  EXPECT_THAT(url.connect_string, HasSubstr("dbname='my db'"));
  EXPECT_THAT(url.display, Not(HasSubstr("p%40ss")));
}

TEST(ConnectionUrl, PostgresExplicitConnectTimeoutIsKept) {
  const auto url = parse_connection_url("postgresql://h/db?connect_timeout=2&application_name=booking");
  EXPECT_EQ(url.connect_string, "host='h' connect_timeout='2' application_name='booking' dbname='db'");
}

TEST(ConnectionUrl, ErrorsNameTheUrlAndTheAcceptedForms) {
  const std::string message = error_of("mysql://root@host/db");
  EXPECT_THAT(message, AllOf(HasSubstr("mysql://root@host/db"), HasSubstr("unknown scheme"),
                             HasSubstr("sqlite:///absolute/path/file.db"), HasSubstr("postgresql://user:password@")));
}

TEST(ConnectionUrl, ErrorsNeverShowThePassword) {
  const std::string message = error_of("postgresql://booker:s3cret@db.example:6543");
  EXPECT_THAT(message, HasSubstr("postgresql://booker:***@db.example:6543"));
  EXPECT_THAT(message, HasSubstr("names no database"));
  EXPECT_THAT(message, Not(HasSubstr("s3cret")));
  EXPECT_THAT(error_of("postgresql://u:s3cret@h:99999/db"), Not(HasSubstr("s3cret")));
}

TEST(ConnectionUrl, RejectsMalformedUrls) {
  EXPECT_THAT(error_of(""), HasSubstr("empty"));
  EXPECT_THAT(error_of("sqlite:"), HasSubstr("sqlite://"));
  EXPECT_THAT(error_of("sqlite://"), HasSubstr("no database file"));
  EXPECT_THAT(error_of("sqlite:///srv/data/"), HasSubstr("directory"));
  EXPECT_THAT(error_of("sqlite:///srv/x.db?mode=ro"), HasSubstr("no query"));
  EXPECT_THAT(error_of("sqlite:///srv/x\".db"), HasSubstr("must not contain"));
  EXPECT_THAT(error_of("postgresql://h:99999/db"), HasSubstr("port"));
  EXPECT_THAT(error_of("postgresql://h:port/db"), HasSubstr("port"));
  EXPECT_THAT(error_of("postgresql://h/a/b"), HasSubstr("single database name"));
  EXPECT_THAT(error_of("postgresql://h/db?dbname=other"), HasSubstr("in the path"));
  EXPECT_THAT(error_of("postgresql://h/db?password=x"), HasSubstr("user info"));
  EXPECT_THAT(error_of("postgresql://h/db?Bad-Key=1"), HasSubstr("not a libpq keyword"));
  EXPECT_THAT(error_of("postgresql://h/db?sslmode"), HasSubstr("needs a value"));
  EXPECT_THAT(error_of("postgresql://h/db#x"), HasSubstr("fragment"));
}

}  // namespace
}  // namespace intercab::db
