// Loads, merges and validates the configuration (defaults -> file -> environment).
#include "platform/config/config.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not declared by <unistd.h> everywhere

namespace intercab::embedded {
std::string_view default_config_yaml();
}

namespace intercab::config {
namespace {

const std::set<std::string> kLogLevels = {"debug", "info", "warn", "error"};
// The role names of platform/auth/rbac.hpp (the "roles" claim); config does not link the auth library.
const std::set<std::string> kRoleNames = {"rider", "driver", "fleet_owner", "support", "admin"};

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

bool starts_with_any(std::string_view value, std::initializer_list<std::string_view> prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](auto prefix) { return value.starts_with(prefix); });
}

// Overlays `overlay` onto `base`: maps merge key by key, anything else replaces.
YAML::Node merge(const YAML::Node& base, const YAML::Node& overlay) {
  if (!overlay.IsMap() || !base.IsMap()) return YAML::Clone(overlay);
  YAML::Node result = YAML::Clone(base);
  for (const auto& entry : overlay) {
    const auto key = entry.first.as<std::string>();
    result[key] = result[key] ? merge(result[key], entry.second) : YAML::Clone(entry.second);
  }
  return result;
}

// Walks the merged document by dotted keys, converting values and remembering which keys
// were read so that unknown (misspelt) keys can be reported.
class Reader {
 public:
  Reader(const YAML::Node& root, std::string source) : root_(root), source_(std::move(source)) {}

  YAML::Node node(const std::string& key) const {
    // Lookups go through const references: yaml-cpp's non-const operator[] inserts keys, and
    // Node::operator= overwrites the node it refers to, so rebinding uses reset().
    YAML::Node current(root_);
    std::stringstream parts(key);
    std::string part;
    while (std::getline(parts, part, '.')) {
      const YAML::Node& view = current;
      if (!view.IsMap()) return YAML::Node();
      YAML::Node next = view[part];
      if (!next.IsDefined()) return YAML::Node();
      current.reset(next);
    }
    return current;
  }

  std::string text(const std::string& key, std::string fallback = {}) {
    known_.insert(key);
    auto value = node(key);
    if (!value || value.IsNull()) return fallback;
    if (!value.IsScalar()) fail(key, "must be a single value");
    return value.as<std::string>();
  }

  long long integer(const std::string& key, long long min, long long max, long long fallback) {
    auto raw = text(key);
    if (raw.empty()) return fallback;
    return parse_integer(raw, min, max, "config key " + key + " in " + source_);
  }

  double number(const std::string& key, double min, double max, double fallback) {
    auto raw = text(key);
    if (raw.empty()) return fallback;
    return parse_number(raw, min, max, "config key " + key + " in " + source_);
  }

  bool boolean(const std::string& key, bool fallback) {
    auto raw = text(key);
    if (raw.empty()) return fallback;
    if (raw == "true") return true;
    if (raw == "false") return false;
    fail(key, "must be true or false");
  }

  // A YAML sequence of scalars; absent = empty.
  std::vector<std::string> list(const std::string& key) {
    known_.insert(key);
    std::vector<std::string> values;
    auto value = node(key);
    if (!value || value.IsNull()) return values;
    if (!value.IsSequence()) fail(key, "must be a list, e.g. [a, b]");
    for (const auto& item : value) {
      if (!item.IsScalar()) fail(key, "must be a list of single values");
      values.push_back(item.as<std::string>());
    }
    return values;
  }

