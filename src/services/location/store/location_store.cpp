// SQL of the location service. Binds are written inline in each statement (see the user store for
// why SOCI use() elements must never be returned from helpers).
#include "services/location/store/location_store.hpp"

#include <soci/soci.h>

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <tuple>

namespace intercab::embedded {
std::span<const intercab::db::MigrationFile> location_migrations();
}

namespace intercab::services::location::store {
namespace {

using intercab::location::City;

struct StoredCity {
  std::string name;
  std::string name_ascii;
  std::string state;
  std::string state_code;
  double lat = 0;
  double lon = 0;
  long long population = 0;
};

bool same(const StoredCity& stored, const City& city) {
  return stored.name == city.name && stored.name_ascii == city.name_ascii && stored.state == city.state &&
         stored.state_code == city.state_code && std::abs(stored.lat - city.position.lat) < 1e-9 &&
         std::abs(stored.lon - city.position.lon) < 1e-9 && stored.population == city.population;
}

}  // namespace

std::span<const db::MigrationFile> migrations() { return embedded::location_migrations(); }

CitySync sync_cities(db::Database& store, std::span<const City> cities) {
  return store.transact([&](db::Tx& tx) {
    auto& sql = tx.sql();
    std::map<long long, StoredCity> stored;
    {
      long long id = 0;
      StoredCity row;
      soci::statement select =
          (sql.prepare << "SELECT id, name, name_ascii, state, state_code, lat, lon, population FROM cities",
           soci::into(id), soci::into(row.name), soci::into(row.name_ascii), soci::into(row.state),
           soci::into(row.state_code), soci::into(row.lat), soci::into(row.lon), soci::into(row.population));
      select.execute();
      while (select.fetch()) stored.emplace(id, row);
    }
    const long long now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    CitySync result;
    for (const City& city : cities) {
      const long long id = city.id;
      const long long population = city.population;
      const double lat = city.position.lat;
      const double lon = city.position.lon;
      auto found = stored.find(id);
      if (found == stored.end()) {
        sql << "INSERT INTO cities (id, name, name_ascii, state, state_code, lat, lon, population, updated_at) "
               "VALUES (:id, :name, :name_ascii, :state, :state_code, :lat, :lon, :population, :updated_at) "
               "ON CONFLICT (id) DO NOTHING",  // another instance starting at the same time inserted it
            soci::use(id), soci::use(city.name), soci::use(city.name_ascii), soci::use(city.state),
            soci::use(city.state_code), soci::use(lat), soci::use(lon), soci::use(population), soci::use(now);
        ++result.inserted;
      } else if (!same(found->second, city)) {
        sql << "UPDATE cities SET name = :name, name_ascii = :name_ascii, state = :state, state_code = :state_code, "
               "lat = :lat, lon = :lon, population = :population, updated_at = :updated_at WHERE id = :id",
            soci::use(city.name), soci::use(city.name_ascii), soci::use(city.state), soci::use(city.state_code),
            soci::use(lat), soci::use(lon), soci::use(population), soci::use(now), soci::use(id);
        ++result.updated;
      } else {
        ++result.unchanged;
      }
    }
    return result;
  });
}

std::size_t count_cities(db::Database& store) {
  return store.transact([](db::Tx& tx) {
    long long count = 0;
    tx.sql() << "SELECT COUNT(*) FROM cities", soci::into(count);
    return static_cast<std::size_t>(count);
  });
}

}  // namespace intercab::services::location::store
