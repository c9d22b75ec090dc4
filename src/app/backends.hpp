// The infrastructure of one process (ARCHITECTURE §2): the databases of the services it runs,
// opened and migrated on first use; the cache; and one event bus per service. Which adapters are
// used is decided by configuration alone (DB_CONNECTION / <SERVICE>_DB_CONNECTION, REDIS_URL,
// EVENTS_URL); with no settings everything is embedded and no server is needed.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "platform/cache/cache.hpp"
#include "platform/config/config.hpp"
#include "platform/db/db.hpp"
#include "platform/db/migrations.hpp"
#include "platform/events/bus.hpp"
#include "platform/metrics/metrics.hpp"

namespace intercab::app {

// The migrations of one service's database: the platform's tables, then the service's own.
struct StoreMigrations {
  std::string component;
  db::MigrationReport report;
};

class Backends {
 public:
  explicit Backends(const config::Config& config);
  ~Backends();
  Backends(const Backends&) = delete;
  Backends& operator=(const Backends&) = delete;

  cache::Cache& cache() { return *cache_; }

  // The database of `service`, opened and brought up to date on first use. Thread-safe.
  // Throws db::DatabaseUnavailable or db::MigrationError with a message naming the service.
  db::Database& store(const std::string& service);

  // What migrating `service`'s database did (empty before store() opened it).
  std::vector<StoreMigrations> migrations_of(const std::string& service);

  // Creates the event bus of `service`, reporting into `metrics`; start_buses() starts them all.
  events::EventBus& create_bus(const std::string& service, std::shared_ptr<metrics::Registry> metrics);
  void start_buses();
  void stop_buses();

 private:
  const config::Config& config_;
  std::unique_ptr<cache::Cache> cache_;
  std::mutex stores_mutex_;
  std::map<std::string, std::unique_ptr<db::Database>> stores_;
  std::map<std::string, std::vector<StoreMigrations>> migrations_;
  std::vector<std::unique_ptr<events::EventBus>> buses_;
};

// `intercab migrate`: creates (PostgreSQL: when missing) and migrates the database of every
// service of `target_list` ("all" or a comma list), printing what was done. Returns the exit code.
int migrate_databases(const config::Config& config, std::string_view target_list, std::ostream& out);

// Services of `targets` whose databases would be the same one (a DB_CONNECTION without
// {service} in a multi-service process): an error message naming them, or nullopt.
std::optional<std::string> shared_database_problem(const config::Config& config,
                                                   const std::vector<std::string>& targets);

}  // namespace intercab::app
