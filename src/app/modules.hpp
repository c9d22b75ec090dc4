// The module registry: every service of the binary, its default port and its dependencies.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/db/migrations.hpp"
#include "platform/service/service.hpp"

namespace intercab::app {

struct Module {
  std::string name;
  int default_port;
  std::vector<std::string> dependencies;  // services it calls; started first, checked by /ready
  void (*setup)(service::ServiceBuilder&);
  bool has_store = true;  // a database of its own (outbox and inbox at least); the gateway has none
  // The service's own schema migrations (src/services/<name>/store/migrations), if it has any yet.
  std::span<const db::MigrationFile> (*migrations)() = nullptr;
};

// All modules, in the order of the architecture's service table.
const std::vector<Module>& modules();

const Module& find_module(std::string_view name);

// "all" or a comma list ("booking,user") -> module names in start order (dependencies first).
// Throws std::invalid_argument naming the unknown target and listing the valid ones.
std::vector<std::string> resolve_targets(std::string_view target_list);

}  // namespace intercab::app
