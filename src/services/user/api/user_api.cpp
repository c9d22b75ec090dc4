// The user service's HTTP API; see user_api.hpp. Handlers: check input (400/415/422), authenticate
// (401/403/404), run one transaction, answer. Work that must outlive a failed request (a counted
// wrong code, a family revoked on refresh token reuse) commits first and throws afterwards.
#include "services/user/api/user_api.hpp"

#include <sodium.h>

#include <boost/json.hpp>
#include <charconv>

#include "platform/auth/api_key.hpp"
#include "platform/auth/base64url.hpp"
#include "platform/auth/rbac.hpp"
#include "platform/auth/sodium.hpp"
#include "platform/errors/errors.hpp"
#include "platform/events/event.hpp"
#include "platform/events/outbox.hpp"
#include "platform/idempotency/idempotency.hpp"
#include "platform/log/log.hpp"
#include "platform/text/text.hpp"
#include "platform/validate/validate.hpp"
#include "services/user/api/oauth_login.hpp"
#include "services/user/store/user_store.hpp"

namespace intercab::services::user {
namespace {

using boost::json::array;
using boost::json::object;
using boost::json::value;
using validate::Array;
using validate::Enum;
using validate::Format;
using validate::Integer;
using validate::Number;
using validate::Object;
using validate::String;

constexpr std::string_view kTopic = "user.events";
constexpr std::string_view kDefaultClientId = "web";

// --- Request schemas (API conventions: unknown fields are 422, so `roles` in a profile patch is refused)

const auto kName = String().min_length(1).max_length(100);
const auto kEmail = String().format(Format::kEmail).max_length(254);
const auto kPhone = String().format(Format::kE164India);
const auto kPassword = String().min_length(1).max_length(auth::kMaxPasswordBytes);
const auto kClientId = String().pattern("[a-z][a-z0-9_-]{0,39}", "a client name such as web or rider_app");
const auto kOpaqueToken = String().min_length(1).max_length(200);

const Object kRegisterBody{
    {"name", kName}, {"email", kEmail.optional()}, {"phone", kPhone.optional()}, {"password", kPassword}};
const Object kLoginBody{{"email", kEmail.optional()},
                        {"phone", kPhone.optional()},
                        {"password", kPassword},
                        {"client_id", kClientId.optional()}};
const Object kVerifyBody{{"channel", Enum({"email", "phone"})},
                         {"code", String().pattern("[0-9]{6}", "the 6-digit code that was sent")}};
const Object kResendBody{{"channel", Enum({"email", "phone"})}};
const Object kRefreshBody{{"refresh_token", kOpaqueToken}};
const Object kForgotBody{{"email", kEmail.optional()}, {"phone", kPhone.optional()}};
const Object kResetBody{{"token", kOpaqueToken}, {"new_password", kPassword}};
const Object kChangePasswordBody{{"current_password", kPassword}, {"new_password", kPassword}};
const Object kEmergencyContact{{"name", kName}, {"phone", kPhone}, {"relation", String().max_length(40).optional()}};
const Object kSavedPlace{{"label", String().min_length(1).max_length(40)},
                         {"address", String().min_length(1).max_length(300).multiline()},
                         {"lat", Number().range(-90, 90)},
                         {"lng", Number().range(-180, 180)}};
// JSON merge patch (RFC 7396): a member left out stays; null clears what may be cleared.
const Object kProfilePatch{
    {"name", kName.optional()},
    {"email", kEmail.optional().nullable()},
    {"phone", kPhone.optional().nullable()},
    {"preferred_language",
     Enum({"en", "hi", "mr", "gu", "kn", "ta", "te", "ml", "bn", "pa", "or", "ur", "kok"}).optional().nullable()},
    {"emergency_contacts", Array(kEmergencyContact).max_items(domain::kMaxEmergencyContacts).optional()},
    {"saved_places", Array(kSavedPlace).max_items(domain::kMaxSavedPlaces).optional()}};
const Object kRolesBody{
    {"roles", Array(Enum({"rider", "driver", "fleet_owner", "support", "admin"})).min_items(1).max_items(5)}};
const Object kCreateApiKeyBody{
    {"name", String().min_length(1).max_length(100)},
    {"owner_user_id", String().min_length(1).max_length(64)},
    {"roles", Array(Enum({"rider", "driver", "fleet_owner", "support", "admin"})).min_items(1).max_items(5)}};
const Object kExchangeApiKeyBody{{"api_key", String().min_length(1).max_length(200)}};
const validate::Query kPageQuery{{"limit", Integer().range(1, 100).default_value(20)},
                                 {"cursor", String().max_length(200).optional()}};

object parse_body(const http::Request& request, const Object& schema) {
  return validate::validate_body(validate::parse_json_body(request.header("Content-Type"), request.body), schema);
}

std::optional<std::string> optional_string(const object& body, std::string_view key) {
  auto it = body.find(key);
  if (it == body.end() || it->value().is_null()) return std::nullopt;
  return std::string(it->value().as_string());
}

// BLAKE2b-256 as hex: for secrets with enough entropy of their own (opaque tokens) or short-lived
// ones bound to their account (codes), where a slow hash would buy nothing.
std::string secret_hash(std::string_view secret) {
  std::array<unsigned char, crypto_generichash_BYTES> digest{};
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     nullptr, 0);
  std::array<char, crypto_generichash_BYTES * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data(), digest.size() * 2);
}

long long unix_seconds(auth::TimePoint time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

std::string rfc3339(long long seconds) {
  return text::format_rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::seconds(seconds)));
}

// Page cursors: base64url("<created_at>:<id>"); anything else is a 422 on `cursor`.
std::string encode_cursor(long long created_at, const std::string& id) {
  return auth::base64url_encode(std::to_string(created_at) + ":" + id);
}

std::optional<std::pair<long long, std::string>> decode_cursor(const std::optional<std::string>& cursor) {
  if (!cursor) return std::nullopt;
  auto decoded = auth::base64url_decode(*cursor);
  const auto colon = decoded ? decoded->find(':') : std::string::npos;
  long long created_at = 0;
  if (colon != std::string::npos) {
    auto [end, error] = std::from_chars(decoded->data(), decoded->data() + colon, created_at);
    if (error == std::errc() && end == decoded->data() + colon) {
      return std::make_pair(created_at, decoded->substr(colon + 1));
    }
  }
  throw errors::Invalid("cursor", "must be a next_cursor value from an earlier page");
}

// One page of a list (API conventions): `rows` were fetched with limit + 1, so a row beyond the
// limit means there is a next page, which starts after the last row shown.
template <typename Row, typename ToJson>
http::Response page_response(const std::vector<Row>& rows, int limit, ToJson to_json) {
  const auto shown = std::min(rows.size(), static_cast<std::size_t>(limit));
  array items;
  for (std::size_t i = 0; i < shown; ++i) items.push_back(to_json(rows[i]));
  value next = nullptr;
  if (rows.size() > shown && shown > 0) next = encode_cursor(rows[shown - 1].created_at, rows[shown - 1].id);
  return http::Response::json(object{{"items", std::move(items)}, {"next_cursor", next}});
}

