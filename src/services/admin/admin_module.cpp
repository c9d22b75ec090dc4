// Registration of the admin service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no admin capability.
#include "services/admin/admin_module.hpp"

namespace intercab::embedded {
std::string_view admin_openapi_yaml();
}

namespace intercab::services::admin {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::admin_openapi_yaml()); }

}  // namespace intercab::services::admin
