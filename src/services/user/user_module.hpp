// The user service module: owns users, credentials, sessions, roles and OAuth links.
#pragma once

#include <span>

#include "platform/db/migrations.hpp"
#include "platform/service/service.hpp"

namespace intercab::services::user {

// Adds the user service's routes, readiness checks and capabilities to `builder`.
void setup(service::ServiceBuilder& builder);

// The schema of the user database (store/migrations), applied before the service starts.
std::span<const db::MigrationFile> migrations();

// `intercab user create-admin`: creates an admin account with a verified email on the user
// database, or adds the admin role to the account with that email. Returns the user id and whether
// the account is new. Throws errors::Invalid when the password breaks the policy.
std::pair<std::string, bool> create_admin(const config::Config& config, const service::Infrastructure& infrastructure,
                                          const std::string& name, const std::string& email,
                                          const std::string& password);

}  // namespace intercab::services::user
