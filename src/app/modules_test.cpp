#include "app/modules.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace intercab::app {
namespace {

using ::testing::HasSubstr;

std::size_t position(const std::vector<std::string>& order, const std::string& name) {
  return static_cast<std::size_t>(std::find(order.begin(), order.end(), name) - order.begin());
}

TEST(Modules, AllStartsEveryServiceDependenciesFirst) {
  auto order = resolve_targets("all");
  ASSERT_EQ(order.size(), modules().size());
  for (const auto& module : modules()) {
    for (const auto& dependency : module.dependencies) {
      EXPECT_LT(position(order, dependency), position(order, module.name)) << dependency << " before " << module.name;
    }
  }
}

TEST(Modules, CommaListKeepsDependencyOrderAndIgnoresDuplicates) {
  auto order = resolve_targets("booking, user,booking");
  EXPECT_EQ(order, (std::vector<std::string>{"user", "booking"}));
}

TEST(Modules, UnknownTargetListsValidOnes) {
  try {
    resolve_targets("user,bookings");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("unknown target 'bookings'"));
    EXPECT_THAT(error.what(), HasSubstr("all, gateway, user, booking, location"));
  }
  EXPECT_THROW(resolve_targets(""), std::invalid_argument);
}

TEST(Modules, PortsAreDistinctAndInTheAgreedRange) {
  std::set<int> ports;
  for (const auto& module : modules()) {
    EXPECT_TRUE(ports.insert(module.default_port).second) << module.name;
    EXPECT_GE(module.default_port, 8000);
    EXPECT_LE(module.default_port, 8009);
  }
}

}  // namespace
}  // namespace intercab::app

#include "platform/config/config.hpp"

namespace intercab::app {
namespace {

// config/intercab.yaml and this registry both state the ports; they must agree.
TEST(Modules, DefaultPortsMatchTheShippedConfig) {
  auto config = config::load({{{"INTERCAB_HOME", "/nonexistent-intercab-home"}}, std::nullopt});
  for (const auto& module : modules()) {
    ASSERT_TRUE(config.services.contains(module.name)) << module.name;
    EXPECT_EQ(config.services.at(module.name).port, module.default_port) << module.name;
  }
}

}  // namespace
}  // namespace intercab::app