// The client's address: the gateway appends it to X-Forwarded-For (and strips what clients send);
// services listen on internal addresses only, so the last entry is the gateway's word.
std::string client_ip(const http::Request& request) {
  auto forwarded = request.header("X-Forwarded-For");
  if (!forwarded.empty()) {
    const auto comma = forwarded.rfind(',');
    auto last = comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
    while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
    if (!last.empty() && last.size() <= 64) return std::string(last);
  }
  return request.remote_address;
}

std::string user_agent(const http::Request& request) {
  auto agent = text::replace_invalid_utf8(request.header("User-Agent"));
  if (agent.size() > 200) agent.resize(200);
  return agent;
}

bool is_verified(const store::UserRow& user) { return user.email_verified || user.phone_verified; }

object user_json(const store::UserRow& user) {
  object json;
  json["id"] = user.id;
  json["name"] = user.name;
  json["email"] = user.email ? value(*user.email) : value(nullptr);
  json["email_verified"] = user.email_verified;
  json["phone"] = user.phone ? value(*user.phone) : value(nullptr);
  json["phone_verified"] = user.phone_verified;
  array roles;
  for (const auto& role : domain::roles_from_column(user.roles)) roles.emplace_back(role);
  json["roles"] = std::move(roles);
  json["verified"] = is_verified(user);
  json["preferred_language"] = user.preferred_language ? value(*user.preferred_language) : value(nullptr);
  json["emergency_contacts"] = boost::json::parse(user.emergency_contacts);
  json["saved_places"] = boost::json::parse(user.saved_places);
  json["status"] = user.status;
  json["created_at"] = rfc3339(user.created_at);
  json["updated_at"] = rfc3339(user.updated_at);
  return json;
}

std::string etag_of(const store::UserRow& user) { return "\"v" + std::to_string(user.version) + "\""; }

http::Response user_response(const store::UserRow& user, int status = 200) {
  auto response = http::Response::json(user_json(user), status);
  response.headers.set("ETag", etag_of(user));
  return response;
}

// At most `max_code_points` characters of valid UTF-8 text, cut between characters.
std::string truncate_utf8(const std::string& text, std::size_t max_code_points) {
  std::size_t at = 0;
  for (std::size_t count = 0; at < text.size() && count < max_code_points; ++count) {
    at += text::decode_utf8(text, at).size;
  }
  return text.substr(0, at);
}

