// The ai service module: owns intents, FAQ vectors and models.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::ai {

// Adds the ai service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::ai
