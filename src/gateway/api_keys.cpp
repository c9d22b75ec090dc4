// X-API-Key exchange and its cache; see api_keys.hpp.
#include "gateway/api_keys.hpp"

#include <boost/json.hpp>

#include "platform/auth/api_key.hpp"
#include "platform/errors/errors.hpp"
#include "platform/log/log.hpp"

namespace intercab::gateway {
namespace {

errors::Unauthorized invalid_key() {
  return errors::Unauthorized("the X-API-Key is not valid or was revoked", "ApiKey realm=\"intercab\"");
}

}  // namespace

ApiKeyExchange::ApiKeyExchange(http::Client& client, std::string user_service_url,
                               std::shared_ptr<auth::ServiceTokenIssuer> service_tokens)
    : client_(client),
      exchange_url_(std::move(user_service_url) + "/internal/v1/api-keys/exchange"),
      service_tokens_(std::move(service_tokens)) {}

std::optional<std::string> ApiKeyExchange::cached(std::string_view presented_key) {
  const auto key = auth::parse_api_key(presented_key);
  if (!key) return std::nullopt;
  const auto hash = auth::hash_api_key(*key);
  std::lock_guard lock(mutex_);
  auto it = tokens_.find(hash);
  if (it == tokens_.end()) return std::nullopt;
  if (std::chrono::steady_clock::now() >= it->second.valid_until) {
    tokens_.erase(it);
    return std::nullopt;
  }
  return it->second.access_token;
}

std::string ApiKeyExchange::exchange(std::string_view presented_key) {
  const auto key = auth::parse_api_key(presented_key);
  if (!key) throw invalid_key();
  http::ClientRequest request;
  request.method = "POST";
  request.url = exchange_url_;
  request.headers.set("Authorization", "Bearer " + service_tokens_->token_for("user"));
  request.headers.set("Content-Type", "application/json");
  request.body = boost::json::serialize(boost::json::object{{"api_key", key->text()}});
  const auto response = client_.send(std::move(request));
  if (response.status == 401) throw invalid_key();
  if (response.status != 200) {
    log::warn("API key exchange failed", {{"status", response.status}, {"error", response.error_message}});
    throw errors::Unavailable("API keys cannot be checked right now; retry shortly", 1);
  }
  std::string token;
  std::chrono::seconds lifetime{0};
  try {
    const auto body = boost::json::parse(response.body).as_object();
    token = std::string(body.at("access_token").as_string());
    lifetime = std::chrono::seconds(body.at("expires_in").to_number<std::int64_t>());
  } catch (const std::exception& error) {
    log::warn("API key exchange answered an unexpected body", {{"error", error.what()}});
    throw errors::Unavailable("API keys cannot be checked right now; retry shortly", 1);
  }
  // Kept for a minute at most, and never into the token's last minute (clock skew, long requests).
  const auto usable = std::min<std::chrono::seconds>(kMaxCacheAge, lifetime - std::chrono::seconds(60));
  if (usable > std::chrono::seconds(0)) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (tokens_.size() >= kMaxCachedKeys) {
      std::erase_if(tokens_, [now](const auto& entry) { return now >= entry.second.valid_until; });
      if (tokens_.size() >= kMaxCachedKeys) tokens_.clear();
    }
    tokens_[auth::hash_api_key(*key)] = Entry{token, now + usable};
  }
  return token;
}

}  // namespace intercab::gateway
