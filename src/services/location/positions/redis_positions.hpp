// The Redis adapter of the driver position index, shared by every instance of the location service: a GEO
// set to search, a hash of the exact positions and a sorted set by recorded_at to find the stale ones.
#pragma once

#include <memory>
#include <string>

#include "platform/cache/redis_cache.hpp"
#include "services/location/positions/driver_positions.hpp"

namespace intercab::location {

class RedisPositions final : public DriverPositions {
 public:
  // Throws std::invalid_argument for a null `redis` or a staleness below 1 s. Writes these keys:
  //   <key_prefix>positions:geo          GEO set of driver ids (searched by nearby())
  //   <key_prefix>positions:data         hash: driver id -> "lat lon heading speed accuracy recorded_at_us"
  //   <key_prefix>positions:recorded_at  sorted set: driver id scored by recorded_at in microseconds
  RedisPositions(std::shared_ptr<cache::RedisCache> redis, const PositionsOptions& options);

  UpsertResult upsert(const DriverPosition& position) override;
  std::optional<DriverPosition> latest(std::string_view driver_id, Clock::time_point now) override;
  std::vector<NearbyDriver> nearby(LatLon center, double radius_km, std::size_t limit, Clock::time_point now) override;
  std::size_t purge_stale(Clock::time_point now) override;
  std::string_view adapter_name() const override { return "redis"; }

 private:
  const std::shared_ptr<cache::RedisCache> redis_;
  const Clock::duration staleness_;
  const std::string geo_key_;
  const std::string data_key_;
  const std::string recorded_at_key_;
  const cache::RedisCache::Script upsert_script_;
  const cache::RedisCache::Script nearby_script_;
  const cache::RedisCache::Script purge_script_;
};

}  // namespace intercab::location
