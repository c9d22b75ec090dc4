#include "platform/auth/rbac.hpp"

#include <gtest/gtest.h>

#include <set>

namespace intercab::auth {
namespace {

Claims user(std::string id, std::vector<std::string> roles) {
  Claims claims;
  claims.token_type = kAccessTokenType;
  claims.subject = std::move(id);
  claims.roles = std::move(roles);
  return claims;
}

TEST(Roles, HaveTheirClaimNames) {
  for (const auto role : kAllRoles) EXPECT_EQ(parse_role(to_string(role)), role);
  EXPECT_EQ(to_string(Role::fleet_owner), "fleet_owner");
  EXPECT_FALSE(parse_role("Admin").has_value());
  EXPECT_FALSE(parse_role("superuser").has_value());
}

TEST(PermissionTable, IsWellFormedAndTheAdminHoldsEverything) {
  std::set<std::string_view> names;
  for (const auto& grant : permission_table()) {
    EXPECT_TRUE(names.insert(grant.permission).second) << "duplicate " << grant.permission;
    EXPECT_NE(grant.roles, 0U) << grant.permission;
    EXPECT_FALSE(grant.description.empty()) << grant.permission;
    EXPECT_NE(grant.permission.find('.'), std::string_view::npos) << grant.permission;
    for (const char c : grant.permission)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '.' || c == '_') << grant.permission;
    EXPECT_TRUE(is_known_permission(grant.permission));
  }
  EXPECT_EQ(permissions_of(Role::admin).size(), permission_table().size());
  EXPECT_FALSE(is_known_permission("bookings.destroy_all"));
}

TEST(Rbac, EachRoleGetsItsOwnActions) {
  const auto rider = user("usr_r", {"rider"});
  const auto driver = user("usr_d", {"driver"});
  const auto support = user("usr_s", {"support"});
  const auto admin = user("usr_a", {"admin"});
  EXPECT_TRUE(allowed(rider, "bookings.create"));
  EXPECT_FALSE(allowed(rider, "users.read_any"));
  EXPECT_FALSE(allowed(rider, "payouts.read_own"));
  EXPECT_TRUE(allowed(driver, "payouts.read_own"));
  EXPECT_TRUE(allowed(driver, "trips.respond"));
  EXPECT_FALSE(allowed(driver, "bookings.create"));
  EXPECT_TRUE(allowed(user("usr_f", {"fleet_owner"}), "fleet.vehicles.manage"));
  EXPECT_TRUE(allowed(support, "users.read_any"));
  EXPECT_FALSE(allowed(support, "users.roles.write"));
  EXPECT_FALSE(allowed(support, "api_keys.manage"));
  EXPECT_TRUE(allowed(admin, "users.roles.write"));
  EXPECT_TRUE(allowed(admin, "api_keys.manage"));
  // Several roles add up; unknown role names grant nothing.
  EXPECT_TRUE(allowed(user("usr_x", {"rider", "driver"}), "trips.respond"));
  EXPECT_FALSE(allowed(user("usr_x", {"Admin", "root", ""}), "users.read_own"));
  EXPECT_FALSE(allowed(user("usr_x", {}), "users.read_own"));
}

TEST(Rbac, UnknownPermissionIsAProgrammingError) {
  EXPECT_THROW(static_cast<void>(allowed(user("usr_a", {"admin"}), "bookings.craete")), std::invalid_argument);
  EXPECT_THROW(require_owner_or(user("usr_a", {"rider"}), "usr_a", "bookings.read_anyy"), std::invalid_argument);
}

TEST(Rbac, RequireThrowsForbiddenNamingThePermission) {
  EXPECT_NO_THROW(require(user("usr_a", {"admin"}), "users.roles.write"));
  try {
    require(user("usr_r", {"rider"}), "users.roles.write");
    FAIL() << "allowed";
  } catch (const errors::Forbidden& error) {
    EXPECT_EQ(error.status(), 403);
    EXPECT_EQ(error.detail(), "this action needs the permission users.roles.write, which none of your roles holds");
  }
  EXPECT_NO_THROW(require_role(user("usr_s", {"rider", "support"}), Role::support));
  try {
    require_role(user("usr_r", {"rider"}), Role::admin);
    FAIL() << "allowed";
  } catch (const errors::Forbidden& error) {
    EXPECT_EQ(error.detail(), "this action needs the admin role");
  }
}

TEST(Rbac, UnverifiedAccountsAreToldHowToVerify) {
  auto caller = user("usr_u", {"rider"});
  caller.verified = false;
  try {
    require_verified(caller);
    FAIL() << "allowed";
  } catch (const errors::Forbidden& error) {
    EXPECT_NE(error.detail().find("/api/v1/auth/verify"), std::string::npos) << error.detail();
  }
  caller.verified = true;
  EXPECT_NO_THROW(require_verified(caller));
}

TEST(Rbac, OwnershipOrPermissionElseNotFound) {
  EXPECT_NO_THROW(require_owner_or(user("usr_1", {"rider"}), "usr_1", "bookings.read_any", "booking"));
  EXPECT_NO_THROW(require_owner_or(user("usr_s", {"support"}), "usr_1", "bookings.read_any", "booking"));
  try {
    require_owner_or(user("usr_2", {"rider"}), "usr_1", "bookings.read_any", "booking");
    FAIL() << "allowed";
  } catch (const errors::NotFound& error) {
    EXPECT_EQ(error.status(), 404);
    EXPECT_EQ(error.detail(), "booking not found");
    // Indistinguishable from the answer for a booking that does not exist.
    EXPECT_EQ(error.detail(), not_found("booking").detail());
  }
  // An empty owner (a bug or a system object) belongs to nobody.
  Claims no_subject = user("", {"rider"});
  EXPECT_THROW(require_owner_or(no_subject, "", "bookings.read_any"), errors::NotFound);
  // A service token never owns anything, even if its subject happens to equal a user id.
  Claims service = user("usr_1", {});
  service.token_type = kServiceTokenType;
  EXPECT_THROW(require_owner_or(service, "usr_1", "bookings.read_any"), errors::NotFound);
}

}  // namespace
}  // namespace intercab::auth
