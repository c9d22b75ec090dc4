// Database URLs: which database a URL names, how SOCI connects to it, and how it may be shown in logs.
#include <boost/url/parse.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "platform/db/db.hpp"

namespace intercab::db {
namespace {

constexpr std::string_view kAcceptedForms =
    "accepted forms: sqlite:///absolute/path/file.db, sqlite://relative/path/file.db, sqlite::memory:, "
    "postgresql://user:password@host:port/database[?libpq_parameter=value&...] (or postgres://...)";

constexpr std::string_view kDefaultConnectTimeoutSeconds = "5";

// Replaces the password of `scheme://user:password@host...` with ***; works on malformed URLs too, so that error
// messages about them never leak a password.
std::string mask_password(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const auto authority_begin = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority_begin);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  const auto at = url.rfind('@', authority_end);
  if (at == std::string_view::npos || at < authority_begin) return std::string(url);
  const auto colon = url.find(':', authority_begin);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

[[noreturn]] void reject(std::string_view url, std::string_view problem) {
  throw std::invalid_argument("invalid database URL \"" + mask_password(url) + "\": " + std::string(problem) + "; " +
                              std::string(kAcceptedForms));
}

// A libpq keyword=value pair; values are quoted so spaces, quotes and backslashes survive.
void append_parameter(std::string& connect_string, std::string_view keyword, std::string_view value) {
  if (!connect_string.empty()) connect_string += ' ';
  connect_string.append(keyword);
  connect_string += "='";
  for (const char c : value) {
    if (c == '\'' || c == '\\') connect_string += '\\';
    connect_string += c;
  }
  connect_string += '\'';
}

bool is_parameter_keyword(std::string_view keyword) {
  if (keyword.empty()) return false;
  for (const char c : keyword) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

ConnectionUrl parse_sqlite(std::string_view url) {
  ConnectionUrl result;
  result.dialect = Dialect::kSqlite;
  result.display = std::string(url);
  if (url == "sqlite::memory:") {
    result.database = ":memory:";
    result.connect_string = "db=:memory:";
    return result;
  }
  constexpr std::string_view kPrefix = "sqlite://";
  if (url.substr(0, kPrefix.size()) != kPrefix)
    reject(url, "an SQLite URL starts with sqlite:// or is sqlite::memory:");
  const std::string_view path_text = url.substr(kPrefix.size());
  if (path_text.empty() || path_text == "/") reject(url, "it names no database file");
  if (path_text.find_first_of("?#") != std::string_view::npos) {
    reject(url, "SQLite URLs take no query or fragment (connections are configured by DatabaseOptions)");
  }
  if (path_text.find('"') != std::string_view::npos) reject(url, "the file path must not contain '\"'");
  if (path_text.back() == '/') reject(url, "the path names a directory, not a database file");
  // sqlite:///abs/x.db leaves "/abs/x.db"; sqlite://rel/x.db leaves "rel/x.db", taken from the working directory.
  result.database = std::filesystem::absolute(std::filesystem::path(path_text)).lexically_normal().string();
  result.connect_string = "db=\"" + result.database + "\"";
  return result;
}

ConnectionUrl parse_postgres(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) reject(url, "it is not a valid URI (" + parsed.error().message() + ")");
  const boost::urls::url_view& uri = *parsed;
  if (!uri.has_authority()) reject(url, "a PostgreSQL URL needs // and a host, e.g. postgresql://user@host/database");
  if (uri.has_fragment()) reject(url, "PostgreSQL URLs take no #fragment");

  ConnectionUrl result;
  result.dialect = Dialect::kPostgres;
  result.display = mask_password(url);

  std::string path = uri.path();
  if (path.empty() || path == "/") reject(url, "it names no database: add /database_name after the host");
  path.erase(0, 1);
  if (path.find('/') != std::string::npos) reject(url, "the path must be a single database name");
  result.database = path;

  std::string server;  // every parameter except dbname, shared by both connect strings
  const std::string host = uri.host_address();
  if (!host.empty()) append_parameter(server, "host", host);
  if (uri.has_port()) {
    const std::string_view port = uri.port();
    const bool digits_only =
        !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits_only || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
      reject(url, "the port must be a number from 1 to 65535");
    }
    append_parameter(server, "port", port);
  }
  if (uri.has_userinfo()) {
    const std::string user = uri.user();
    if (!user.empty()) append_parameter(server, "user", user);
    if (uri.has_password()) append_parameter(server, "password", uri.password());
  }
  bool has_connect_timeout = false;
  for (const auto& param : uri.params()) {
    if (!is_parameter_keyword(param.key)) reject(url, "query parameter \"" + param.key + "\" is not a libpq keyword");
    if (param.key == "dbname") reject(url, "put the database name in the path, not in ?dbname=");
    if (param.key == "password") reject(url, "put the password in the user info (user:password@host), not the query");
    if (!param.has_value) reject(url, "query parameter \"" + param.key + "\" needs a value");
    has_connect_timeout = has_connect_timeout || param.key == "connect_timeout";
    append_parameter(server, param.key, param.value);
  }
  if (!has_connect_timeout) append_parameter(server, "connect_timeout", kDefaultConnectTimeoutSeconds);

  result.connect_string = server;
  append_parameter(result.connect_string, "dbname", result.database);
  result.maintenance_connect_string = server;
  append_parameter(result.maintenance_connect_string, "dbname", "postgres");
  return result;
}

}  // namespace

std::string_view to_string(Dialect dialect) { return dialect == Dialect::kSqlite ? "sqlite" : "postgres"; }

ConnectionUrl parse_connection_url(std::string_view url) {
  if (url.substr(0, 7) == "sqlite:") return parse_sqlite(url);
  if (url.substr(0, 13) == "postgresql://" || url.substr(0, 11) == "postgres://") return parse_postgres(url);
  if (url.empty()) reject(url, "it is empty");
  reject(url, "unknown scheme");
}

}  // namespace intercab::db
