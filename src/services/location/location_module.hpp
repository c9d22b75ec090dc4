// The location service module: owns cities, the road graph and live positions.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::location {

// Adds the location service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::location
