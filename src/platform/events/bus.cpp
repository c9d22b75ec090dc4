// open_bus(): EVENTS_URL -> adapter.
#include "platform/events/bus.hpp"

#include <stdexcept>

#include "platform/events/adapters.hpp"

namespace intercab::events {

std::unique_ptr<EventBus> open_bus(const std::string& url, BusSettings settings) {
  if (settings.store == nullptr) throw std::invalid_argument("the event bus needs the service's database");
  if (settings.service.empty()) throw std::invalid_argument("the event bus needs the service's name");
  if (!settings.metrics) settings.metrics = std::make_shared<metrics::Registry>();
  if (url.empty() || url == "mem://") {
    if (!settings.store_of)
      throw std::invalid_argument("the embedded event bus needs a way to reach producers' databases");
    return make_embedded_bus(std::move(settings));
  }
  if (url.starts_with("nats://")) return make_nats_bus(url, std::move(settings));
  throw std::invalid_argument("EVENTS_URL '" + url +
                              "' is not supported: use mem:// (embedded bus) or nats://host:4222 (NATS JetStream)");
}

}  // namespace intercab::events
