// The booking service module: owns quotes, bookings and the booking event log.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::booking {

// Adds the booking service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::booking
