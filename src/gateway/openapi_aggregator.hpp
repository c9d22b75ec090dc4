// Fetches every service's /openapi.json and merges them for /docs, caching the result briefly.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "platform/http/client.hpp"

namespace intercab::gateway {

class OpenApiAggregator {
 public:
  // `gateway_document`: the gateway's own OpenAPI document, listed first; `services`: (name,
  // base URL) of every service behind the gateway.
  OpenApiAggregator(http::Client& client, boost::json::object gateway_document,
                    std::vector<std::pair<std::string, std::string>> services, std::string version,
                    std::chrono::seconds cache_for = std::chrono::seconds(30));

  // The merged document; blocks on the services' answers (call it from a worker thread).
  boost::json::object merged();

 private:
  http::Client& client_;
  const boost::json::object gateway_document_;
  const std::vector<std::pair<std::string, std::string>> services_;
  const std::string version_;
  const std::chrono::seconds cache_for_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point fetched_at_{};
  boost::json::object cached_;
};

}  // namespace intercab::gateway
