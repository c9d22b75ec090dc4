// The analytics service module: owns event facts, aggregates and reports.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::analytics {

// Adds the analytics service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::analytics
