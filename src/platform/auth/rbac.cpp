// The permission table and the RBAC checks.
#include "platform/auth/rbac.hpp"

#include <stdexcept>

namespace intercab::auth {
namespace {

constexpr unsigned bit(Role role) { return static_cast<unsigned>(role); }

constexpr unsigned kRider = bit(Role::rider);
constexpr unsigned kDriver = bit(Role::driver);
constexpr unsigned kFleetOwner = bit(Role::fleet_owner);
constexpr unsigned kSupport = bit(Role::support);
constexpr unsigned kAdmin = bit(Role::admin);
constexpr unsigned kEveryone = kRider | kDriver | kFleetOwner | kSupport | kAdmin;

// Naming: <resource>.<action>; "_own" acts on the caller's own objects (the service still checks
// ownership, usually through require_owner_or), "_any" on everybody's. The admin holds every
// permission, written out on each row so that a row reads completely on its own.
constexpr PermissionGrant kPermissionTable[] = {
    // The caller's own account: everyone signed in.
    {"users.read_own", kEveryone, "read one's own profile"},
    {"users.update_own", kEveryone, "edit one's own profile, email, phone and password"},
    {"sessions.manage_own", kEveryone, "list and revoke one's own sessions and refresh tokens"},
    {"notifications.read_own", kEveryone, "read one's own in-app inbox"},
    {"ai.chat", kEveryone, "talk to the support chatbot"},

    // Riders: quotes, bookings, paying for them.
    {"quotes.create", kRider | kSupport | kAdmin, "ask for a fare quote"},
    {"bookings.create", kRider | kSupport | kAdmin, "book a trip (support books for riders on the phone)"},
    {"bookings.read_own", kRider | kAdmin, "list and read one's own bookings"},
    {"bookings.cancel_own", kRider | kAdmin, "cancel one's own booking (cancellation policy applies)"},
    {"payments.create", kRider | kAdmin, "pay or authorise the fare of one's own booking"},
    {"payments.read_own", kRider | kAdmin, "read one's own payments, refunds and invoices"},
    {"wallet.read_own", kRider | kAdmin, "read one's own wallet balance and statement"},
    {"ratings.create", kRider | kDriver | kAdmin, "rate the other party of one's own completed trip"},

    // Drivers: their profile, availability and trips.
    {"drivers.profile.write_own", kDriver | kAdmin, "edit one's own driver profile, vehicle, documents, permits"},
    {"drivers.availability.write_own", kDriver | kAdmin, "go online or offline"},
    {"locations.write_own", kDriver | kAdmin, "send one's own live position"},
    {"trips.respond", kDriver | kAdmin, "accept or decline a trip offered to oneself"},
    {"trips.update_assigned", kDriver | kAdmin, "start (with the rider's OTP) and complete one's assigned trip"},
    {"bookings.read_assigned", kDriver | kAdmin, "read the bookings assigned to oneself"},
    {"payouts.read_own", kDriver | kFleetOwner | kAdmin, "read one's own earnings and payouts"},

    // Fleet owners: their vehicles and the drivers who drive them.
    {"fleet.vehicles.manage", kFleetOwner | kAdmin, "add, edit and retire the vehicles of one's own fleet"},
    {"fleet.drivers.read", kFleetOwner | kAdmin, "read the drivers and trips of one's own fleet"},
    {"fleet.reports.read", kFleetOwner | kAdmin, "read the earnings reports of one's own fleet"},

    // Support: read everybody's, fix things for customers.
    {"users.read_any", kSupport | kAdmin, "read any user's profile"},
    {"bookings.read_any", kSupport | kAdmin, "read any booking and its event history"},
    {"bookings.cancel_any", kSupport | kAdmin, "cancel any booking on a customer's behalf"},
    {"drivers.read_any", kSupport | kAdmin, "read any driver's profile and documents"},
    {"locations.read_any", kSupport | kAdmin, "follow any driver's live position and find drivers near a point"},
    {"payments.read_any", kSupport | kAdmin, "read any payment, refund or invoice"},
    {"refunds.create", kSupport | kAdmin, "refund a payment (the ledger records who)"},
    {"disputes.manage", kSupport | kAdmin, "open, work on and resolve payment disputes"},
    {"notifications.send", kSupport | kAdmin, "send a message to a user"},

    // Administration.
    {"users.roles.write", kAdmin, "grant and revoke roles"},
    {"users.suspend", kAdmin, "suspend or reinstate an account"},
    {"drivers.verify", kAdmin, "approve or reject a driver's KYC documents and permits"},
    {"payouts.read_any", kAdmin, "read any driver's or fleet's payouts"},
    {"pricing.write", kAdmin, "change fare policies, surge bounds and promotions"},
    {"api_keys.manage", kAdmin, "create and revoke API keys of machine clients"},
    {"config.write", kAdmin, "change runtime configuration and feature flags"},
    {"content.write", kAdmin, "edit FAQ, templates and other content"},
    {"analytics.read", kAdmin, "read business reports and exports"},
};

const PermissionGrant& grant_of(std::string_view permission) {
  for (const auto& grant : kPermissionTable) {
    if (grant.permission == permission) return grant;
  }
  throw std::invalid_argument("unknown permission '" + std::string(permission) + "' (see the table in rbac.cpp)");
}

}  // namespace

std::string_view to_string(Role role) {
  switch (role) {
    case Role::rider:
      return "rider";
    case Role::driver:
      return "driver";
    case Role::fleet_owner:
      return "fleet_owner";
    case Role::support:
      return "support";
    case Role::admin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view name) {
  for (const auto role : kAllRoles) {
    if (to_string(role) == name) return role;
  }
  return std::nullopt;
}

std::span<const PermissionGrant> permission_table() { return kPermissionTable; }

bool is_known_permission(std::string_view permission) {
  for (const auto& grant : kPermissionTable) {
    if (grant.permission == permission) return true;
  }
  return false;
}

std::vector<std::string_view> permissions_of(Role role) {
  std::vector<std::string_view> out;
  for (const auto& grant : kPermissionTable) {
    if ((grant.roles & bit(role)) != 0) out.push_back(grant.permission);
  }
  return out;
}

bool allowed(const Claims& caller, std::string_view permission) {
  const auto& grant = grant_of(permission);
  for (const auto& name : caller.roles) {
    const auto role = parse_role(name);
    if (role && (grant.roles & bit(*role)) != 0) return true;
  }
  return false;
}

void require(const Claims& caller, std::string_view permission) {
  if (!allowed(caller, permission)) {
    throw errors::Forbidden("this action needs the permission " + std::string(permission) +
                            ", which none of your roles holds");
  }
}

void require_role(const Claims& caller, Role role) {
  if (!caller.has_role(to_string(role))) {
    throw errors::Forbidden("this action needs the " + std::string(to_string(role)) + " role");
  }
}

void require_verified(const Claims& caller) {
  if (!caller.verified) {
    throw errors::Forbidden(
        "verify your phone number or email first: POST /api/v1/auth/verify with the code we sent (ask for a new one "
        "at /api/v1/auth/verify/resend), then refresh your token");
  }
}

void require_owner_or(const Claims& caller, std::string_view owner_user_id, std::string_view permission,
                      std::string_view what) {
  // Only a user's access token can own something: a service token's subject is a service name.
  const bool own = caller.token_type == kAccessTokenType && !owner_user_id.empty() && caller.subject == owner_user_id;
  // The permission is checked even for the owner, so that an unknown permission fails loudly.
  if (allowed(caller, permission) || own) return;
  throw not_found(what);
}

errors::NotFound not_found(std::string_view what) { return errors::NotFound(std::string(what) + " not found"); }

}  // namespace intercab::auth
