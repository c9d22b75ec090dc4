// The user service module: owns users, credentials, sessions, roles and OAuth links.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::user {

// Adds the user service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::user
