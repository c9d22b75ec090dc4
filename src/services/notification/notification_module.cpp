// Registration of the notification service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no notification capability.
#include "services/notification/notification_module.hpp"

namespace intercab::embedded {
std::string_view notification_openapi_yaml();
}

namespace intercab::services::notification {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::notification_openapi_yaml()); }

}  // namespace intercab::services::notification
