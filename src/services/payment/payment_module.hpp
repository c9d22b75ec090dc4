// The payment service module: owns the ledger, wallets, payments, refunds, disputes and invoices.
#pragma once

#include "platform/service/service.hpp"

namespace intercab::services::payment {

// Adds the payment service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

}  // namespace intercab::services::payment
