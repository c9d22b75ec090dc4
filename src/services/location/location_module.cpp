// Registration of the location service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no location capability.
#include "services/location/location_module.hpp"

namespace intercab::embedded {
std::string_view location_openapi_yaml();
}

namespace intercab::services::location {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::location_openapi_yaml()); }

}  // namespace intercab::services::location
