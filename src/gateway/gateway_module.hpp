// The gateway module: the API's front door on port 8000.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::gateway {

// Adds the gateway's forwarding, readiness, docs and capabilities to `builder`.
// Needs builder.environment(): the configuration and the locations of the services.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::gateway
