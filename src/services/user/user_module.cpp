// Registration of the user service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no user capability.
#include "services/user/user_module.hpp"

namespace intercab::embedded {
std::string_view user_openapi_yaml();
}

namespace intercab::services::user {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::user_openapi_yaml()); }

}  // namespace intercab::services::user
