// The one typed configuration of a process: config/intercab.yaml plus environment overrides,
// read and validated once at start-up. Nothing else in the code base reads the environment.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace intercab::config {

// A bad or unsupported setting. what() names the key (and the variable, if it came from one)
// and says what to change.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Environment = std::map<std::string, std::string>;

// The environment of this process, as a map (the only place that reads `environ`).
Environment process_environment();

struct ServiceSettings {
  int port = 0;               // 0 = any free port
  std::string url;            // how other processes reach it; defaults to http://127.0.0.1:<port>
  std::string db_connection;  // resolved: template applied, per-service override honoured
};

struct HttpClientSettings {
  int connect_timeout_ms = 1000;
  int request_timeout_ms = 5000;
  int max_retries = 2;
  int retry_backoff_ms = 50;
  int pool_size_per_host = 32;
  int breaker_failure_threshold = 5;
  int breaker_open_s = 10;
};

struct HttpSettings {
  std::string bind_address = "127.0.0.1";
  int io_threads = 0;      // resolved: 0 in the file means one per core
  int worker_threads = 0;  // resolved: 0 in the file means two per core
  int max_queued_requests = 1024;
  std::size_t max_header_bytes = 16384;
  std::size_t max_body_bytes = 1048576;
  int header_timeout_s = 10;
  int body_timeout_s = 30;
  int idle_timeout_s = 60;
  int drain_timeout_s = 10;
  HttpClientSettings client;
};

// Who may call a gateway route: anyone, or only callers with a valid access token.
enum class RouteAuth { public_access, authenticated };

struct GatewayRouteSettings {
  std::string prefix;
  std::string service;
  bool streaming = false;
  int timeout_s = 30;
  int idle_timeout_s = 300;
  // `auth: public | authenticated`; when absent, public for the routes in kPublicRoutePrefixes
  // and authenticated for every other one.
  RouteAuth auth = RouteAuth::authenticated;
  std::vector<std::string> roles;  // `roles: [admin, support]`: the token needs any one of them
};

// Routes that are public unless the file says otherwise: sign-up and login, the published keys,
// and the read-only lookups a visitor needs before having an account.
inline const std::vector<std::string> kPublicRoutePrefixes = {
    "/api/v1/auth", "/.well-known/jwks.json", "/api/v1/cities", "/api/v1/geocode", "/api/v1/routes", "/api/v1/quotes"};

// Access tokens: issued by the user service, verified by the gateway and again by each service.
struct AuthSettings {
  std::string issuer = "intercab";        // auth.issuer: the exact "iss" of access tokens
  std::string audience = "intercab-api";  // auth.audience: the exact "aud" of access tokens
  // auth.ed25519_key_file: when set, access tokens are EdDSA with this PEM key; otherwise HS256
  // with jwt_secret (JWT_SECRET).
  std::filesystem::path ed25519_key_file;
  // auth.retired_ed25519_key_files: earlier signing keys (PEM, private or public). Rotation: make a
  // new key the ed25519_key_file and list the old one here until the tokens it signed have expired
  // (access_token_lifetime_s): verifiers keep accepting them and the JWKS keeps publishing it.
  std::vector<std::filesystem::path> retired_ed25519_key_files;

  // Service tokens (/internal/v1 endpoints): auth.internal_key_file (Ed25519 PEM) or
  // internal_jwt_secret (INTERNAL_JWT_SECRET, HS256); must differ from the access token key.
  std::filesystem::path internal_key_file;
  std::string internal_jwt_secret;

  int access_token_lifetime_s = 900;     // auth.access_token_lifetime_s: 15 minutes
  int refresh_token_lifetime_days = 30;  // auth.refresh_token_lifetime_days: an idle session ends after this

  // argon2id (libsodium crypto_pwhash): auth.password_hashing.{ops_limit, mem_limit_kib}, or
  // AUTH_PASSWORD_OPS_LIMIT / AUTH_PASSWORD_MEM_KIB. Tests lower them; production keeps INTERACTIVE.
  unsigned long long password_ops_limit = 2;
  std::size_t password_mem_limit_kib = 65536;

  // Failed logins within lockout_window_s before further attempts are refused (429) until it ends.
  int login_max_failures_per_account = 5;
  int login_max_failures_per_ip = 50;
  int login_lockout_window_s = 900;

  int verification_code_ttl_s = 600;  // one-time codes for email/phone verification
  int verification_max_attempts = 5;  // wrong codes before the code is void
  int password_reset_ttl_s = 3600;    // single-use password reset tokens

