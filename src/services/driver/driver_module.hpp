// The driver service module: owns drivers, vehicles, documents, permits, availability and ratings.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::driver {

// Adds the driver service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::driver
