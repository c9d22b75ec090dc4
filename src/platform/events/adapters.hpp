// The two adapters of the event bus port, chosen by open_bus() from EVENTS_URL.
#pragma once

#include <memory>
#include <string>

#include "platform/events/bus.hpp"

namespace intercab::events {

std::unique_ptr<EventBus> make_embedded_bus(BusSettings settings);
std::unique_ptr<EventBus> make_nats_bus(const std::string& url, BusSettings settings);

}  // namespace intercab::events
