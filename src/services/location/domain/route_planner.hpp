// Route planning for trips: stops (cities or points) -> ordered legs over the road graph, with
// the states each kilometre lies in, an encoded polyline and the methods used. Also the distance
// matrix for many origins and destinations. Pure domain: no HTTP, no storage.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "services/location/domain/cities.hpp"
#include "services/location/domain/geo.hpp"
#include "services/location/domain/road_graph.hpp"
#include "services/location/domain/states.hpp"
#include "services/location/domain/trip_order.hpp"

namespace intercab::location {

// A stop as the planner sees it: a point, and the city when the caller named one.
struct Stop {
  LatLon position;
  std::optional<std::int64_t> city_id;
};

struct RouteLeg {
  std::size_t from = 0;  // indices into the request's stops
  std::size_t to = 0;
  double km = 0;
  double minutes = 0;
};

struct StateDistance {
  std::string code;
  std::string name;
  double km = 0;
};

struct RoutePlan {
  double km = 0;
  double minutes = 0;
  std::vector<RouteLeg> legs;      // in driving order; a round trip ends with the leg back to the first stop
  std::vector<std::size_t> order;  // the stops in driving order (indices into the request's stops)
  std::vector<LatLon> path;        // every point driven through, for the polyline
  std::string path_method;         // "astar"
  OrderMethod order_method = OrderMethod::kFixed;
  std::vector<StateDistance> states;  // in the order driven; consecutive visits to a state are separate entries
};

struct DistanceMatrix {
  // Unreachable pairs hold nullopt.
  std::vector<std::vector<std::optional<double>>> km;
  std::vector<std::vector<std::optional<double>>> minutes;
};

// Two stops with no road between them (an island and the mainland).
class RouteUnreachable : public std::runtime_error {
 public:
  RouteUnreachable(std::size_t from, std::size_t to);
  std::size_t from;
  std::size_t to;
};

struct PlannerOptions {
  // Stops that are not cities join the graph at the nearest city by a road this much longer than
  // the straight line, driven at `access_speed_kmh`.
  double access_circuity = 1.25;
  double access_speed_kmh = 40;
  // Two points closer than this are driven directly rather than through the graph.
  double direct_km = 40;
};

class RoutePlanner {
 public:
  // Splits every road of `graph` by state once, so that planning a route only adds up numbers.
  RoutePlanner(const CityCatalog& cities, const StateMap& states, RoadGraph graph, PlannerOptions options = {});

  // `stops` has at least two entries whose positions are valid. Keeps the first stop first (and
  // for a one-way trip the last one last); `optimize` reorders the others. Throws RouteUnreachable.
  RoutePlan plan(const std::vector<Stop>& stops, bool round_trip, bool optimize) const;

  DistanceMatrix matrix(const std::vector<Stop>& origins, const std::vector<Stop>& destinations) const;

  const RoadGraph& graph() const { return graph_; }

 private:
  struct Attachment {
    std::uint32_t node = 0;
    double access_km = 0;  // from the stop to the node by road
  };
  struct Drive {
    double km = 0;
    double minutes = 0;
    bool reachable = false;
  };
  Attachment attach(const Stop& stop) const;
  std::optional<Drive> direct_drive(const Stop& from, const Stop& to) const;
  Drive access_drive(double access_km) const;
  std::vector<Drive> drives_from(const Stop& origin, const Attachment& from, const std::vector<Stop>& targets,
                                 const std::vector<Attachment>& attachments) const;
  // Appends one leg's points and state distances to `plan`.
  void drive_leg(const Stop& from, const Attachment& from_node, const Stop& to, const Attachment& to_node,
                 RoutePlan& plan, RouteLeg& leg) const;
  void add_states(std::span<const LatLon> segment, double km, RoutePlan& plan) const;

  const CityCatalog& cities_;
  const StateMap& states_;
  RoadGraph graph_;
  PlannerOptions options_;
  // The state split of each road (u < v), in the direction u -> v, as fractions of its length.
  std::unordered_map<std::uint64_t, std::vector<std::pair<const State*, double>>> road_states_;
};

}  // namespace intercab::location
