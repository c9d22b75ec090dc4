// Registration of the ai service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no ai capability.
#include "services/ai/ai_module.hpp"

namespace intercab::embedded {
std::string_view ai_openapi_yaml();
}

namespace intercab::services::ai {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::ai_openapi_yaml()); }

}  // namespace intercab::services::ai
