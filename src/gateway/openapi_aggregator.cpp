// Merged OpenAPI for /docs: one fetch per service per cache period.
#include "gateway/openapi_aggregator.hpp"

#include <boost/json/parse.hpp>

#include "gateway/docs/docs.hpp"
#include "platform/log/log.hpp"

namespace intercab::gateway {

OpenApiAggregator::OpenApiAggregator(http::Client& client, boost::json::object gateway_document,
                                     std::vector<std::pair<std::string, std::string>> services, std::string version,
                                     std::chrono::seconds cache_for)
    : client_(client),
      gateway_document_(std::move(gateway_document)),
      services_(std::move(services)),
      version_(std::move(version)),
      cache_for_(cache_for) {}

boost::json::object OpenApiAggregator::merged() {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (!cached_.empty() && now - fetched_at_ < cache_for_) return cached_;

  std::vector<std::pair<std::string, boost::json::object>> documents{{"gateway", gateway_document_}};
  std::vector<std::string> missing;
  for (const auto& [service, base_url] : services_) {
    http::ClientRequest request;
    request.url = base_url + "/openapi.json";
    request.timeout = std::chrono::milliseconds(2000);
    auto response = client_.send(std::move(request));
    boost::system::error_code error;
    auto document =
        response.ok() && response.status == 200 ? boost::json::parse(response.body, error) : boost::json::value();
    if (error || !document.is_object()) {
      missing.push_back(service);
      log::warn("cannot fetch OpenAPI document", {{"service", service}, {"url", base_url}});
      continue;
    }
    documents.emplace_back(service, std::move(document.as_object()));
  }
  auto merged_document = docs::merge_openapi(documents, version_);
  if (!missing.empty()) {
    std::string note = "Not shown (unreachable when this page was built): ";
    for (std::size_t i = 0; i < missing.size(); ++i) note += (i ? ", " : "") + missing[i];
    auto& info = merged_document["info"].as_object();
    auto description = info.contains("description") ? std::string(info["description"].as_string()) + "\n\n" : "";
    info["description"] = description + note + ".";
  } else {
    cached_ = merged_document;  // only complete documents are cached
    fetched_at_ = now;
  }
  return merged_document;
}

}  // namespace intercab::gateway
