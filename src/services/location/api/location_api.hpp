// The location service's HTTP API: cities and geocoding, routes and distance matrices, live
// driver positions (ingest, nearby, SSE stream). Handlers check input, authenticate where the
// route needs it and translate to and from the domain (services/location/domain); they hold no
// geography of their own.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "platform/auth/claims.hpp"
#include "platform/auth/keys.hpp"
#include "platform/cache/cache.hpp"
#include "platform/config/config.hpp"
#include "platform/db/db.hpp"
#include "platform/http/router.hpp"
#include "platform/metrics/metrics.hpp"
#include "services/location/domain/cities.hpp"
#include "services/location/domain/route_planner.hpp"
#include "services/location/domain/states.hpp"
#include "services/location/positions/driver_positions.hpp"

namespace intercab::services::location {

// The geography the API serves, built once at start-up and shared read-only by every request.
struct Geography {
  Geography(intercab::location::CityCatalog city_catalog, intercab::location::StateMap state_map)
      : cities(std::move(city_catalog)), states(std::move(state_map)) {}
  Geography(const Geography&) = delete;  // the planner refers to the catalogue and the map
  Geography& operator=(const Geography&) = delete;

  intercab::location::CityCatalog cities;
  intercab::location::StateMap states;
  std::unique_ptr<intercab::location::RoutePlanner> planner;
  std::string graph_source;  // "synthetic" or "edge list"
  // A fingerprint of the city, state and road data: route cache entries made from other data (a
  // rolling deploy, an edited edge list) are never served.
  std::string data_version;
};

// Whether `caller` may follow driver `driver_id` live. The driver themself, support and admin always
// may; other services add grants (the booking service: the rider of a booking assigned to that
// driver) with LocationApi::add_tracking_grant. A grant must not throw for an ordinary "no".
using TrackingGrant = std::function<bool(const auth::Claims& caller, std::string_view driver_id)>;

struct LocationApiDependencies {
  std::shared_ptr<const Geography> geography;
  std::shared_ptr<intercab::location::DriverPositions> positions;
  db::Database* store = nullptr;  // the outbox of location.events
  cache::Cache* cache = nullptr;  // the route cache
  std::shared_ptr<const auth::KeySet> access_keys;
  std::shared_ptr<const auth::KeySet> internal_keys;
  std::string issuer;
  std::string audience;
  std::string internal_issuer;
  config::LocationSettings settings;
  metrics::Registry* metrics = nullptr;
};

class LocationApi {
 public:
  explicit LocationApi(LocationApiDependencies dependencies);
  void add_routes(http::Router& router) const;
  void add_tracking_grant(TrackingGrant grant);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The attribution the city and state data require (data/SOURCES.md).
inline constexpr std::string_view kCityAttribution =
    "City data © GeoNames (www.geonames.org), licensed under CC BY 4.0. Modified.";
inline constexpr std::string_view kStateAttribution =
    "State boundaries: Made with Natural Earth (naturalearthdata.com), public domain.";

}  // namespace intercab::services::location
