// The live driver position index of the location service: the latest ping of every driver, searchable by
// distance. A port with two adapters: in-process memory (one instance) and Redis GEO (shared by instances).
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "services/location/domain/geo.hpp"

namespace intercab::cache {
class RedisCache;
}

namespace intercab::location {

using Clock = std::chrono::system_clock;

// One ping of a driver's phone. Adapters keep recorded_at to the microsecond (finer digits are dropped on
// upsert), so that Redis can compare it exactly in Lua, whose numbers are doubles.
struct DriverPosition {
  std::string driver_id;
  LatLon position;
  double heading_deg = 0;  // [0, 360), clockwise from true north
  double speed_kmh = 0;    // >= 0
  double accuracy_m = 0;   // >= 0, the radius of the phone's 68% confidence circle
  Clock::time_point recorded_at;
  friend bool operator==(const DriverPosition&, const DriverPosition&) = default;
};

struct NearbyDriver {
  std::string driver_id;
  LatLon position;
  double distance_km = 0;  // great_circle_km(center, position)
  Clock::time_point recorded_at;
};

struct UpsertResult {
  // False when the ping is older than or as old as (same recorded_at) the stored one: phones retry and
  // networks reorder, so late and duplicate pings are expected and simply ignored.
  bool applied = false;
  // What was stored before this call (stale or not, until purged); when not applied, the newer position kept.
  std::optional<DriverPosition> previous;
};

// Every method is thread-safe. Redis adapters throw cache::CacheUnavailable / cache::CacheError as the
// cache does; both adapters throw std::invalid_argument for the inputs their comments refuse.
class DriverPositions {
 public:
  DriverPositions() = default;
  DriverPositions(const DriverPositions&) = delete;
  DriverPositions& operator=(const DriverPositions&) = delete;
  virtual ~DriverPositions() = default;

  // Stores `position` unless the stored one is as recent, comparing recorded_at atomically with other
  // writers. Refuses (see check_driver_position) an empty driver id, a position Redis GEO cannot index,
  // and non-finite or out-of-range heading, speed or accuracy.
  virtual UpsertResult upsert(const DriverPosition& position) = 0;
  // The stored position, or nullopt when there is none or it is stale at `now`.
  virtual std::optional<DriverPosition> latest(std::string_view driver_id, Clock::time_point now) = 0;
  // Fresh drivers (recorded_at >= now - staleness) within radius_km of center (inclusive), nearest first
  // (ties by driver id), at most limit. Distances are exact great_circle_km values. Refuses a center
  // upsert() would refuse and a negative or non-finite radius.
  virtual std::vector<NearbyDriver> nearby(LatLon center, double radius_km, std::size_t limit,
                                           Clock::time_point now) = 0;
  // Drops the positions recorded before now - staleness; returns how many.
  virtual std::size_t purge_stale(Clock::time_point now) = 0;
  // "memory" or "redis".
  virtual std::string_view adapter_name() const = 0;
};

struct PositionsOptions {
  // A driver whose latest ping is older than this is offline: not found, not near anything.
  std::chrono::seconds staleness{120};
  // Redis adapter: every key it writes starts with this.
  std::string key_prefix = "location:";
  // Memory adapter: the side of its grid cells in degrees; 180 must be a whole multiple of it. The default
  // suits both a city's density and a country's spread (see memory_positions.cpp).
  double memory_cell_deg = 0.05;
};

std::unique_ptr<DriverPositions> make_memory_positions(const PositionsOptions& options);
std::unique_ptr<DriverPositions> make_redis_positions(std::shared_ptr<cache::RedisCache> redis,
                                                      const PositionsOptions& options);

// Redis GEO indexes latitudes up to this (the Web Mercator limit), so no adapter accepts more.
inline constexpr double kMaxIndexedLatitudeDeg = 85.05112878;

// The rules of upsert(), shared by the adapters so that they refuse exactly the same pings.
inline void check_driver_position(const DriverPosition& position) {
  if (position.driver_id.empty()) throw std::invalid_argument("a driver position needs a driver id");
  if (!is_valid(position.position) || std::abs(position.position.lat) > kMaxIndexedLatitudeDeg) {
    throw std::invalid_argument("driver " + position.driver_id +
                                ": the position must be a finite latitude within +-85.05112878 and "
                                "longitude within +-180 degrees");
  }
  if (!std::isfinite(position.heading_deg) || position.heading_deg < 0 || position.heading_deg >= 360) {
    throw std::invalid_argument("driver " + position.driver_id + ": heading_deg must be in [0, 360)");
  }
  if (!std::isfinite(position.speed_kmh) || position.speed_kmh < 0) {
    throw std::invalid_argument("driver " + position.driver_id + ": speed_kmh must be finite and not negative");
  }
  if (!std::isfinite(position.accuracy_m) || position.accuracy_m < 0) {
    throw std::invalid_argument("driver " + position.driver_id + ": accuracy_m must be finite and not negative");
  }
}

// The rules of nearby().
inline void check_nearby_query(LatLon center, double radius_km) {
  if (!is_valid(center) || std::abs(center.lat) > kMaxIndexedLatitudeDeg) {
    throw std::invalid_argument(
        "nearby: the center must be a finite latitude within +-85.05112878 and longitude within +-180 degrees");
  }
  if (!std::isfinite(radius_km) || radius_km < 0) {
    throw std::invalid_argument("nearby: radius_km must be finite and not negative");
  }
}

// recorded_at as the adapters keep it.
inline Clock::time_point stored_precision(Clock::time_point recorded_at) {
  return std::chrono::floor<std::chrono::microseconds>(recorded_at);
}

}  // namespace intercab::location
