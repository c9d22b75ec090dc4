// Registration of the payment service: its OpenAPI document, routes and capabilities.
// Its domain API arrives with its own issue; until then it serves the common endpoints only,
// and /version lists no payment capability.
#include "services/payment/payment_module.hpp"

namespace intercab::embedded {
std::string_view payment_openapi_yaml();
}

namespace intercab::services::payment {

void setup(service::ServiceBuilder& builder) { builder.set_openapi_yaml(embedded::payment_openapi_yaml()); }

}  // namespace intercab::services::payment
