// Registration of the analytics service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no analytics capability.
#include "services/analytics/analytics_module.hpp"

namespace intercab::embedded {
std::string_view analytics_openapi_yaml();
}

namespace intercab::services::analytics {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::analytics_openapi_yaml()); }

}  // namespace intercab::services::analytics
