// Registration of the driver service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no driver capability.
#include "services/driver/driver_module.hpp"

namespace intercab::embedded {
std::string_view driver_openapi_yaml();
}

namespace intercab::services::driver {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::driver_openapi_yaml()); }

}  // namespace intercab::services::driver
