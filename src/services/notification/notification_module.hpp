// The notification service module: owns templates, deliveries and the in-app inbox.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::notification {

// Adds the notification service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::notification
