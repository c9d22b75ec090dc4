// The one list of modules of the intercab binary (Loki/dskit style): reading this file tells
// which services exist, on which ports they listen by default, and which services each calls.
// `intercab serve --target=all` starts them all, dependencies first.
#include "app/modules.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "gateway/gateway_module.hpp"
#include "services/admin/admin_module.hpp"
#include "services/ai/ai_module.hpp"
#include "services/analytics/analytics_module.hpp"
#include "services/booking/booking_module.hpp"
#include "services/driver/driver_module.hpp"
#include "services/location/location_module.hpp"
#include "services/notification/notification_module.hpp"
#include "services/payment/payment_module.hpp"
#include "services/user/user_module.hpp"

namespace intercab::app {

const std::vector<Module>& modules() {
  static const std::vector<Module> kModules = {
      {"gateway",
       8000,
       {"user", "booking", "location", "driver", "payment", "notification", "ai", "analytics", "admin"},
       &gateway::setup,
       /*has_store=*/false},
      {"user", 8001, {}, &services::user::setup, /*has_store=*/true, &services::user::migrations},
      {"booking", 8002, {"user", "location", "driver", "payment"}, &services::booking::setup},
      {"location", 8003, {}, &services::location::setup, /*has_store=*/true, &services::location::migrations},
      {"driver", 8004, {"user", "location"}, &services::driver::setup},
      {"payment", 8005, {"user"}, &services::payment::setup},
      {"notification", 8006, {"user"}, &services::notification::setup},
      {"ai", 8007, {"booking", "location"}, &services::ai::setup},
      {"analytics", 8008, {}, &services::analytics::setup},
      {"admin", 8009, {"user", "driver", "booking", "payment", "analytics"}, &services::admin::setup},
  };
  return kModules;
}

const Module& find_module(std::string_view name) {
  for (const auto& module : modules()) {
    if (module.name == name) return module;
  }
  throw std::invalid_argument("no module named " + std::string(name));
}

namespace {

std::string valid_targets() {
  std::string names = "all";
  for (const auto& module : modules()) names += ", " + module.name;
  return names;
}

// Depth-first topological order over the whole graph; a cycle is a programming error.
std::vector<std::string> start_order() {
  std::vector<std::string> order;
  std::set<std::string> done;
  std::set<std::string> visiting;
  std::function<void(const Module&)> visit = [&](const Module& module) {
    if (done.contains(module.name)) return;
    if (!visiting.insert(module.name).second) throw std::logic_error("module dependency cycle at " + module.name);
    for (const auto& dependency : module.dependencies) visit(find_module(dependency));
    visiting.erase(module.name);
    done.insert(module.name);
    order.push_back(module.name);
  };
  for (const auto& module : modules()) visit(module);
  return order;
}

}  // namespace

std::vector<std::string> resolve_targets(std::string_view target_list) {
  std::set<std::string> wanted;
  std::stringstream parts{std::string(target_list)};
  std::string part;
  while (std::getline(parts, part, ',')) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (part == "all") {
      for (const auto& module : modules()) wanted.insert(module.name);
      continue;
    }
    const bool known = std::any_of(modules().begin(), modules().end(), [&](const auto& m) { return m.name == part; });
    if (!known) {
      throw std::invalid_argument("unknown target '" + part + "'; valid targets: " + valid_targets());
    }
    wanted.insert(part);
  }
  if (wanted.empty()) throw std::invalid_argument("no target given; valid targets: " + valid_targets());
  std::vector<std::string> ordered;
  for (const auto& name : start_order()) {
    if (wanted.contains(name)) ordered.push_back(name);
  }
  return ordered;
}

}  // namespace intercab::app
