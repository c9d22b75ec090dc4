// Opening the process's databases, cache and buses from configuration.
#include "app/backends.hpp"

#include <set>
#include <stdexcept>

#include "app/modules.hpp"
#include "platform/events/outbox.hpp"
#include "platform/idempotency/idempotency.hpp"
#include "platform/log/log.hpp"

namespace intercab::app {

Backends::Backends(const config::Config& config) : config_(config), cache_(cache::open_cache(config.redis_url)) {}

Backends::~Backends() { stop_buses(); }

db::Database& Backends::store(const std::string& service) {
  std::lock_guard lock(stores_mutex_);
  if (auto it = stores_.find(service); it != stores_.end()) return *it->second;
  const auto settings = config_.services.find(service);
  if (settings == config_.services.end()) throw std::invalid_argument("no service named " + service);
  db::DatabaseOptions options;
  options.pool_size = config_.storage.pool_size;
  options.busy_timeout = std::chrono::milliseconds(config_.storage.busy_timeout_ms);
  options.max_transaction_attempts = config_.storage.max_transaction_attempts;
  std::unique_ptr<db::Database> store;
  try {
    store = db::Database::open(settings->second.db_connection, options);
  } catch (const std::exception& error) {
    throw db::DatabaseUnavailable("the database of service " + service + " cannot be opened: " + error.what());
  }
  std::vector<StoreMigrations> applied;
  applied.push_back({"platform", db::migrate(*store, "platform", events::platform_migrations())});
  applied.push_back({std::string(idempotency::kMigrationComponent),
                     db::migrate(*store, idempotency::kMigrationComponent, idempotency::migrations())});
  if (const auto& module = find_module(service); module.migrations) {
    applied.push_back({service, db::migrate(*store, service, module.migrations())});
  }
  log::info("database ready", {{"service", service}, {"database", store->display_url()}});
  migrations_[service] = std::move(applied);
  return *stores_.emplace(service, std::move(store)).first->second;
}

std::vector<StoreMigrations> Backends::migrations_of(const std::string& service) {
  std::lock_guard lock(stores_mutex_);
  auto it = migrations_.find(service);
  return it == migrations_.end() ? std::vector<StoreMigrations>{} : it->second;
}

events::EventBus& Backends::create_bus(const std::string& service, std::shared_ptr<metrics::Registry> metrics) {
  events::BusSettings settings;
  settings.service = service;
  settings.store = &store(service);
  settings.events = config_.events;
  settings.metrics = std::move(metrics);
  // Embedded bus: a topic's log is its producer's outbox, in that service's database, which
  // this process opens (read-only use) even when the producer runs elsewhere.
  settings.store_of = [this](const std::string& producer) -> db::Database& { return store(producer); };
  buses_.push_back(events::open_bus(config_.events_url, std::move(settings)));
  return *buses_.back();
}

void Backends::start_buses() {
  for (auto& bus : buses_) bus->start();
}

void Backends::stop_buses() {
  for (auto& bus : buses_) bus->stop();
}

int migrate_databases(const config::Config& config, std::string_view target_list, std::ostream& out) {
  const auto targets = resolve_targets(target_list);
  if (auto problem = shared_database_problem(config, targets)) {
    out << "intercab migrate: " << *problem << "\n";
    return 2;
  }
  Backends backends(config);
  int failures = 0;
  for (const auto& name : targets) {
    if (!find_module(name).has_store) continue;
    try {
      const auto& store = backends.store(name);
      for (const auto& [component, report] : backends.migrations_of(name)) {
        out << name << " (" << store.display_url() << ") " << component << ": ";
        if (report.applied.empty()) {
          out << "up to date (" << report.already_applied << " applied before)";
        } else {
          out << "applied";
          for (const auto& file : report.applied) out << " " << file;
        }
        if (!report.unknown_versions.empty()) out << "; the database also has versions from a newer build";
        out << "\n";
      }
    } catch (const std::exception& error) {
      out << name << ": FAILED: " << error.what() << "\n";
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

std::optional<std::string> shared_database_problem(const config::Config& config,
                                                   const std::vector<std::string>& targets) {
  std::map<std::string, std::string> owner;  // database URL -> first service using it
  for (const auto& name : targets) {
    if (!find_module(name).has_store) continue;
    const auto& url = config.services.at(name).db_connection;
    auto [it, added] = owner.emplace(url, name);
    if (!added) {
      return "services " + it->second + " and " + name +
             " would share one database; each service needs its own: put {service} in DB_CONNECTION "
             "(postgresql://host/intercab_{service}) or set <SERVICE>_DB_CONNECTION for each";
    }
  }
  return std::nullopt;
}

}  // namespace intercab::app
