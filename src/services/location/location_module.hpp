// The location service module: owns cities, the road graph and live positions.
#pragma once

#include <memory>
#include <span>

#include "platform/config/config.hpp"
#include "platform/db/migrations.hpp"
#include "platform/service/service.hpp"
#include "services/location/api/location_api.hpp"

namespace intercab::services::location {

// Adds the location service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

// The location service's own schema migrations (src/services/location/store/migrations).
std::span<const db::MigrationFile> migrations();

// Parses the city and state files (configured, or compiled in) and builds the road graph and the
// route planner; throws std::runtime_error naming the bad file. Takes about a second.
std::shared_ptr<const Geography> load_geography(const config::LocationSettings& settings);

}  // namespace intercab::services::location