  static double parse_number(const std::string& raw, double min, double max, const std::string& where) {
    double value = 0;
    auto [end, error] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
    if (error != std::errc() || end != raw.data() + raw.size()) {
      throw ConfigError(where + ": '" + raw + "' is not a number");
    }
    if (!(value >= min && value <= max)) {
      throw ConfigError(where + ": " + raw + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return value;
  }

  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const std::string& key, const std::string& reason) const {
    throw ConfigError("config key " + key + " in " + source_ + ": " + reason);
  }

  // Every scalar key of the document must have been read: anything else is a typo.
  void reject_unknown_keys() const { check_unknown(root_, ""); }

  void mark_known_prefix(const std::string& prefix) { known_prefixes_.insert(prefix); }

  static long long parse_integer(const std::string& raw, long long min, long long max, const std::string& where) {
    long long value = 0;
    auto [end, error] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
    if (error != std::errc() || end != raw.data() + raw.size()) {
      throw ConfigError(where + ": '" + raw + "' is not an integer");
    }
    if (value < min || value > max) {
      throw ConfigError(where + ": " + raw + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return value;
  }

 private:
  void check_unknown(const YAML::Node& node, const std::string& prefix) const {
    if (!node.IsMap()) {
      if (!prefix.empty() && !known_.contains(prefix)) {
        throw ConfigError("unknown config key " + prefix + " in " + source_ + "; check its spelling");
      }
      return;
    }
    for (const auto& entry : node) {
      auto key = prefix.empty() ? entry.first.as<std::string>() : prefix + "." + entry.first.as<std::string>();
      if (known_prefixes_.contains(key)) continue;
      check_unknown(entry.second, key);
    }
  }

  YAML::Node root_;
  std::string source_;
  std::set<std::string> known_;
  std::set<std::string> known_prefixes_;
};

YAML::Node load_yaml(std::string_view text, const std::string& source) {
  try {
    auto node = YAML::Load(std::string(text));
    if (!node.IsNull() && !node.IsMap()) throw ConfigError(source + ": the top level must be a mapping");
    return node;
  } catch (const YAML::Exception& error) {
    throw ConfigError(source + ": not valid YAML: " + error.what());
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class EnvironmentOverrides {
 public:
  explicit EnvironmentOverrides(const Environment& env) : env_(env) {}

  std::optional<std::string> get(const std::string& name) const {
    auto it = env_.find(name);
    if (it == env_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<long long> integer(const std::string& name, long long min, long long max,
                                   const std::string& config_key) const {
    auto raw = get(name);
    if (!raw) return std::nullopt;
    return Reader::parse_integer(*raw, min, max, "environment variable " + name + " (config key " + config_key + ")");
  }

 private:
  const Environment& env_;
};

std::string upper_name(std::string name) {
  for (auto& c : name) c = (c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

// auth.*: token lifetimes, password hashing, login throttling, one-time codes and OAuth providers.
void read_auth_settings(Reader& reader, const EnvironmentOverrides& env, AuthSettings& auth) {
  auth.internal_key_file = reader.text("auth.internal_key_file");
  auth.internal_jwt_secret = env.get("INTERNAL_JWT_SECRET").value_or(reader.text("auth.internal_jwt_secret"));
  if (!auth.internal_jwt_secret.empty() && auth.internal_jwt_secret.size() < 32) {
    throw ConfigError("config key auth.internal_jwt_secret (INTERNAL_JWT_SECRET): must be at least 32 bytes long");
  }
  auth.access_token_lifetime_s = static_cast<int>(reader.integer("auth.access_token_lifetime_s", 60, 3600, 900));
  auth.refresh_token_lifetime_days = static_cast<int>(reader.integer("auth.refresh_token_lifetime_days", 1, 365, 30));
  // libsodium's bounds: at least 1 pass and 8 KiB; production defaults are INTERACTIVE (2 passes, 64 MiB).
  auth.password_ops_limit =
      static_cast<unsigned long long>(env.integer("AUTH_PASSWORD_OPS_LIMIT", 1, 10, "auth.password_hashing.ops_limit")
                                          .value_or(reader.integer("auth.password_hashing.ops_limit", 1, 10, 2)));
  auth.password_mem_limit_kib = static_cast<std::size_t>(
      env.integer("AUTH_PASSWORD_MEM_KIB", 8, 4 * 1024 * 1024, "auth.password_hashing.mem_limit_kib")
          .value_or(reader.integer("auth.password_hashing.mem_limit_kib", 8, 4 * 1024 * 1024, 65536)));
  auth.login_max_failures_per_account =
      static_cast<int>(reader.integer("auth.login.max_failures_per_account", 1, 1000, 5));
  auth.login_max_failures_per_ip = static_cast<int>(reader.integer("auth.login.max_failures_per_ip", 1, 100'000, 50));
  auth.login_lockout_window_s = static_cast<int>(reader.integer("auth.login.lockout_window_s", 1, 86'400, 900));
  auth.verification_code_ttl_s = static_cast<int>(reader.integer("auth.verification_code_ttl_s", 60, 86'400, 600));
  auth.verification_max_attempts = static_cast<int>(reader.integer("auth.verification_max_attempts", 1, 20, 5));
  auth.password_reset_ttl_s = static_cast<int>(reader.integer("auth.password_reset_ttl_s", 60, 86'400, 3600));

  auto providers = reader.node("auth.oauth.providers");
  reader.mark_known_prefix("auth.oauth.providers");
  if (!providers || providers.IsNull()) return;
  if (!providers.IsMap()) reader.fail("auth.oauth.providers", "must map provider names to their settings");
  for (const auto& entry : providers) {
    AuthSettings::OAuthProvider provider;
    provider.name = entry.first.as<std::string>();
    const auto key = "auth.oauth.providers." + provider.name;
    const auto env_prefix = "OAUTH_" + upper_name(provider.name) + "_";
    if (!entry.second.IsMap()) reader.fail(key, "must be a mapping (issuer, client_id, ...)");
    std::map<std::string, std::string> fields;
    for (const auto& field : entry.second) {
      auto name = field.first.as<std::string>();
      static const std::set<std::string> kKnown = {
          "issuer",        "authorization_endpoint", "token_endpoint", "jwks_uri",           "client_id",
          "client_secret", "redirect_uri",           "scopes",         "token_endpoint_auth"};
      if (!kKnown.contains(name)) reader.fail(key + "." + name, "unknown provider setting; check its spelling");
      if (name == "scopes") continue;
      if (!field.second.IsScalar() && !field.second.IsNull()) reader.fail(key + "." + name, "must be a single value");
      fields[name] = field.second.IsNull() ? "" : field.second.as<std::string>();
    }
    auto value = [&](const std::string& name) {
      return env.get(env_prefix + upper_name(name)).value_or(fields.contains(name) ? fields[name] : "");
    };
    provider.issuer = value("issuer");
    provider.authorization_endpoint = value("authorization_endpoint");
    provider.token_endpoint = value("token_endpoint");
    provider.jwks_uri = value("jwks_uri");
    provider.client_id = value("client_id");
    provider.client_secret = value("client_secret");
    provider.redirect_uri = value("redirect_uri");
    provider.scopes = reader.list(key + ".scopes");
    if (fields.contains("token_endpoint_auth")) provider.token_endpoint_auth = fields["token_endpoint_auth"];
    if (provider.token_endpoint_auth != "automatic" && provider.token_endpoint_auth != "client_secret_basic" &&
        provider.token_endpoint_auth != "client_secret_post") {
      reader.fail(key + ".token_endpoint_auth", "must be automatic, client_secret_basic or client_secret_post");
    }
    if (provider.scopes.empty()) provider.scopes = {"openid", "email", "profile"};
    if (provider.client_id.empty()) continue;  // a preset not configured on this deployment
    const bool explicit_endpoints =
        !provider.authorization_endpoint.empty() && !provider.token_endpoint.empty() && !provider.jwks_uri.empty();
    if (provider.issuer.empty()) reader.fail(key + ".issuer", "must be set (the provider's exact issuer URL)");
    if (!explicit_endpoints &&
        (!provider.authorization_endpoint.empty() || !provider.token_endpoint.empty() || !provider.jwks_uri.empty())) {
      reader.fail(key, "give all three of authorization_endpoint, token_endpoint and jwks_uri, or none (discovery)");
    }
    if (provider.redirect_uri.empty()) {
      reader.fail(key + ".redirect_uri", "must be set to our callback URL as registered with the provider");
    }
    if (std::find(provider.scopes.begin(), provider.scopes.end(), "openid") == provider.scopes.end()) {
      reader.fail(key + ".scopes", "must include openid");
    }
    auth.oauth_providers.push_back(std::move(provider));
  }
}

void require_scheme(const std::string& value, std::initializer_list<std::string_view> schemes, const std::string& key,
                    const std::string& variable) {
  if (starts_with_any(value, schemes)) return;
  std::string allowed;
  for (auto scheme : schemes) allowed += (allowed.empty() ? "" : ", ") + std::string(scheme) + "...";
  throw ConfigError("config key " + key + " (" + variable + ") = '" + value + "': must start with one of " + allowed);
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string mask(const std::string& secret) { return secret.empty() ? "" : "********"; }

// "postgresql://app:secret@db/x" -> "postgresql://app:********@db/x": URLs may carry passwords.
std::string mask_url_password(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const auto authority_start = scheme_end + 3;
  const auto at = url.find('@', authority_start);
  const auto slash = url.find('/', authority_start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
  const auto colon = url.find(':', authority_start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "********" + url.substr(at);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream parts(text);
  std::string item;
  while (std::getline(parts, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

GatewaySettings load_gateway(Reader& reader, const EnvironmentOverrides& env,
                             const std::map<std::string, ServiceSettings>& services) {
  GatewaySettings gateway;
  const auto default_timeout = static_cast<int>(reader.integer("gateway.timeout_s", 1, 3600, 30));
  const auto default_idle = static_cast<int>(reader.integer("gateway.idle_timeout_s", 1, 86400, 300));

  reader.mark_known_prefix("gateway.routes");
  auto routes = reader.node("gateway.routes");
  if (routes && !routes.IsNull()) {
    if (!routes.IsSequence()) reader.fail("gateway.routes", "must be a list of {prefix, service} entries");
    for (std::size_t i = 0; i < routes.size(); ++i) {
      const auto key = "gateway.routes[" + std::to_string(i) + "]";
      const YAML::Node& entry = routes[i];
      if (!entry.IsMap()) reader.fail(key, "must be a mapping like {prefix: /api/v1/x, service: x}");
      GatewayRouteSettings route;
      route.timeout_s = default_timeout;
      route.idle_timeout_s = default_idle;
      std::optional<RouteAuth> auth;
      for (const auto& field : entry) {
        const auto name = field.first.as<std::string>();
        const auto value = field.second.IsScalar() ? field.second.as<std::string>() : std::string();
        const auto where = "config key " + key + "." + name + " in " + reader.source();
        if (name == "prefix") {
          route.prefix = value;
        } else if (name == "service") {
          route.service = value;
        } else if (name == "streaming") {
          if (value != "true" && value != "false") throw ConfigError(where + ": must be true or false");
          route.streaming = value == "true";
        } else if (name == "timeout_s") {
          route.timeout_s = static_cast<int>(Reader::parse_integer(value, 1, 3600, where));
        } else if (name == "idle_timeout_s") {
          route.idle_timeout_s = static_cast<int>(Reader::parse_integer(value, 1, 86400, where));
        } else if (name == "auth") {
          if (value != "public" && value != "authenticated")
            throw ConfigError(where + ": must be public or authenticated");
          auth = value == "public" ? RouteAuth::public_access : RouteAuth::authenticated;
        } else if (name == "roles") {
          if (!field.second.IsSequence()) throw ConfigError(where + ": must be a list of roles, e.g. [admin, support]");
          for (const auto& item : field.second) {
            const auto role = item.IsScalar() ? item.as<std::string>() : std::string();
            if (!kRoleNames.contains(role)) {
              throw ConfigError(where + ": unknown role '" + role +
                                "'; roles are rider, driver, fleet_owner, support and admin");
            }
            route.roles.push_back(role);
          }
        } else {
          throw ConfigError("unknown config key " + key + "." + name + " in " + reader.source() +
                            "; check its spelling");
        }
      }
      if (route.prefix.empty() || route.prefix.front() != '/') reader.fail(key + ".prefix", "must start with /");
      const bool public_by_default = std::find(kPublicRoutePrefixes.begin(), kPublicRoutePrefixes.end(),
                                               route.prefix) != kPublicRoutePrefixes.end();
      route.auth = auth.value_or(public_by_default ? RouteAuth::public_access : RouteAuth::authenticated);
      if (route.auth == RouteAuth::public_access && !route.roles.empty()) {
        reader.fail(key + ".roles", "a public route cannot require roles; set auth: authenticated or drop roles");
      }
      if (!services.contains(route.service)) {
        reader.fail(key + ".service", "'" + route.service + "' is not a service of config key services");
      }
      gateway.routes.push_back(route);
    }
  }

  reader.mark_known_prefix("gateway.upstreams");
  auto upstreams = reader.node("gateway.upstreams");
  if (upstreams && !upstreams.IsNull()) {
    if (!upstreams.IsMap()) reader.fail("gateway.upstreams", "must map service names to lists of URLs");
    for (const auto& entry : upstreams) {
      const auto service = entry.first.as<std::string>();
      if (!services.contains(service))
        reader.fail("gateway.upstreams." + service, "not a service of config key services");
      gateway.upstreams[service] = reader.list("gateway.upstreams." + service);
    }
  }
  for (const auto& [name, settings] : services) {
    if (auto urls = env.get(upper(name) + "_UPSTREAMS")) gateway.upstreams[name] = split_list(*urls);
  }
  for (const auto& [service, urls] : gateway.upstreams) {
    for (const auto& url : urls) {
      require_scheme(url, {"http://"}, "gateway.upstreams." + service, upper(service) + "_UPSTREAMS");
    }
  }

  gateway.load_balancing = reader.text("gateway.load_balancing", "round_robin");
  if (gateway.load_balancing != "round_robin" && gateway.load_balancing != "least_connections") {
    reader.fail("gateway.load_balancing", "must be round_robin or least_connections");
  }
  gateway.max_attempts = static_cast<int>(reader.integer("gateway.max_attempts", 1, 10, 2));
  gateway.eject_after_failures = static_cast<int>(reader.integer("gateway.eject_after_failures", 1, 1000, 3));
  gateway.eject_for_s = static_cast<int>(reader.integer("gateway.eject_for_s", 1, 3600, 10));
  gateway.connect_timeout_ms = static_cast<int>(reader.integer("gateway.connect_timeout_ms", 1, 60'000, 1000));
  gateway.max_body_bytes =
      static_cast<std::uint64_t>(reader.integer("gateway.max_body_bytes", 0, 1LL << 40, 100LL * 1024 * 1024));

  auto& cors = gateway.cors;
  cors.allowed_origins = reader.list("gateway.cors.allowed_origins");
  if (auto origins = env.get("GATEWAY_CORS_ORIGINS")) cors.allowed_origins = split_list(*origins);
  cors.allowed_methods = reader.list("gateway.cors.allowed_methods");
  cors.allowed_headers = reader.list("gateway.cors.allowed_headers");
  cors.exposed_headers = reader.list("gateway.cors.exposed_headers");
  cors.max_age_s = static_cast<int>(reader.integer("gateway.cors.max_age_s", 0, 86400, 600));
  cors.allow_credentials = reader.boolean("gateway.cors.allow_credentials", false);

  auto& limit = gateway.rate_limit;
  limit.requests_per_s = reader.number("gateway.rate_limit.requests_per_s", 0.001, 1e6, 20);
  if (auto value = env.get("GATEWAY_RATE_LIMIT_PER_S")) {
    limit.requests_per_s = Reader::parse_number(*value, 0.001, 1e6, "environment variable GATEWAY_RATE_LIMIT_PER_S");
  }
  limit.burst = static_cast<int>(reader.integer("gateway.rate_limit.burst", 1, 1'000'000, 40));
  if (auto burst = env.integer("GATEWAY_RATE_LIMIT_BURST", 1, 1'000'000, "gateway.rate_limit.burst")) {
    limit.burst = static_cast<int>(*burst);
  }
  return gateway;
}

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view line(*entry);
    auto equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
  }
  return env;
}

Config load(const LoadOptions& options) {
  EnvironmentOverrides env(options.environment);
  Config config;

  if (env.get("KAFKA_BROKERS")) {
    throw ConfigError(
        "KAFKA_BROKERS is not supported: intercab has no Kafka adapter; set EVENTS_URL=nats://host:4222 for NATS "
        "JetStream (or leave it unset for the embedded bus) and unset KAFKA_BROKERS");
  }

  auto home = env.get("INTERCAB_HOME").value_or("");
  config.home = std::filesystem::absolute(home.empty() ? std::filesystem::current_path() : std::filesystem::path(home))
                    .lexically_normal();

  YAML::Node document = load_yaml(embedded::default_config_yaml(), "built-in defaults");
  std::string source = "built-in defaults";
  auto file = options.config_file.value_or(config.home / "config" / "intercab.yaml");
  if (options.config_file || std::filesystem::exists(file)) {
    document = merge(document, load_yaml(read_file(file), file.string()));
    source = file.string();
  }
  Reader reader(document, source);

  config.log_level = env.get("LOG_LEVEL").value_or(reader.text("log.level", "info"));
  if (!kLogLevels.contains(config.log_level)) {
    throw ConfigError("config key log.level (LOG_LEVEL) = '" + config.log_level +
                      "': must be one of debug, info, warn, error");
  }

  auto& http = config.http;
  http.bind_address = env.get("HTTP_BIND_ADDRESS").value_or(reader.text("http.bind_address", "127.0.0.1"));
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  http.io_threads = static_cast<int>(reader.integer("http.io_threads", 0, 256, 0));
  if (http.io_threads == 0) http.io_threads = cores;
  http.worker_threads = static_cast<int>(reader.integer("http.worker_threads", 0, 1024, 0));
  if (http.worker_threads == 0) http.worker_threads = 2 * cores;
  http.max_queued_requests = static_cast<int>(reader.integer("http.max_queued_requests", 1, 1'000'000, 1024));
  http.max_header_bytes = static_cast<std::size_t>(reader.integer("http.max_header_bytes", 1024, 1 << 20, 16384));
  http.max_body_bytes = static_cast<std::size_t>(reader.integer("http.max_body_bytes", 0, 1LL << 32, 1 << 20));
  http.header_timeout_s = static_cast<int>(reader.integer("http.header_timeout_s", 1, 3600, 10));
  http.body_timeout_s = static_cast<int>(reader.integer("http.body_timeout_s", 1, 3600, 30));
  http.idle_timeout_s = static_cast<int>(reader.integer("http.idle_timeout_s", 1, 3600, 60));
  http.drain_timeout_s = static_cast<int>(reader.integer("http.drain_timeout_s", 0, 600, 10));
  auto& client = http.client;
  client.connect_timeout_ms = static_cast<int>(reader.integer("http.client.connect_timeout_ms", 1, 600'000, 1000));
  client.request_timeout_ms = static_cast<int>(reader.integer("http.client.request_timeout_ms", 1, 3'600'000, 5000));
  client.max_retries = static_cast<int>(reader.integer("http.client.max_retries", 0, 10, 2));
  client.retry_backoff_ms = static_cast<int>(reader.integer("http.client.retry_backoff_ms", 0, 60'000, 50));
  client.pool_size_per_host = static_cast<int>(reader.integer("http.client.pool_size_per_host", 1, 4096, 32));
  client.breaker_failure_threshold =
      static_cast<int>(reader.integer("http.client.breaker_failure_threshold", 1, 1000, 5));
  client.breaker_open_s = static_cast<int>(reader.integer("http.client.breaker_open_s", 1, 3600, 10));

  config.db_connection_template =
      env.get("DB_CONNECTION").value_or(reader.text("storage.db_connection", "sqlite://{home}/var/{service}.db"));
  require_scheme(config.db_connection_template, {"sqlite://", "postgresql://", "postgres://"}, "storage.db_connection",
                 "DB_CONNECTION");
  config.redis_url = env.get("REDIS_URL").value_or(reader.text("storage.redis_url", "mem://"));
  require_scheme(config.redis_url, {"mem://", "redis://"}, "storage.redis_url", "REDIS_URL");
  config.events_url = env.get("EVENTS_URL").value_or(reader.text("storage.events_url", "mem://"));
  require_scheme(config.events_url, {"mem://", "nats://"}, "storage.events_url", "EVENTS_URL");

  auto& storage = config.storage;
  storage.pool_size = static_cast<int>(reader.integer("storage.pool_size", 1, 256, 4));
  storage.busy_timeout_ms = static_cast<int>(reader.integer("storage.busy_timeout_ms", 0, 600'000, 5000));
  storage.max_transaction_attempts = static_cast<int>(reader.integer("storage.max_transaction_attempts", 1, 100, 5));

  auto& events = config.events;
  events.relay_poll_ms = static_cast<int>(reader.integer("events.relay_poll_ms", 10, 60'000, 200));
  events.publish_timeout_ms = static_cast<int>(reader.integer("events.publish_timeout_ms", 100, 600'000, 5000));
  events.max_deliveries = static_cast<int>(reader.integer("events.max_deliveries", 1, 1000, 5));
  events.redelivery_backoff_ms = static_cast<int>(reader.integer("events.redelivery_backoff_ms", 0, 600'000, 500));
  events.ack_wait_s = static_cast<int>(reader.integer("events.ack_wait_s", 1, 86'400, 30));
  events.retention_days = static_cast<int>(reader.integer("events.retention_days", 1, 3650, 7));
  events.duplicate_window_s = static_cast<int>(reader.integer("events.duplicate_window_s", 1, 86'400, 120));

  auto& location = config.location;
  location.cities_file = reader.text("location.cities_file");
  location.states_file = reader.text("location.states_file");
  location.road_edges_file = env.get("LOCATION_ROAD_EDGES_FILE").value_or(reader.text("location.road_edges_file"));
  location.state_snap_km = reader.number("location.state_snap_km", 0, 200, 25);
  location.max_route_stops = static_cast<int>(reader.integer("location.max_route_stops", 2, 100, 25));
  location.max_matrix_side = static_cast<int>(reader.integer("location.max_matrix_side", 1, 1000, 100));
  location.route_cache_ttl_s = static_cast<int>(reader.integer("location.route_cache_ttl_s", 0, 86'400, 600));
  location.position_staleness_s = static_cast<int>(reader.integer("location.position_staleness_s", 5, 86'400, 120));
  location.max_pings_per_batch = static_cast<int>(reader.integer("location.max_pings_per_batch", 1, 10'000, 100));
  location.max_plausible_speed_kmh = reader.number("location.max_plausible_speed_kmh", 10, 2000, 250);
  location.stream_poll_ms = static_cast<int>(reader.integer("location.stream_poll_ms", 50, 5000, 1000));
  location.stream_max_duration_s = static_cast<int>(reader.integer("location.stream_max_duration_s", 1, 86'400, 3600));

  config.jwt_secret = env.get("JWT_SECRET").value_or(reader.text("auth.jwt_secret"));
  if (!config.jwt_secret.empty() && config.jwt_secret.size() < 32) {
    throw ConfigError("config key auth.jwt_secret (JWT_SECRET): must be at least 32 bytes long (it has " +
                      std::to_string(config.jwt_secret.size()) + "); generate one with `openssl rand -base64 48`");
  }
  config.auth.issuer = reader.text("auth.issuer", "intercab");
  if (config.auth.issuer.empty()) reader.fail("auth.issuer", "must not be empty");
  config.auth.audience = reader.text("auth.audience", "intercab-api");
  if (config.auth.audience.empty()) reader.fail("auth.audience", "must not be empty");
  config.auth.ed25519_key_file = reader.text("auth.ed25519_key_file");
  for (const auto& retired : reader.list("auth.retired_ed25519_key_files")) {
    config.auth.retired_ed25519_key_files.emplace_back(retired);
  }
  if (config.auth.ed25519_key_file.empty() && !config.auth.retired_ed25519_key_files.empty()) {
    reader.fail("auth.retired_ed25519_key_files", "needs auth.ed25519_key_file, the key that replaced them");
  }
  read_auth_settings(reader, env, config.auth);
  if (!config.auth.internal_jwt_secret.empty() && config.auth.internal_jwt_secret == config.jwt_secret) {
    throw ConfigError(
        "config key auth.internal_jwt_secret (INTERNAL_JWT_SECRET): must differ from JWT_SECRET, so that a user token "
        "can never pass as a service token");
  }

  auto services = reader.node("services");
  if (!services || !services.IsMap() || services.size() == 0)
    reader.fail("services", "must map service names to ports");
  reader.mark_known_prefix("services");
  for (const auto& entry : services) {
    const auto name = entry.first.as<std::string>();
    const auto key = "services." + name;
    if (!entry.second.IsMap()) reader.fail(key, "must be a mapping with port (and optionally url, db_connection)");
    for (const auto& field : entry.second) {
      auto field_name = field.first.as<std::string>();
      if (field_name != "port" && field_name != "url" && field_name != "db_connection") {
        throw ConfigError("unknown config key " + key + "." + field_name + " in " + source + "; check its spelling");
      }
    }
    ServiceSettings settings;
    settings.port = static_cast<int>(reader.integer(key + ".port", 0, 65535, -1));
    if (settings.port < 0) reader.fail(key + ".port", "is required");
    const auto prefix = upper(name);
    if (auto port = env.integer(prefix + "_PORT", 0, 65535, key + ".port")) settings.port = static_cast<int>(*port);
    settings.url = env.get(prefix + "_URL").value_or(reader.text(key + ".url"));
    if (!settings.url.empty()) require_scheme(settings.url, {"http://", "https://"}, key + ".url", prefix + "_URL");
    auto db =
        env.get(prefix + "_DB_CONNECTION").value_or(reader.text(key + ".db_connection", config.db_connection_template));
    require_scheme(db, {"sqlite://", "postgresql://", "postgres://"}, key + ".db_connection",
                   prefix + "_DB_CONNECTION");
    settings.db_connection = replace_all(replace_all(db, "{service}", name), "{home}", config.home.string());
    config.services.emplace(name, std::move(settings));
  }

  config.gateway = load_gateway(reader, env, config.services);

  if (auto name = env.get("SERVICE_NAME")) {
    if (!config.services.contains(*name)) {
      throw ConfigError("environment variable SERVICE_NAME='" + *name + "': not a service of config key services");
    }
    config.service_name = *name;
  }
  if (auto port = env.integer("SERVICE_PORT", 0, 65535, "services.<SERVICE_NAME>.port")) {
    config.single_service_port = static_cast<int>(*port);
  }

  reader.reject_unknown_keys();
  return config;
}

std::string Config::describe() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "home" << YAML::Value << home.string();
  out << YAML::Key << "log" << YAML::Value << YAML::BeginMap << YAML::Key << "level" << YAML::Value << log_level
      << YAML::EndMap;
  out << YAML::Key << "services" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, settings] : services) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "port" << YAML::Value << settings.port;
    if (!settings.url.empty()) out << YAML::Key << "url" << YAML::Value << settings.url;
    out << YAML::Key << "db_connection" << YAML::Value << mask_url_password(settings.db_connection);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "http" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bind_address" << YAML::Value << http.bind_address;
  out << YAML::Key << "io_threads" << YAML::Value << http.io_threads;
  out << YAML::Key << "worker_threads" << YAML::Value << http.worker_threads;
  out << YAML::Key << "max_queued_requests" << YAML::Value << http.max_queued_requests;
  out << YAML::Key << "max_header_bytes" << YAML::Value << http.max_header_bytes;
  out << YAML::Key << "max_body_bytes" << YAML::Value << http.max_body_bytes;
  out << YAML::Key << "header_timeout_s" << YAML::Value << http.header_timeout_s;
  out << YAML::Key << "body_timeout_s" << YAML::Value << http.body_timeout_s;
  out << YAML::Key << "idle_timeout_s" << YAML::Value << http.idle_timeout_s;
  out << YAML::Key << "drain_timeout_s" << YAML::Value << http.drain_timeout_s;
  out << YAML::Key << "client" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "connect_timeout_ms" << YAML::Value << http.client.connect_timeout_ms;
  out << YAML::Key << "request_timeout_ms" << YAML::Value << http.client.request_timeout_ms;
  out << YAML::Key << "max_retries" << YAML::Value << http.client.max_retries;
  out << YAML::Key << "retry_backoff_ms" << YAML::Value << http.client.retry_backoff_ms;
  out << YAML::Key << "pool_size_per_host" << YAML::Value << http.client.pool_size_per_host;
  out << YAML::Key << "breaker_failure_threshold" << YAML::Value << http.client.breaker_failure_threshold;
  out << YAML::Key << "breaker_open_s" << YAML::Value << http.client.breaker_open_s;
  out << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "storage" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "db_connection" << YAML::Value << mask_url_password(db_connection_template);
  out << YAML::Key << "redis_url" << YAML::Value << mask_url_password(redis_url);
  out << YAML::Key << "events_url" << YAML::Value << mask_url_password(events_url);
  out << YAML::Key << "pool_size" << YAML::Value << storage.pool_size;
  out << YAML::Key << "busy_timeout_ms" << YAML::Value << storage.busy_timeout_ms;
  out << YAML::Key << "max_transaction_attempts" << YAML::Value << storage.max_transaction_attempts;
  out << YAML::EndMap;
  out << YAML::Key << "events" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "relay_poll_ms" << YAML::Value << events.relay_poll_ms;
  out << YAML::Key << "publish_timeout_ms" << YAML::Value << events.publish_timeout_ms;
  out << YAML::Key << "max_deliveries" << YAML::Value << events.max_deliveries;
  out << YAML::Key << "redelivery_backoff_ms" << YAML::Value << events.redelivery_backoff_ms;
  out << YAML::Key << "ack_wait_s" << YAML::Value << events.ack_wait_s;
  out << YAML::Key << "retention_days" << YAML::Value << events.retention_days;
  out << YAML::Key << "duplicate_window_s" << YAML::Value << events.duplicate_window_s;
  out << YAML::EndMap;
  out << YAML::Key << "auth" << YAML::Value << YAML::BeginMap << YAML::Key << "jwt_secret" << YAML::Value
      << mask(jwt_secret) << YAML::Key << "issuer" << YAML::Value << auth.issuer << YAML::Key << "audience"
      << YAML::Value << auth.audience << YAML::Key << "ed25519_key_file" << YAML::Value
      << auth.ed25519_key_file.string() << YAML::Key << "internal_key_file" << YAML::Value
      << auth.internal_key_file.string() << YAML::Key << "internal_jwt_secret" << YAML::Value
      << mask(auth.internal_jwt_secret) << YAML::Key << "access_token_lifetime_s" << YAML::Value
      << auth.access_token_lifetime_s << YAML::Key << "refresh_token_lifetime_days" << YAML::Value
      << auth.refresh_token_lifetime_days << YAML::Key << "password_hashing" << YAML::Value << YAML::Flow
      << YAML::BeginMap << YAML::Key << "ops_limit" << YAML::Value << auth.password_ops_limit << YAML::Key
      << "mem_limit_kib" << YAML::Value << auth.password_mem_limit_kib << YAML::EndMap << YAML::Key << "login"
      << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "max_failures_per_account" << YAML::Value
      << auth.login_max_failures_per_account << YAML::Key << "max_failures_per_ip" << YAML::Value
      << auth.login_max_failures_per_ip << YAML::Key << "lockout_window_s" << YAML::Value << auth.login_lockout_window_s
      << YAML::EndMap << YAML::Key << "verification_code_ttl_s" << YAML::Value << auth.verification_code_ttl_s
      << YAML::Key << "verification_max_attempts" << YAML::Value << auth.verification_max_attempts << YAML::Key
      << "password_reset_ttl_s" << YAML::Value << auth.password_reset_ttl_s << YAML::Key << "oauth_providers"
      << YAML::Value << YAML::BeginSeq;
  for (const auto& provider : auth.oauth_providers) {
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << provider.name << YAML::Key << "issuer"
        << YAML::Value << provider.issuer << YAML::Key << "client_id" << YAML::Value << provider.client_id << YAML::Key
        << "client_secret" << YAML::Value << mask(provider.client_secret) << YAML::Key << "redirect_uri" << YAML::Value
        << provider.redirect_uri << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  out << YAML::Key << "location" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cities_file" << YAML::Value << location.cities_file.string();
  out << YAML::Key << "states_file" << YAML::Value << location.states_file.string();
  out << YAML::Key << "road_edges_file" << YAML::Value << location.road_edges_file.string();
  out << YAML::Key << "state_snap_km" << YAML::Value << location.state_snap_km;
  out << YAML::Key << "max_route_stops" << YAML::Value << location.max_route_stops;
  out << YAML::Key << "max_matrix_side" << YAML::Value << location.max_matrix_side;
  out << YAML::Key << "route_cache_ttl_s" << YAML::Value << location.route_cache_ttl_s;
  out << YAML::Key << "position_staleness_s" << YAML::Value << location.position_staleness_s;
  out << YAML::Key << "max_pings_per_batch" << YAML::Value << location.max_pings_per_batch;
  out << YAML::Key << "max_plausible_speed_kmh" << YAML::Value << location.max_plausible_speed_kmh;
  out << YAML::Key << "stream_poll_ms" << YAML::Value << location.stream_poll_ms;
  out << YAML::Key << "stream_max_duration_s" << YAML::Value << location.stream_max_duration_s;
  out << YAML::EndMap;
  out << YAML::Key << "gateway" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
  for (const auto& route : gateway.routes) {
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "prefix" << YAML::Value << route.prefix << YAML::Key
        << "service" << YAML::Value << route.service << YAML::Key << "streaming" << YAML::Value << route.streaming
        << YAML::Key << "timeout_s" << YAML::Value << route.timeout_s << YAML::Key << "idle_timeout_s" << YAML::Value
        << route.idle_timeout_s << YAML::Key << "auth" << YAML::Value
        << (route.auth == RouteAuth::public_access ? "public" : "authenticated") << YAML::Key << "roles" << YAML::Value
        << YAML::Flow << route.roles << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "upstreams" << YAML::Value << YAML::BeginMap;
  for (const auto& [service, urls] : gateway.upstreams)
    out << YAML::Key << service << YAML::Value << YAML::Flow << urls;
  out << YAML::EndMap;
  out << YAML::Key << "load_balancing" << YAML::Value << gateway.load_balancing;
  out << YAML::Key << "max_attempts" << YAML::Value << gateway.max_attempts;
  out << YAML::Key << "eject_after_failures" << YAML::Value << gateway.eject_after_failures;
  out << YAML::Key << "eject_for_s" << YAML::Value << gateway.eject_for_s;
  out << YAML::Key << "connect_timeout_ms" << YAML::Value << gateway.connect_timeout_ms;
  out << YAML::Key << "max_body_bytes" << YAML::Value << gateway.max_body_bytes;
  out << YAML::Key << "cors" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "allowed_origins" << YAML::Value << YAML::Flow << gateway.cors.allowed_origins;
  out << YAML::Key << "allowed_methods" << YAML::Value << YAML::Flow << gateway.cors.allowed_methods;
  out << YAML::Key << "allowed_headers" << YAML::Value << YAML::Flow << gateway.cors.allowed_headers;
  out << YAML::Key << "exposed_headers" << YAML::Value << YAML::Flow << gateway.cors.exposed_headers;
  out << YAML::Key << "max_age_s" << YAML::Value << gateway.cors.max_age_s;
  out << YAML::Key << "allow_credentials" << YAML::Value << gateway.cors.allow_credentials;
  out << YAML::EndMap;
  out << YAML::Key << "rate_limit" << YAML::Value << YAML::BeginMap << YAML::Key << "requests_per_s" << YAML::Value
      << gateway.rate_limit.requests_per_s << YAML::Key << "burst" << YAML::Value << gateway.rate_limit.burst
      << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace intercab::config
