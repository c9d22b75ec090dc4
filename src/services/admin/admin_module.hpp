// The admin service module: owns configuration, feature flags and content.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::admin {

// Adds the admin service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::admin
