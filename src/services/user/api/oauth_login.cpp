// OpenID Connect login for the user service; see oauth_login.hpp. The protocol work (discovery,
// PKCE, token exchange, ID token verification) is platform/auth/oidc; this file keeps the pending
// logins in the cache and turns the provider's answers into an identity.
#include "services/user/api/oauth_login.hpp"

#include <sodium.h>

#include <boost/json.hpp>

#include "platform/auth/base64url.hpp"
#include "platform/auth/oidc.hpp"
#include "platform/auth/sodium.hpp"
#include "platform/errors/errors.hpp"
#include "platform/log/log.hpp"

namespace intercab::services::user {
namespace {

constexpr auto kPendingLoginLifetime = std::chrono::minutes(10);

std::string binding_hash(std::string_view binding) {
  std::array<unsigned char, crypto_generichash_BYTES> digest{};
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(binding.data()),
                     binding.size(), nullptr, 0);
  return auth::base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return auth::base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace

class OAuthLogin::Impl {
 public:
  Impl(std::vector<config::AuthSettings::OAuthProvider> providers, http::Client& client, cache::Cache& cache)
      : cache_(cache) {
    auth::ensure_sodium_initialized();
    for (const auto& provider : providers) {
      auth::OidcProviderSettings settings;
      settings.name = provider.name;
      settings.issuer = provider.issuer;
      settings.authorization_endpoint = provider.authorization_endpoint;
      settings.token_endpoint = provider.token_endpoint;
      settings.jwks_uri = provider.jwks_uri;
      settings.client_id = provider.client_id;
      settings.client_secret = provider.client_secret;
      settings.redirect_uri = provider.redirect_uri;
      settings.scopes = provider.scopes;
      settings.token_endpoint_auth =
          provider.token_endpoint_auth == "client_secret_post"    ? auth::TokenEndpointAuth::client_secret_post
          : provider.token_endpoint_auth == "client_secret_basic" ? auth::TokenEndpointAuth::client_secret_basic
                                                                  : auth::TokenEndpointAuth::automatic;
      clients_.emplace(provider.name, std::make_unique<auth::OidcClient>(std::move(settings), client));
    }
  }

  std::vector<std::string> provider_names() const {
    std::vector<std::string> names;
    for (const auto& [name, client] : clients_) names.push_back(name);
    return names;
  }

  OAuthStart start(const std::string& provider) {
    auto& client = find(provider);
    auto request = client.begin_login();
    const auto binding = random_token();
    const boost::json::object pending{{"provider", provider},
                                      {"nonce", request.nonce},
                                      {"code_verifier", request.code_verifier},
                                      {"binding", binding_hash(binding)}};
    try {
      cache_.set(key_of(request.state), boost::json::serialize(pending),
                 std::chrono::duration_cast<std::chrono::milliseconds>(kPendingLoginLifetime));
    } catch (const cache::CacheUnavailable& error) {
      throw errors::Unavailable(std::string("login with a provider is unavailable for a moment: ") + error.what(), 5);
    }
    return {request.url, binding, client.settings().redirect_uri.starts_with("https://")};
  }

  OAuthIdentity finish(const std::string& provider, const std::map<std::string, std::string>& query,
                       std::string_view browser_binding) {
    auto& client = find(provider);
    if (auto error = query.find("error"); error != query.end()) {
      throw errors::Unauthorized("the provider did not sign you in (" + error->second.substr(0, 64) + "); start again");
    }
    auto state = query.find("state");
    auto code = query.find("code");
    if (state == query.end() || code == query.end() || state->second.empty() || code->second.empty()) {
      throw errors::Invalid(
          std::vector<errors::FieldError>{{"state", "the provider's redirect must carry state and code"},
                                          {"code", "the provider's redirect must carry state and code"}});
    }
    // RFC 9207: a provider that names itself in the redirect must be the one we sent the user to
    // (mix-up attacks between providers).
    if (auto issuer = query.find("iss"); issuer != query.end() && issuer->second != client.settings().issuer) {
      throw errors::Unauthorized("the redirect came from another identity provider than " + provider + "; start again");
    }
    std::optional<std::string> pending_text;
    try {
      pending_text = cache_.get(key_of(state->second));
      if (pending_text) cache_.erase(key_of(state->second));  // single use
    } catch (const cache::CacheUnavailable& error) {
      throw errors::Unavailable(std::string("login with a provider is unavailable for a moment: ") + error.what(), 5);
    }
    if (!pending_text) throw errors::Unauthorized("this login is unknown or expired (10 minutes); start again");
    const auto pending = boost::json::parse(*pending_text).as_object();
    if (pending.at("provider").as_string() != provider) {
      throw errors::Unauthorized("this login was started with another provider; start again");
    }
    if (browser_binding.empty() || binding_hash(browser_binding) != pending.at("binding").as_string()) {
      log::warn("OAuth callback without the cookie of the browser that started the login (provider " + provider + ")");
      throw errors::Unauthorized("this login was started in another browser; start again here");
    }
    const auto claims =
        client.complete_login(code->second, pending.at("code_verifier").as_string(), pending.at("nonce").as_string());
    OAuthIdentity identity;
    identity.provider = provider;
    identity.subject = claims.subject;
    if (!claims.email.empty()) identity.email = claims.email;
    identity.email_verified = claims.email_verified;
    identity.name = claims.name;
    return identity;
  }

 private:
  auth::OidcClient& find(const std::string& provider) {
    auto it = clients_.find(provider);
    if (it == clients_.end()) throw errors::NotFound("no OAuth provider named '" + provider.substr(0, 40) + "'");
    return *it->second;
  }

  static std::string key_of(const std::string& state) { return "user:oauth_login:" + state; }

  cache::Cache& cache_;
  std::map<std::string, std::unique_ptr<auth::OidcClient>> clients_;
};

OAuthLogin::OAuthLogin(std::vector<config::AuthSettings::OAuthProvider> providers, http::Client& client,
                       cache::Cache& cache)
    : impl_(std::make_unique<Impl>(std::move(providers), client, cache)) {}
OAuthLogin::~OAuthLogin() = default;

std::vector<std::string> OAuthLogin::provider_names() const { return impl_->provider_names(); }

OAuthStart OAuthLogin::start(const std::string& provider) { return impl_->start(provider); }

OAuthIdentity OAuthLogin::finish(const std::string& provider, const std::map<std::string, std::string>& query,
                                 std::string_view browser_binding) {
  return impl_->finish(provider, query, browser_binding);
}

}  // namespace intercab::services::user
