// The location service's tables: the city catalogue as stored for the distributed mode, and the
// outbox of location.events (through the platform's events library).
#pragma once

#include <cstddef>
#include <span>

#include "platform/db/db.hpp"
#include "platform/db/migrations.hpp"
#include "services/location/domain/cities.hpp"

namespace intercab::services::location::store {

std::span<const db::MigrationFile> migrations();

struct CitySync {
  std::size_t inserted = 0;
  std::size_t updated = 0;
  std::size_t unchanged = 0;
};

// Makes the cities table hold `cities`: inserts new ids and updates changed rows in one
// transaction (cities no longer in the file are kept: bookings may still name them).
CitySync sync_cities(db::Database& store, std::span<const intercab::location::City> cities);

// Number of rows in the cities table.
std::size_t count_cities(db::Database& store);

}  // namespace intercab::services::location::store
