// Role-based access control: the five roles, the one table of what each may do, and the checks
// handlers call. Object ownership is checked here only as "the caller's own, or a permission to
// act on anyone's"; which user owns an object is each service's business.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/auth/claims.hpp"
#include "platform/errors/errors.hpp"

namespace intercab::auth {

enum class Role : unsigned {
  rider = 1U << 0,
  driver = 1U << 1,
  fleet_owner = 1U << 2,
  support = 1U << 3,
  admin = 1U << 4
};

inline constexpr std::array<Role, 5> kAllRoles = {Role::rider, Role::driver, Role::fleet_owner, Role::support,
                                                  Role::admin};

// "rider", "driver", "fleet_owner", "support", "admin": the values of the "roles" claim.
std::string_view to_string(Role role);
std::optional<Role> parse_role(std::string_view name);

// One row of the permission table: a dotted action name, the roles that hold it, and why.
struct PermissionGrant {
  std::string_view permission;
  unsigned roles;  // bit set of Role values
  std::string_view description;
};

// The permission table, in one place (rbac.cpp).
std::span<const PermissionGrant> permission_table();
bool is_known_permission(std::string_view permission);
std::vector<std::string_view> permissions_of(Role role);

// Whether any role of the caller holds `permission`. Unknown role names in the token grant
// nothing. An unknown permission is a programming error: std::invalid_argument, so that a typo
// fails loudly in tests instead of silently denying (or allowing) in production.
bool allowed(const Claims& caller, std::string_view permission);

// Throws errors::Forbidden (403) naming the permission when the caller lacks it.
void require(const Claims& caller, std::string_view permission);
void require_role(const Claims& caller, Role role);

// For actions that need a reachable person (booking a trip, driver payouts): throws errors::Forbidden
// (403) telling how to verify when the token's "verified" claim is false.
void require_verified(const Claims& caller);

// The caller may act on an object owned by `owner_user_id` if it is theirs, or if one of their
// roles holds `permission` (e.g. "bookings.read_any"). Otherwise throws errors::NotFound with the
// detail "<what> not found" — the same answer the service must give for an object that does not
// exist (use not_found()), so a 404 never tells whether someone else's object exists.
void require_owner_or(const Claims& caller, std::string_view owner_user_id, std::string_view permission,
                      std::string_view what = "resource");

// The 404 for "no such <what>", identical to require_owner_or's.
errors::NotFound not_found(std::string_view what = "resource");

}  // namespace intercab::auth