// The value of one cookie of the Cookie header (RFC 6265 §5.4), or empty.
std::string_view cookie(const http::Request& request, std::string_view name) {
  std::string_view header = request.header("Cookie");
  while (!header.empty()) {
    const auto end = header.find(';');
    auto pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

// The one answer for every failed login, whatever failed: no account enumeration.
errors::Unauthorized wrong_credentials() {
  return errors::Unauthorized("the email or phone number and password do not match an account", "Bearer");
}

}  // namespace

class UserApi::Impl {
 public:
  explicit Impl(UserApiDependencies dependencies)
      : deps_(std::move(dependencies)),
        hasher_(auth::PasswordHashing{deps_.settings.password_ops_limit, deps_.settings.password_mem_limit_kib * 1024}),
        issuer_(deps_.access_keys,
                auth::AccessTokenSettings{deps_.settings.issuer, deps_.settings.audience,
                                          std::chrono::seconds(deps_.settings.access_token_lifetime_s)},
                deps_.clock),
        access_verifier_(deps_.access_keys,
                         auth::VerifierSettings::access_tokens(deps_.settings.issuer, deps_.settings.audience),
                         deps_.clock),
        service_verifier_(deps_.internal_keys, auth::VerifierSettings::service_tokens(deps_.internal_issuer, "user"),
                          deps_.clock) {
    if (deps_.store == nullptr || deps_.cache == nullptr)
      throw std::logic_error("the user API needs a store and a cache");
    if (!deps_.random) {
      auth::ensure_sodium_initialized();
      deps_.random = [](std::uint8_t* data, std::size_t size) { randombytes_buf(data, size); };
    }
    if (deps_.metrics != nullptr) {
      logins_ = &deps_.metrics->counter("user_logins_total", "Login attempts by outcome", {"outcome"});
      refreshes_ = &deps_.metrics->counter("user_token_refreshes_total", "Refresh token uses by outcome", {"outcome"});
    }
  }

  // Each route holds a reference to the Impl, so it lives as long as the router does.
  static void add_routes(const std::shared_ptr<Impl>& self, http::Router& router) {
    auto bind = [&self](http::Response (Impl::*handler)(http::Request&)) {
      return [self, handler](http::Request& request) { return ((*self).*handler)(request); };
    };
    router.add("POST", "/api/v1/auth/register", bind(&Impl::register_account_once));
    router.add("POST", "/api/v1/auth/verify", bind(&Impl::verify));
    router.add("POST", "/api/v1/auth/verify/resend", bind(&Impl::resend_code));
    router.add("POST", "/api/v1/auth/login", bind(&Impl::login));
    router.add("POST", "/api/v1/auth/refresh", bind(&Impl::refresh));
    router.add("POST", "/api/v1/auth/logout", bind(&Impl::logout));
    router.add("POST", "/api/v1/auth/logout-all", bind(&Impl::logout_all));
    router.add("POST", "/api/v1/auth/password/forgot", bind(&Impl::forgot_password));
    router.add("POST", "/api/v1/auth/password/reset", bind(&Impl::reset_password));
    router.add("GET", "/api/v1/auth/oauth/providers", bind(&Impl::oauth_providers));
    router.add("GET", "/api/v1/auth/oauth/{provider}/start", bind(&Impl::oauth_start));
    router.add("GET", "/api/v1/auth/oauth/{provider}/callback", bind(&Impl::oauth_callback));
    router.add("GET", "/.well-known/jwks.json", bind(&Impl::jwks),
               {.max_body_bytes = std::nullopt, .runs_inline = true});
    router.add("GET", "/api/v1/users/me", bind(&Impl::get_me));
    router.add("PATCH", "/api/v1/users/me", bind(&Impl::patch_me));
    router.add("DELETE", "/api/v1/users/me", bind(&Impl::delete_me));
    router.add("POST", "/api/v1/users/me/password", bind(&Impl::change_password));
    router.add("GET", "/api/v1/users/me/sessions", bind(&Impl::list_sessions));
    router.add("DELETE", "/api/v1/users/me/sessions/{id}", bind(&Impl::delete_session));
    router.add("GET", "/api/v1/users/{id}", bind(&Impl::get_user));
    router.add("PUT", "/api/v1/users/{id}/roles", bind(&Impl::put_roles));
    router.add("POST", "/api/v1/api-keys", bind(&Impl::create_api_key_once));
    router.add("GET", "/api/v1/api-keys", bind(&Impl::list_api_keys));
    router.add("GET", "/api/v1/api-keys/{id}", bind(&Impl::get_api_key));
    router.add("DELETE", "/api/v1/api-keys/{id}", bind(&Impl::revoke_api_key));
    router.add("POST", "/internal/v1/api-keys/exchange", bind(&Impl::exchange_api_key));
    router.add("GET", "/internal/v1/users/{id}", bind(&Impl::internal_get_user));
  }

  std::pair<std::string, bool> create_admin(const std::string& name, const std::string& email,
                                            const std::string& password) {
    validate::validate_body(object{{"name", name}, {"email", email}, {"password", password}}, kRegisterBody);
    auth::require_password_policy(password, {email, ""});
    const auto hash = hasher_.hash(password);
    const auto now = now_seconds();
    return deps_.store->transact([&](db::Tx& tx) {
      auto existing = store::find_user_by_email(tx, domain::normalize_email(email));
      if (existing) {
        auto roles = domain::roles_from_column(existing->roles);
        roles.emplace_back("admin");
        auto updated = *existing;
        updated.roles = domain::roles_to_column(roles);
        updated.email_verified = true;
        updated.updated_at = now;
        store::update_user(tx, updated, existing->version);
        if (updated.roles != existing->roles)
          publish(tx, "user.role_changed", updated.id, role_change_data(updated, "cli"));
        if (!existing->email_verified) {
          publish(tx, "user.verified", updated.id, object{{"user_id", updated.id}, {"channel", "email"}});
        }
        set_password(tx, updated.id, hash, "password_set_by_operator");  // ends the account's sessions
        return std::make_pair(existing->id, false);
      }
      store::UserRow user;
      user.id = text::new_uuid_v7();
      user.name = name;
      user.email = email;
      user.email_verified = true;  // the operator vouches for the address
      user.password_hash = hash;
      user.roles = domain::roles_to_column({"admin", "rider"});
      user.created_at = user.updated_at = now;
      store::insert_user(tx, user);
      publish(tx, "user.registered", user.id, registered_data(user));
      publish(tx, "user.verified", user.id, object{{"user_id", user.id}, {"channel", "email"}});
      return std::make_pair(user.id, true);
    });
  }

 private:
  // --- Helpers

  long long now_seconds() const { return unix_seconds(deps_.clock()); }

  void publish(db::Tx& tx, std::string type, const std::string& subject, object data) {
    events::publish(tx, kTopic, events::make_event("user", std::move(type), subject, std::move(data)));
  }

  static object registered_data(const store::UserRow& user) {
    return object{{"user_id", user.id},
                  {"roles", boost::json::value_from(domain::roles_from_column(user.roles))},
                  {"has_email", user.email.has_value()},
                  {"has_phone", user.phone.has_value()}};
  }

  static object role_change_data(const store::UserRow& user, const std::string& changed_by) {
    return object{{"user_id", user.id},
                  {"roles", boost::json::value_from(domain::roles_from_column(user.roles))},
                  {"changed_by", changed_by}};
  }

  // Creates a code for one channel and publishes it for the notification service to deliver.
  void send_code(db::Tx& tx, const store::UserRow& user, domain::Channel channel) {
    const auto destination = channel == domain::Channel::email ? user.email : user.phone;
    if (!destination) return;
    const auto code = domain::new_verification_code(deps_.random);
    const auto channel_name = std::string(domain::to_string(channel));
    const auto expires_at = now_seconds() + deps_.settings.verification_code_ttl_s;
    store::replace_code(tx,
                        {user.id, channel_name, *destination, code_hash(user.id, channel_name, code), expires_at, 0});
    publish(tx, "user.verification_requested", user.id,
            object{{"user_id", user.id},
                   {"channel", channel_name},
                   {"destination", *destination},
                   {"code", code},
                   {"expires_at", rfc3339(expires_at)}});
  }

  static std::string code_requests_key(const std::string& user_id, std::string_view channel) {
    return "user:code_requests:" + user_id + ":" + std::string(channel);
  }

  // Codes are messages someone pays for and someone receives: at most a few an hour per account and channel.
  void require_code_allowance(const std::string& key) {
    constexpr int kMaxCodeRequestsPerHour = 5;
    if (read_counter(key) >= kMaxCodeRequestsPerHour) {
      throw errors::TooManyRequests(
          "at most 5 codes an hour are sent per account and channel; wait before asking again", 3600);
    }
  }

  static std::string code_hash(const std::string& user_id, const std::string& channel, std::string_view code) {
    return secret_hash(user_id + ":" + channel + ":" + std::string(code));
  }

  // The caller's verified access token; 401 without one.
  auth::Claims caller(const http::Request& request) const {
    return auth::verify_bearer(access_verifier_, request.header("Authorization"), "an access token");
  }

  // The caller's account, active; a deactivated account's tokens are void even before they expire.
  store::UserRow load_caller(db::Tx& tx, const auth::Claims& claims) const {
    auto user = store::find_user(tx, claims.subject);
    if (!user || user->status != "active") throw errors::Unauthorized("this account no longer exists");
    return *user;
  }

  // The caller as the database knows them now: the account must be active, and roles are those of
  // the token that the account still holds, so a demotion counts at once and not at token expiry.
  auth::Claims current_caller(const http::Request& request, std::string_view permission) const {
    return with_current_roles(caller(request), permission);
  }

  auth::Claims with_current_roles(auth::Claims claims, std::string_view permission) const {
    auth::require(claims, permission);  // fails fast on what the token alone already rules out
    const auto user = deps_.store->transact([&](db::Tx& tx) { return load_caller(tx, claims); });
    const auto held = domain::roles_from_column(user.roles);
    std::erase_if(claims.roles,
                  [&](const std::string& role) { return std::find(held.begin(), held.end(), role) == held.end(); });
    auth::require(claims, permission);
    return claims;
  }

  // Account security (password, verification, sign-out everywhere, deletion) is for the person,
  // not for a machine client holding one of their API keys.
  static void require_interactive(const auth::Claims& claims) {
    if (claims.client_id.starts_with("api_key:")) {
      throw errors::Forbidden("API keys cannot change passwords, verification, sessions or the account; log in");
    }
  }

  void require_service_token(const http::Request& request) const {
    auth::verify_bearer(service_verifier_, request.header("Authorization"), "a service token");
  }

  struct TokenPair {
    std::string access_token;
    std::string refresh_token;
  };

  // Starts a session (a refresh token family) and issues its first pair.
  TokenPair start_session(db::Tx& tx, const store::UserRow& user, const std::string& client_id,
                          const http::Request& request) {
    const auto now = now_seconds();
    store::SessionRow session{text::new_uuid_v7(), user.id, client_id, client_ip(request),
                              user_agent(request), now,     now,       now + refresh_lifetime_s(),
                              std::nullopt};
    store::insert_session(tx, session);
    return issue_pair(tx, user, session.id, client_id);
  }

  TokenPair issue_pair(db::Tx& tx, const store::UserRow& user, const std::string& session_id,
                       const std::string& client_id) {
    const auto refresh_token = domain::new_opaque_token("rt_", deps_.random);
    store::insert_refresh_token(tx, {secret_hash(refresh_token), session_id, now_seconds(), std::nullopt});
    auto access = issuer_.issue({user.id, client_id, domain::roles_from_column(user.roles), is_verified(user)});
    return {std::move(access.token), refresh_token};
  }

  long long refresh_lifetime_s() const {
    return static_cast<long long>(deps_.settings.refresh_token_lifetime_days) * 86'400;
  }

  http::Response token_response(const TokenPair& pair) const {
    auto response = http::Response::json(object{{"access_token", pair.access_token},
                                                {"refresh_token", pair.refresh_token},
                                                {"token_type", "Bearer"},
                                                {"expires_in", deps_.settings.access_token_lifetime_s}});
    response.headers.set("Cache-Control", "no-store");  // RFC 6749 §5.1
    return response;
  }

  void count(metrics::Family<metrics::Counter>* family, const std::string& outcome) {
    if (family != nullptr) family->with({outcome}).inc();
  }

  // Cache counters fail open: a cache outage must not lock everyone out (it is logged).
  std::int64_t read_counter(const std::string& key) {
    try {
      auto current = deps_.cache->get(key);
      return current ? std::stoll(*current) : 0;
    } catch (const std::exception& error) {
      log::warn(std::string("login throttling is off while the cache fails: ") + error.what());
      return 0;
    }
  }

  void bump_counter(const std::string& key, int window_s) {
    try {
      deps_.cache->increment(key, 1, std::chrono::seconds(window_s));
    } catch (const std::exception& error) {
      log::warn(std::string("login throttling is off while the cache fails: ") + error.what());
    }
  }

  void clear_counter(const std::string& key) {
    try {
      deps_.cache->erase(key);
    } catch (const std::exception&) {
      // Left to expire by itself.
    }
  }

  // One of email / phone, exactly; returns the field used and the account it names, if any.
  static std::pair<std::string, std::string> identifier_of(const object& body) {
    auto email = optional_string(body, "email");
    auto phone = optional_string(body, "phone");
    if (email && phone) throw errors::Invalid("", "give either email or phone, not both");
    if (!email && !phone) throw errors::Invalid("", "give email or phone");
    return email ? std::make_pair(std::string("email"), domain::normalize_email(*email))
                 : std::make_pair(std::string("phone"), *phone);
  }

  static std::optional<store::UserRow> find_by_identifier(db::Tx& tx, const std::pair<std::string, std::string>& id) {
    return id.first == "email" ? store::find_user_by_email(tx, id.second) : store::find_user_by_phone(tx, id.second);
  }

  // --- Accounts

  // POSTs that create something honour Idempotency-Key (API conventions): a retried registration
  // gets its 201 again instead of a 409, keyed per client address (there is no account yet).
  http::Response register_account_once(http::Request& request) {
    return idempotency::with_idempotency(*deps_.store, request, "ip:" + client_ip(request),
                                         [&] { return register_account(request); });
  }

  http::Response create_api_key_once(http::Request& request) {
    const auto claims = caller(request);
    return idempotency::with_idempotency(*deps_.store, request, "user:" + claims.subject,
                                         [&] { return create_api_key(request); });
  }

  http::Response register_account(http::Request& request) {
    const auto body = parse_body(request, kRegisterBody);
    store::UserRow user;
    user.name = std::string(body.at("name").as_string());
    user.email = optional_string(body, "email");
    user.phone = optional_string(body, "phone");
    if (!user.email && !user.phone) {
      throw errors::Invalid(
          std::vector<errors::FieldError>{{"email", "give an email address or a phone number (or both)"},
                                          {"phone", "give an email address or a phone number (or both)"}});
    }
    const std::string password(body.at("password").as_string());
    auth::require_password_policy(password, {user.email.value_or(""), user.phone.value_or("")});
    user.id = text::new_uuid_v7();
    user.password_hash = hasher_.hash(password);
    user.roles = domain::roles_to_column({"rider"});
    user.created_at = user.updated_at = now_seconds();
    try {
      deps_.store->transact([&](db::Tx& tx) {
        store::insert_user(tx, user);
        publish(tx, "user.registered", user.id, registered_data(user));
        send_code(tx, user, domain::Channel::email);
        send_code(tx, user, domain::Channel::phone);
      });
    } catch (const std::exception& error) {
      if (!db::is_unique_violation(error)) throw;
      throw errors::Conflict("an account with this email or phone number already exists; log in or reset the password",
                             "exists");
    }
    auto response = user_response(user, 201);
    response.headers.set("Location", "/api/v1/users/" + user.id);
    return response;
  }

  enum class VerifyOutcome { verified, wrong, expired, too_many_attempts, no_code };

  http::Response verify(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "users.update_own");
    require_interactive(claims);
    const auto body = parse_body(request, kVerifyBody);
    const std::string channel(body.at("channel").as_string());
    const std::string code(body.at("code").as_string());
    const auto now = deps_.clock();
    store::UserRow user;
    const auto outcome = deps_.store->transact([&](db::Tx& tx) {
      user = load_caller(tx, claims);
      auto pending = store::find_code(tx, user.id, channel);
      const auto current_destination = channel == "email" ? user.email : user.phone;
      if (!pending || !current_destination || pending->destination != *current_destination)
        return VerifyOutcome::no_code;
      const auto check = domain::check_code(
          {pending->code_hash, auth::TimePoint(std::chrono::seconds(pending->expires_at)), pending->failed_attempts},
          code, now, deps_.settings.verification_max_attempts,
          [&](std::string_view presented) { return code_hash(user.id, channel, presented); });
      switch (check) {
        case domain::CodeCheck::wrong:
          store::count_failed_code_attempt(tx, user.id, channel);  // committed: attempts are counted
          return VerifyOutcome::wrong;
        case domain::CodeCheck::expired:
          return VerifyOutcome::expired;
        case domain::CodeCheck::too_many_attempts:
          return VerifyOutcome::too_many_attempts;
        case domain::CodeCheck::accepted:
          break;
      }
      const auto version = user.version;
      (channel == "email" ? user.email_verified : user.phone_verified) = true;
      user.updated_at = unix_seconds(now);
      store::update_user(tx, user, version);
      ++user.version;
      store::delete_codes(tx, user.id, channel);
      publish(tx, "user.verified", user.id, object{{"user_id", user.id}, {"channel", channel}});
      return VerifyOutcome::verified;
    });
    switch (outcome) {
      case VerifyOutcome::verified:
        return user_response(user);
      case VerifyOutcome::wrong:
        throw errors::Invalid("code", "is not the code that was sent; check it and try again");
      case VerifyOutcome::expired:
        throw errors::Invalid("code", "has expired; ask for a new one at /api/v1/auth/verify/resend");
      case VerifyOutcome::too_many_attempts:
        throw errors::Invalid("code", "was entered wrongly too often; ask for a new one at /api/v1/auth/verify/resend");
      case VerifyOutcome::no_code:
        break;
    }
    throw errors::Invalid("channel", "has no pending code; ask for one at /api/v1/auth/verify/resend");
  }

  http::Response resend_code(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "users.update_own");
    require_interactive(claims);
    const auto body = parse_body(request, kResendBody);
    const std::string channel(body.at("channel").as_string());
    const auto key = code_requests_key(claims.subject, channel);
    require_code_allowance(key);
    deps_.store->transact([&](db::Tx& tx) {
      auto user = load_caller(tx, claims);
      const bool has_destination = channel == "email" ? user.email.has_value() : user.phone.has_value();
      if (!has_destination)
        throw errors::Invalid("channel", "this account has no " + channel + " to verify; add one first");
      if (channel == "email" ? user.email_verified : user.phone_verified) {
        throw errors::Conflict("this " + channel + " is already verified", "verified");
      }
      send_code(tx, user, *domain::parse_channel(channel));
    });
    bump_counter(key, 3600);
    return http::Response::empty(202);
  }

  // --- Login and sessions

  http::Response login(http::Request& request) {
    const auto body = parse_body(request, kLoginBody);
    const auto identifier = identifier_of(body);
    const std::string password(body.at("password").as_string());
    const std::string client_id = optional_string(body, "client_id").value_or(std::string(kDefaultClientId));
    const auto account_key = "user:login_failures:" + identifier.first + ":" + identifier.second;
    const auto ip_key = "user:login_failures:ip:" + client_ip(request);
    const domain::LoginFailures failures{read_counter(account_key), read_counter(ip_key)};
    if (domain::login_locked(
            failures, {deps_.settings.login_max_failures_per_account, deps_.settings.login_max_failures_per_ip})) {
      count(logins_, "locked");
      throw errors::TooManyRequests("too many failed logins; try again later or reset the password",
                                    deps_.settings.login_lockout_window_s);
    }

    auto user = deps_.store->transact([&](db::Tx& tx) { return find_by_identifier(tx, identifier); });
    const bool usable = user && user->status == "active" && user->password_hash;
    // Unknown accounts cost a hash too, so timing does not tell them apart from wrong passwords.
    const bool matches =
        usable ? hasher_.verify(password, *user->password_hash) : (hasher_.verify_without_account(password), false);
    if (!matches) {
      bump_counter(account_key, deps_.settings.login_lockout_window_s);
      bump_counter(ip_key, deps_.settings.login_lockout_window_s);
      count(logins_, "failed");
      throw wrong_credentials();
    }
    clear_counter(account_key);
    const auto upgraded_hash =
        hasher_.needs_rehash(*user->password_hash) ? std::optional<std::string>(hasher_.hash(password)) : std::nullopt;
    const auto pair = deps_.store->transact([&](db::Tx& tx) {
      auto current = store::find_user(tx, user->id);
      if (!current || current->status != "active") throw wrong_credentials();
      if (upgraded_hash && current->password_hash == user->password_hash) {
        auto updated = *current;
        updated.password_hash = upgraded_hash;
        updated.updated_at = now_seconds();
        store::update_user(tx, updated, current->version);
      }
      return start_session(tx, *current, client_id, request);
    });
    count(logins_, "succeeded");
    return token_response(pair);
  }

  enum class RefreshOutcome { rotated, reused, revoked, expired, unknown };

  http::Response refresh(http::Request& request) {
    const auto body = parse_body(request, kRefreshBody);
    const auto presented_hash = secret_hash(body.at("refresh_token").as_string());
    TokenPair pair;
    const auto outcome = deps_.store->transact([&](db::Tx& tx) {
      auto token = store::find_refresh_token(tx, presented_hash);
      if (!token) return RefreshOutcome::unknown;
      auto session = store::find_session(tx, token->session_id);
      if (!session) return RefreshOutcome::unknown;
      const auto now = now_seconds();
      const auto decision = domain::decide_refresh({session->revoked_at.has_value(), token->used_at.has_value(),
                                                    auth::TimePoint(std::chrono::seconds(session->expires_at))},
                                                   deps_.clock());
      switch (decision) {
        case domain::RefreshDecision::revoke_family:
          store::revoke_session(tx, session->id, now, "refresh_token_reuse");  // committed before the 401
          log::warn("refresh token reuse: session " + session->id + " of user " + session->user_id + " revoked");
          return RefreshOutcome::reused;
        case domain::RefreshDecision::reject_revoked:
          return RefreshOutcome::revoked;
        case domain::RefreshDecision::reject_expired:
          return RefreshOutcome::expired;
        case domain::RefreshDecision::rotate:
          break;
      }
      auto user = store::find_user(tx, session->user_id);
      if (!user || user->status != "active") return RefreshOutcome::revoked;
      store::mark_refresh_token_used(tx, presented_hash, now);
      store::touch_session(tx, session->id, now, now + refresh_lifetime_s());
      pair = issue_pair(tx, *user, session->id, session->client_id);
      return RefreshOutcome::rotated;
    });
    switch (outcome) {
      case RefreshOutcome::rotated:
        count(refreshes_, "rotated");
        return token_response(pair);
      case RefreshOutcome::reused:
        count(refreshes_, "reused");
        throw errors::Unauthorized(
            "this refresh token was already used; the session is ended for safety, log in again");
      case RefreshOutcome::revoked:
        count(refreshes_, "revoked");
        throw errors::Unauthorized("this session has ended; log in again");
      case RefreshOutcome::expired:
        count(refreshes_, "expired");
        throw errors::Unauthorized("this session has expired; log in again");
      case RefreshOutcome::unknown:
        break;
    }
    count(refreshes_, "unknown");
    throw errors::Unauthorized("the refresh token is not valid; log in again");
  }

  http::Response logout(http::Request& request) {
    const auto body = parse_body(request, kRefreshBody);
    const auto presented_hash = secret_hash(body.at("refresh_token").as_string());
    const bool found = deps_.store->transact([&](db::Tx& tx) {
      auto token = store::find_refresh_token(tx, presented_hash);
      if (!token) return false;
      store::revoke_session(tx, token->session_id, now_seconds(), "logout");
      return true;
    });
    if (!found) throw errors::Unauthorized("the refresh token is not valid");
    return http::Response::empty(204);
  }

  http::Response logout_all(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "sessions.manage_own");
    require_interactive(claims);
    deps_.store->transact([&](db::Tx& tx) {
      load_caller(tx, claims);
      store::revoke_all_sessions(tx, claims.subject, now_seconds(), "logout_all");
    });
    return http::Response::empty(204);
  }

  http::Response list_sessions(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "sessions.manage_own");
    const auto query = validate::validate_query(request.query, kPageQuery);
    const auto limit = static_cast<int>(query.get<std::int64_t>("limit"));
    const auto after = decode_cursor(query.find<std::string>("cursor"));
    const auto sessions = deps_.store->transact([&](db::Tx& tx) {
      load_caller(tx, claims);
      return store::list_active_sessions(tx, claims.subject, now_seconds(), limit + 1, after);
    });
    return page_response(sessions, limit, [](const store::SessionRow& session) {
      return object{{"id", session.id},
                    {"client_id", session.client_id},
                    {"ip", session.ip},
                    {"user_agent", session.user_agent},
                    {"created_at", rfc3339(session.created_at)},
                    {"last_used_at", rfc3339(session.last_used_at)},
                    {"expires_at", rfc3339(session.expires_at)}};
    });
  }

  http::Response delete_session(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "sessions.manage_own");
    const auto id = request.param("id");
    const bool revoked = deps_.store->transact([&](db::Tx& tx) {
      auto session = store::find_session(tx, id);
      if (!session || session->user_id != claims.subject || session->revoked_at) return false;
      return store::revoke_session(tx, id, now_seconds(), "revoked_by_user");
    });
    if (!revoked) throw auth::not_found("session");
    return http::Response::empty(204);
  }

  // --- Password reset

  http::Response forgot_password(http::Request& request) {
    const auto body = parse_body(request, kForgotBody);
    const auto identifier = identifier_of(body);
    // Always 202, whether or not the account exists; at most a few reset messages an hour per address.
    const auto key = "user:reset_requests:" + identifier.first + ":" + identifier.second;
    constexpr int kMaxResetRequestsPerHour = 5;
    if (read_counter(key) >= kMaxResetRequestsPerHour) return http::Response::empty(202);
    bump_counter(key, 3600);
    deps_.store->transact([&](db::Tx& tx) {
      auto user = find_by_identifier(tx, identifier);
      if (!user || user->status != "active") return;
      const auto token = domain::new_opaque_token("prt_", deps_.random);
      const auto expires_at = now_seconds() + deps_.settings.password_reset_ttl_s;
      store::insert_reset_token(tx, {secret_hash(token), user->id, expires_at, std::nullopt});
      const auto destination = identifier.first == "email" ? *user->email : *user->phone;
      publish(tx, "user.password_reset_requested", user->id,
              object{{"user_id", user->id},
                     {"channel", identifier.first},
                     {"destination", destination},
                     {"token", token},
                     {"expires_at", rfc3339(expires_at)}});
    });
    return http::Response::empty(202);
  }

  http::Response reset_password(http::Request& request) {
    const auto body = parse_body(request, kResetBody);
    const auto token_hash = secret_hash(body.at("token").as_string());
    const std::string new_password(body.at("new_password").as_string());
    auto user = deps_.store->transact([&](db::Tx& tx) -> std::optional<store::UserRow> {
      auto token = store::find_reset_token(tx, token_hash);
      if (!token || token->used_at || token->expires_at <= now_seconds()) return std::nullopt;
      return store::find_user(tx, token->user_id);
    });
    if (!user || user->status != "active") {
      throw errors::Invalid("token", "is not valid, already used or expired; ask for a new one");
    }
    auth::require_password_policy(new_password, {user->email.value_or(""), user->phone.value_or("")}, "new_password");
    const auto hash = hasher_.hash(new_password);
    const bool changed = deps_.store->transact([&](db::Tx& tx) {
      auto token = store::find_reset_token(tx, token_hash);
      if (!token || token->used_at) return false;  // used by a concurrent request meanwhile
      set_password(tx, token->user_id, hash, "password_reset");
      return true;
    });
    if (!changed) throw errors::Invalid("token", "is not valid, already used or expired; ask for a new one");
    return http::Response::empty(204);
  }

  // Stores a new password hash and ends every session: whoever knew the old password is out.
  void set_password(db::Tx& tx, const std::string& user_id, const std::string& hash, const std::string& reason) {
    auto user = store::find_user(tx, user_id);
    if (!user) throw auth::not_found("user");
    auto updated = *user;
    updated.password_hash = hash;
    updated.updated_at = now_seconds();
    store::update_user(tx, updated, user->version);
    store::mark_reset_tokens_used(tx, user_id, updated.updated_at);
    store::revoke_all_sessions(tx, user_id, updated.updated_at, reason);
    publish(tx, "user.password_changed", user_id, object{{"user_id", user_id}, {"reason", reason}});
  }

  http::Response change_password(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "users.update_own");
    require_interactive(claims);
    const auto body = parse_body(request, kChangePasswordBody);
    auto user = deps_.store->transact([&](db::Tx& tx) { return load_caller(tx, claims); });
    if (!user.password_hash || !hasher_.verify(body.at("current_password").as_string(), *user.password_hash)) {
      throw errors::Invalid("current_password", "is not this account's password");
    }
    const std::string new_password(body.at("new_password").as_string());
    auth::require_password_policy(new_password, {user.email.value_or(""), user.phone.value_or("")}, "new_password");
    const auto hash = hasher_.hash(new_password);
    deps_.store->transact([&](db::Tx& tx) { set_password(tx, user.id, hash, "password_changed"); });
    return http::Response::empty(204);
  }

  // --- Profiles

  http::Response get_me(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "users.read_own");
    return user_response(deps_.store->transact([&](db::Tx& tx) { return load_caller(tx, claims); }));
  }

  // If-Match: "v<version>" -> that version; absent -> whatever is current; anything else -> 412.
  static std::optional<long long> expected_version(const http::Request& request) {
    auto if_match = request.header("If-Match");
    if (if_match.empty() || if_match == "*") return std::nullopt;
    long long version = 0;
    if (if_match.size() >= 4 && if_match.substr(0, 2) == "\"v" && if_match.back() == '"') {
      auto digits = if_match.substr(2, if_match.size() - 3);
      auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
      if (error == std::errc() && end == digits.data() + digits.size()) return version;
    }
    throw errors::PreconditionFailed("If-Match must be an ETag of this profile, such as \"v3\"; GET it again");
  }

  http::Response patch_me(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "users.update_own");
    const auto body = parse_body(request, kProfilePatch);
    const auto if_match = expected_version(request);
    if (auto places = body.find("saved_places"); places != body.end()) {
      std::vector<std::string> labels;
      for (const auto& place : places->value().as_array()) labels.emplace_back(place.at("label").as_string());
      if (auto duplicate = domain::first_duplicate_label(labels)) {
        throw errors::Invalid("saved_places[" + std::to_string(*duplicate) + "].label",
                              "repeats the label of another saved place; labels must be unique");
      }
    }
    try {
      auto user = deps_.store->transact([&](db::Tx& tx) {
        auto current = load_caller(tx, claims);
        if (if_match && *if_match != current.version) {
          throw errors::PreconditionFailed("the profile changed since you read it (now " + etag_of(current) +
                                           "); GET it again and reapply the change");
        }
        auto updated = current;
        if (auto name = optional_string(body, "name")) updated.name = *name;
        bool email_changed = false, phone_changed = false;
        if (body.contains("email")) {
          auto email = optional_string(body, "email");
          // A change of case is the same address: it stays verified.
          email_changed = (email ? std::optional(domain::normalize_email(*email)) : std::nullopt) !=
                          (current.email ? std::optional(domain::normalize_email(*current.email)) : std::nullopt);
          updated.email = email;
          if (email_changed) updated.email_verified = false;
        }
        if (body.contains("phone")) {
          auto phone = optional_string(body, "phone");
          phone_changed = phone != current.phone;
          updated.phone = phone;
          if (phone_changed) updated.phone_verified = false;
        }
        if ((current.email || current.phone) && !updated.email && !updated.phone) {
          throw errors::Invalid("", "an account needs an email address or a phone number; keep one of them");
        }
        if (body.contains("preferred_language"))
          updated.preferred_language = optional_string(body, "preferred_language");
        if (auto contacts = body.find("emergency_contacts"); contacts != body.end()) {
          updated.emergency_contacts = boost::json::serialize(contacts->value());
        }
        if (auto places = body.find("saved_places"); places != body.end()) {
          updated.saved_places = boost::json::serialize(places->value());
        }
        updated.updated_at = now_seconds();
        if (!store::update_user(tx, updated, current.version)) {
          throw errors::PreconditionFailed("the profile changed meanwhile; GET it again and reapply the change");
        }
        ++updated.version;
        if (email_changed) {
          store::delete_codes(tx, updated.id, "email");
          if (updated.email) require_code_allowance(code_requests_key(updated.id, "email"));
          send_code(tx, updated, domain::Channel::email);
        }
        if (phone_changed) {
          store::delete_codes(tx, updated.id, "phone");
          if (updated.phone) require_code_allowance(code_requests_key(updated.id, "phone"));
          send_code(tx, updated, domain::Channel::phone);
        }
        return std::make_tuple(updated, email_changed && updated.email, phone_changed && updated.phone);
      });
      if (std::get<1>(user)) bump_counter(code_requests_key(claims.subject, "email"), 3600);
      if (std::get<2>(user)) bump_counter(code_requests_key(claims.subject, "phone"), 3600);
      return user_response(std::get<0>(user));
    } catch (const std::exception& error) {
      if (!db::is_unique_violation(error)) throw;
      throw errors::Conflict("another account already uses this email or phone number", "exists");
    }
  }

  // Deactivation policy (documented in the OpenAPI description): the account row stays, so that
  // bookings, payments and invoices keep a valid reference, but its personal data is erased: name
  // becomes "Deleted user", email, phone, password, language, contacts and places are removed,
  // sessions, codes, reset tokens, OAuth links and API keys are revoked or deleted.
  http::Response delete_me(http::Request& request) {
    const auto claims = caller(request);
    auth::require(claims, "users.update_own");
    require_interactive(claims);
    deps_.store->transact([&](db::Tx& tx) {
      auto current = load_caller(tx, claims);
      auto erased = current;
      const auto now = now_seconds();
      erased.name = "Deleted user";
      erased.email.reset();
      erased.phone.reset();
      erased.email_verified = erased.phone_verified = false;
      erased.password_hash.reset();
      erased.preferred_language.reset();
      erased.emergency_contacts = "[]";
      erased.saved_places = "[]";
      erased.status = "deactivated";
      erased.updated_at = now;
      store::update_user(tx, erased, current.version);
      store::mark_deactivated(tx, current.id, now);
      store::delete_codes(tx, current.id);
      store::mark_reset_tokens_used(tx, current.id, now);
      store::revoke_all_sessions(tx, current.id, now, "deactivated");
      store::delete_oauth_identities(tx, current.id);
      store::revoke_api_keys_of(tx, current.id, now);
      publish(tx, "user.deactivated", current.id, object{{"user_id", current.id}});
    });
    return http::Response::empty(204);
  }

  http::Response get_user(http::Request& request) {
    auto claims = caller(request);
    const auto id = request.param("id");
    if (id != claims.subject) claims = current_caller(request, "users.read_own");
    auth::require_owner_or(claims, id, "users.read_any", "user");
    auto user = deps_.store->transact([&](db::Tx& tx) { return store::find_user(tx, id); });
    if (!user) throw auth::not_found("user");
    return user_response(*user);
  }

  http::Response put_roles(http::Request& request) {
    auto claims = caller(request);
    auth::require(claims, "users.roles.write");
    const auto body = parse_body(request, kRolesBody);
    claims = with_current_roles(claims, "users.roles.write");
    std::vector<std::string> roles;
    for (const auto& role : body.at("roles").as_array()) roles.emplace_back(role.as_string());
    const auto id = request.param("id");
    if (id == claims.subject && std::find(roles.begin(), roles.end(), "admin") == roles.end()) {
      throw errors::Invalid("roles", "an admin cannot remove their own admin role; ask another admin");
    }
    auto user = deps_.store->transact([&](db::Tx& tx) -> std::optional<store::UserRow> {
      auto current = store::find_user(tx, id);
      if (!current || current->status != "active") return std::nullopt;
      auto updated = *current;
      updated.roles = domain::roles_to_column(roles);
      updated.updated_at = now_seconds();
      store::update_user(tx, updated, current->version);
      ++updated.version;
      if (updated.roles != current->roles) {
        publish(tx, "user.role_changed", id, role_change_data(updated, claims.subject));
      }
      return updated;
    });
    if (!user) throw auth::not_found("user");
    return user_response(*user);
  }

  // --- API keys

  static object api_key_json(const store::ApiKeyRow& key) {
    return object{{"id", key.id},
                  {"name", key.name},
                  {"owner_user_id", key.owner_user_id},
                  {"roles", boost::json::value_from(domain::roles_from_column(key.roles))},
                  {"created_by", key.created_by},
                  {"created_at", rfc3339(key.created_at)},
                  {"last_used_at", key.last_used_at ? value(rfc3339(*key.last_used_at)) : value(nullptr)},
                  {"revoked_at", key.revoked_at ? value(rfc3339(*key.revoked_at)) : value(nullptr)}};
  }

  http::Response create_api_key(http::Request& request) {
    auto claims = caller(request);
    auth::require(claims, "api_keys.manage");
    const auto body = parse_body(request, kCreateApiKeyBody);
    claims = with_current_roles(claims, "api_keys.manage");
    std::vector<std::string> roles;
    for (const auto& role : body.at("roles").as_array()) roles.emplace_back(role.as_string());
    const auto key = auth::generate_api_key();
    store::ApiKeyRow row{key.id_prefix,
                         std::string(body.at("name").as_string()),
                         std::string(body.at("owner_user_id").as_string()),
                         domain::roles_to_column(roles),
                         auth::hash_api_key(key),
                         claims.subject,
                         now_seconds(),
                         std::nullopt,
                         std::nullopt};
    deps_.store->transact([&](db::Tx& tx) {
      auto owner = store::find_user(tx, row.owner_user_id);
      if (!owner || owner->status != "active") throw errors::Invalid("owner_user_id", "names no active user");
      const auto owner_roles = domain::roles_from_column(owner->roles);
      for (std::size_t i = 0; i < roles.size(); ++i) {
        if (std::find(owner_roles.begin(), owner_roles.end(), roles[i]) == owner_roles.end()) {
          throw errors::Invalid("roles[" + std::to_string(i) + "]", "the owner does not hold the role " + roles[i] +
                                                                        "; a key can only narrow its owner's roles");
        }
      }
      store::insert_api_key(tx, row);
    });
    auto json = api_key_json(row);
    json["api_key"] = key.text();  // shown once; only its hash is stored
    auto response = http::Response::json(json, 201);
    response.headers.set("Location", "/api/v1/api-keys/" + row.id);
    response.headers.set("Cache-Control", "no-store");
    return response;
  }

  http::Response list_api_keys(http::Request& request) {
    const auto claims = current_caller(request, "api_keys.manage");
    const auto query = validate::validate_query(request.query, kPageQuery);
    const auto limit = static_cast<int>(query.get<std::int64_t>("limit"));
    const auto after = decode_cursor(query.find<std::string>("cursor"));
    const auto keys = deps_.store->transact([&](db::Tx& tx) { return store::list_api_keys(tx, limit + 1, after); });
    return page_response(keys, limit, api_key_json);
  }

  http::Response get_api_key(http::Request& request) {
    current_caller(request, "api_keys.manage");
    auto key = deps_.store->transact([&](db::Tx& tx) { return store::find_api_key(tx, request.param("id")); });
    if (!key) throw auth::not_found("API key");
    return http::Response::json(api_key_json(*key));
  }

  http::Response revoke_api_key(http::Request& request) {
    const auto claims = current_caller(request, "api_keys.manage");
    const auto id = request.param("id");
    const bool revoked =
        deps_.store->transact([&](db::Tx& tx) { return store::revoke_api_key(tx, id, now_seconds()); });
    if (!revoked) throw auth::not_found("API key");
    return http::Response::empty(204);
  }

  // The gateway trades a presented X-API-Key for a short access token of the key's owner with the
  // key's roles, which services verify like any other; it caches the answer for a short while.
  http::Response exchange_api_key(http::Request& request) {
    require_service_token(request);
    const auto body = parse_body(request, kExchangeApiKeyBody);
    const auto key = auth::parse_api_key(body.at("api_key").as_string());
    if (!key) throw errors::Unauthorized("the API key is not valid", "ApiKey");
    const auto token =
        deps_.store->transact([&](db::Tx& tx) -> std::optional<std::pair<store::ApiKeyRow, auth::IssuedToken>> {
          auto row = store::find_api_key(tx, key->id_prefix);
          if (!row || row->revoked_at || !auth::api_key_matches(*key, row->key_hash)) return std::nullopt;
          auto owner = store::find_user(tx, row->owner_user_id);
          if (!owner || owner->status != "active") return std::nullopt;
          const auto now = now_seconds();
          if (!row->last_used_at || *row->last_used_at < now - 60) store::touch_api_key(tx, row->id, now);
          // The key grants only roles its owner still holds.
          std::vector<std::string> roles;
          const auto owner_roles = domain::roles_from_column(owner->roles);
          for (const auto& role : domain::roles_from_column(row->roles)) {
            if (std::find(owner_roles.begin(), owner_roles.end(), role) != owner_roles.end()) roles.push_back(role);
          }
          return std::make_pair(*row, issuer_.issue({owner->id, "api_key:" + row->id, roles, is_verified(*owner)}));
        });
    if (!token) throw errors::Unauthorized("the API key is not valid or was revoked", "ApiKey");
    auto response = http::Response::json(object{{"access_token", token->second.token},
                                                {"token_type", "Bearer"},
                                                {"expires_in", deps_.settings.access_token_lifetime_s},
                                                {"key_id", token->first.id}});
    response.headers.set("Cache-Control", "no-store");
    return response;
  }

  http::Response internal_get_user(http::Request& request) {
    require_service_token(request);
    auto user = deps_.store->transact([&](db::Tx& tx) { return store::find_user(tx, request.param("id")); });
    if (!user) throw auth::not_found("user");
    return user_response(*user);
  }

  http::Response jwks(http::Request&) {
    auto response = http::Response::json(deps_.access_keys->jwks());
    response.headers.set("Cache-Control", "public, max-age=300");
    return response;
  }

  // --- OAuth / OpenID Connect login

  OAuthLogin& oauth() {
    if (!deps_.oauth) throw errors::NotFound("no OAuth provider is configured");
    return *deps_.oauth;
  }

  http::Response oauth_providers(http::Request&) {
    array names;
    if (deps_.oauth) {
      for (const auto& name : deps_.oauth->provider_names()) names.emplace_back(name);
    }
    return http::Response::json(object{{"items", std::move(names)}, {"next_cursor", nullptr}});
  }

  http::Response oauth_start(http::Request& request) {
    auto started = oauth().start(request.param("provider"));
    auto response = http::Response::empty(302);
    response.headers.set("Location", started.location);
    response.headers.set("Cache-Control", "no-store");
    // Lax: the provider's redirect back is a top-level GET, which carries it.
    response.headers.set("Set-Cookie", std::string(kOAuthCookie) + "=" + started.browser_binding +
                                           "; Path=/api/v1/auth/oauth; Max-Age=600; HttpOnly; SameSite=Lax" +
                                           (started.secure_cookie ? "; Secure" : ""));
    return response;
  }

  http::Response oauth_callback(http::Request& request) {
    auto identity = oauth().finish(request.param("provider"), request.query, cookie(request, kOAuthCookie));
    const auto pair = deps_.store->transact([&](db::Tx& tx) {
      auto user = link_oauth_identity(tx, identity);
      return start_session(tx, user, std::string(kDefaultClientId), request);
    });
    count(logins_, "oauth");
    return token_response(pair);
  }

  // The account of an OpenID identity: the one already linked; else the account with the same
  // email, when the provider verified that email; else a new account.
  store::UserRow link_oauth_identity(db::Tx& tx, const OAuthIdentity& identity) {
    const auto now = now_seconds();
    if (auto linked = store::find_oauth_identity(tx, identity.provider, identity.subject)) {
      auto user = store::find_user(tx, linked->user_id);
      if (!user || user->status != "active") throw errors::Forbidden("this account is deactivated");
      return *user;
    }
    std::optional<store::UserRow> user;
    if (identity.email && identity.email_verified) {
      user = store::find_user_by_email(tx, domain::normalize_email(*identity.email));
      if (user && user->status != "active") throw errors::Forbidden("this account is deactivated");
      if (user && !user->email_verified) {
        // Our copy of the address was never proven; the provider just proved it.
        auto verified = *user;
        verified.email_verified = true;
        verified.updated_at = now;
        store::update_user(tx, verified, user->version);
        user = verified;
        publish(tx, "user.verified", user->id, object{{"user_id", user->id}, {"channel", "email"}});
      }
    }
    if (!user) {
      store::UserRow created;
      created.id = text::new_uuid_v7();
      created.name =
          identity.name.empty() ? "Traveller" : truncate_utf8(text::replace_invalid_utf8(identity.name), 100);
      if (identity.email && identity.email_verified) {
        created.email = *identity.email;
        created.email_verified = true;
      }
      created.roles = domain::roles_to_column({"rider"});
      created.created_at = created.updated_at = now;
      store::insert_user(tx, created);
      publish(tx, "user.registered", created.id, registered_data(created));
      if (created.email_verified) {
        publish(tx, "user.verified", created.id, object{{"user_id", created.id}, {"channel", "email"}});
      }
      user = created;
    }
    store::insert_oauth_identity(tx, {identity.provider, identity.subject, user->id, identity.email, now});
    return *user;
  }

  UserApiDependencies deps_;
  auth::PasswordHasher hasher_;
  auth::AccessTokenIssuer issuer_;
  auth::TokenVerifier access_verifier_;
  auth::TokenVerifier service_verifier_;
  metrics::Family<metrics::Counter>* logins_ = nullptr;
  metrics::Family<metrics::Counter>* refreshes_ = nullptr;
};

UserApi::UserApi(UserApiDependencies dependencies) : impl_(std::make_shared<Impl>(std::move(dependencies))) {}
UserApi::~UserApi() = default;

void UserApi::add_routes(http::Router& router) { Impl::add_routes(impl_, router); }

std::pair<std::string, bool> UserApi::create_admin(const std::string& name, const std::string& email,
                                                   const std::string& password) {
  return impl_->create_admin(name, email, password);
}

}  // namespace intercab::services::user