  // "Continue with Google/Facebook": OpenID Connect providers (auth.oauth.providers.<name>).
  struct OAuthProvider {
    std::string name;                    // the {provider} of /api/v1/auth/oauth/{provider}/start
    std::string issuer;                  // discovery at <issuer>/.well-known/openid-configuration
    std::string authorization_endpoint;  // explicit endpoints (all three) instead of discovery
    std::string token_endpoint;
    std::string jwks_uri;
    std::string client_id;
    std::string client_secret;  // OAUTH_<NAME>_CLIENT_SECRET
    std::string redirect_uri;   // our callback as registered with the provider
    std::vector<std::string> scopes;
    std::string token_endpoint_auth = "automatic";  // automatic | client_secret_basic | client_secret_post
  };
  // Providers with a client_id; presets without one are listed in the file but not offered.
  std::vector<OAuthProvider> oauth_providers;
};

struct GatewaySettings {
  std::vector<GatewayRouteSettings> routes;
  std::map<std::string, std::vector<std::string>> upstreams;  // service -> base URLs
  std::string load_balancing = "round_robin";
  int max_attempts = 2;
  int eject_after_failures = 3;
  int eject_for_s = 10;
  int connect_timeout_ms = 1000;
  std::uint64_t max_body_bytes = 100ULL * 1024 * 1024;
  struct Cors {
    std::vector<std::string> allowed_origins;
    std::vector<std::string> allowed_methods;
    std::vector<std::string> allowed_headers;
    std::vector<std::string> exposed_headers;
    int max_age_s = 600;
    bool allow_credentials = false;
  } cors;
  struct RateLimit {
    double requests_per_s = 20;
    int burst = 40;
  } rate_limit;
};

struct StorageSettings {
  int pool_size = 4;                 // pooled sessions per service database
  int busy_timeout_ms = 5000;        // SQLite: how long a writer waits for the lock
  int max_transaction_attempts = 5;  // serialisation failures / SQLITE_BUSY are retried this often
};

struct EventsSettings {
  int relay_poll_ms = 200;          // how often the outbox relay looks for rows it was not told about
  int publish_timeout_ms = 5000;    // NATS: wait this long for a publish acknowledgement
  int max_deliveries = 5;           // a consumer that fails this often sends the event to dlq.<topic>
  int redelivery_backoff_ms = 500;  // first redelivery delay; doubles per attempt
  int ack_wait_s = 30;              // NATS: unacknowledged events are redelivered after this
  int retention_days = 7;           // NATS: stream max age
  int duplicate_window_s = 120;     // NATS: Nats-Msg-Id deduplication window
};

// location.*: where the geography comes from and the limits of routing and live positions.
struct LocationSettings {
  // Empty: the files compiled into the binary (data/india_cities.csv, data/india_states.geojson).
  std::filesystem::path cities_file;
  std::filesystem::path states_file;
  // A road network as an edge list (`from_id,to_id,distance_km,duration_min`, GeoNames ids) that
  // replaces the synthetic highway graph; empty = synthetic.
  std::filesystem::path road_edges_file;
  double state_snap_km = 25;             // reverse geocoding: points this close to a state count as in it
  int max_route_stops = 25;              // POST /routes accepts 2..this many stops
  int max_matrix_side = 100;             // POST /routes/matrix: origins and destinations each up to this
  int route_cache_ttl_s = 600;           // repeated route queries are answered from the cache this long
  int position_staleness_s = 120;        // a driver's last ping older than this is not "nearby"
  int max_pings_per_batch = 100;         // POST /locations
  double max_plausible_speed_kmh = 250;  // a faster jump between two pings is flagged as implausible
  int stream_poll_ms = 1000;             // SSE driver streams look for a new position this often
  int stream_max_duration_s = 3600;      // and end after this long (clients reconnect)
};

struct Config {
  std::filesystem::path home;  // INTERCAB_HOME: holds config/, data/ and var/
  std::string log_level = "info";
  std::map<std::string, ServiceSettings> services;
  HttpSettings http;
  std::string db_connection_template;
  std::string redis_url;
  std::string events_url;
  StorageSettings storage;
  EventsSettings events;
  std::string jwt_secret;
  AuthSettings auth;
  GatewaySettings gateway;
  LocationSettings location;
  std::string service_name;                // SERVICE_NAME: default target of `serve`
  std::optional<int> single_service_port;  // SERVICE_PORT: used only when one service runs

  // The effective configuration as YAML, secrets masked, for --print-config.
  std::string describe() const;
};

struct LoadOptions {
  Environment environment;
  // An explicit --config file; otherwise $INTERCAB_HOME/config/intercab.yaml when it exists.
  std::optional<std::filesystem::path> config_file;
};

// Defaults compiled into the binary, overlaid by the config file, overlaid by the environment.
// Throws ConfigError on the first bad value.
Config load(const LoadOptions& options);

}  // namespace intercab::config
