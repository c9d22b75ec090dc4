// Registration of the booking service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no booking capability.
#include "services/booking/booking_module.hpp"

namespace intercab::embedded {
std::string_view booking_openapi_yaml();
}

namespace intercab::services::booking {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::booking_openapi_yaml()); }

}  // namespace intercab::services::booking
