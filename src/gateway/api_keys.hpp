// X-API-Key at the gateway: a machine client's key is traded, once a minute at most, for a short
// access token of the key's owner narrowed to the key's roles (the user service's
// /internal/v1/api-keys/exchange, called with a service token). Services then verify that token like
// any other and never see the key. Revoking a key takes effect within kMaxCacheAge.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "platform/auth/jwt.hpp"
#include "platform/http/client.hpp"

namespace intercab::gateway {

class ApiKeyExchange {
 public:
  static constexpr auto kMaxCacheAge = std::chrono::seconds(60);
  static constexpr std::size_t kMaxCachedKeys = 10'000;

  // `user_service_url`: base URL of the user service ("http://127.0.0.1:8001").
  ApiKeyExchange(http::Client& client, std::string user_service_url,
                 std::shared_ptr<auth::ServiceTokenIssuer> service_tokens);

  // The access token for a key exchanged less than kMaxCacheAge ago (never one about to expire);
  // fast, for the io thread.
  std::optional<std::string> cached(std::string_view presented_key);

  // Exchanges the key at the user service (blocking: worker threads only). Throws
  // errors::Unauthorized for a malformed, unknown or revoked key, errors::Unavailable when the user
  // service cannot answer.
  std::string exchange(std::string_view presented_key);

 private:
  struct Entry {
    std::string access_token;
    std::chrono::steady_clock::time_point valid_until;
  };

  http::Client& client_;
  std::string exchange_url_;
  std::shared_ptr<auth::ServiceTokenIssuer> service_tokens_;
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> tokens_;  // by hash of the key, never the key itself
};

}  // namespace intercab::gateway
