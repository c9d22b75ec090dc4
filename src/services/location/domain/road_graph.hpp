// The location service's road network: an undirected graph of cities joined by roads, built either
// from a real edge list or synthetically (no open road network ships with intercab), and routed with
// A* (one pair) or Dijkstra (one source, many targets). Pure domain code: no I/O, no clock.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "services/location/domain/geo.hpp"

namespace intercab::location {

// A place the graph connects; for the synthetic graph, one city of the catalogue.
struct GraphNode {
  std::int64_t id = 0;  // GeoNames id of the city
  LatLon position;
  std::int64_t population = 0;
};

// One direction of a road between two nodes (the graph is undirected: each road is stored twice).
struct RoadEdge {
  std::uint32_t to = 0;
  double km = 0;
  double minutes = 0;
};

// Areas no road between two Indian cities crosses: Bangladesh, the Pakistani salient of
// Sialkot-Shakargarh between Jammu and Punjab, and the Gulfs of Khambhat and Kutch. Coarse polygons
// drawn inside those areas (checked against data/india_states.geojson: no vertex, no point of the
// outline sampled every 250 m, and no point of a 0.02-degree grid inside them is on Indian land),
// so they cut straight lines over foreign land or sea and never a road that stays in India.
std::vector<std::vector<LatLon>> india_impassable_areas();

// How the synthetic highway graph is built. The defaults are calibrated against the 24 published
// road distances in data/india_road_distance_calibration.csv (calibration_test.cpp prints the
// table); nothing reads that file at run time, and no rule names a city.
//
// Calibration on the 889 cities of data/india_cities.csv, error = |ours - published| / published:
//   - Published km over great-circle km for the 24 pairs: median 1.17, range 1.04-1.48. A route
//     through the graph already zigzags from town to town, so the per-edge factor is smaller.
//   - circuity 1.00 / 1.03 / 1.05 / 1.07 / 1.08 / 1.09 / 1.10 / 1.12 / 1.15 / 1.20 gives a median
//     error of 8.1 / 5.3 / 4.0 / 4.4 / 4.3 / 4.5 / 5.0 / 5.5 / 6.3 / 10.9 % and a 90th percentile
//     of 14.4 / 11.9 / 10.1 / 8.4 / 7.7 / 7.9 / 8.6 / 10.6 / 13.6 / 18.5 %. The median is flat
//     from 1.05 to 1.09; 1.08 has the lowest p90 and almost no bias (median signed error -0.7%,
//     against -3.5% at 1.05), so routes are as often longer as shorter than published.
//   - nearest_neighbours 2 / 3 / 4 / 5 / 6 (circuity 1.08): p90 9.5 / 8.5 / 7.7 / 9.2 / 11.3 %;
//     more neighbours add chords that cut corners. Without Gabriel edges (k = 4) p90 is 27%:
//     the k-nearest graph alone misses the obvious next town in sparse regions.
//   - max_edge_km 150 to 400 does not change any calibration route.
//   - Result with these defaults: median 4.3%, p90 7.7%, worst 26.8% (Guwahati-Shillong, a hill
//     road: 103 km published for 70 km straight; no elevation data here to justify a hill factor).
// The speeds are not calibrated (no published durations); they are the service's planning figures.
struct SyntheticGraphOptions {
  // Each city is joined to this many nearest cities...
  std::size_t nearest_neighbours = 4;
  // ...and to every Gabriel neighbour: (a, b) is kept when no other city lies inside the circle
  // whose diameter is ab. The Gabriel graph is planar and connected, and contains the Euclidean
  // minimum spanning tree, so it gives the "next town along the highway" structure without the long
  // chords of a full triangulation.
  bool gabriel_edges = true;
  // Candidate edges longer than this (great-circle) are dropped: real highways go through the
  // towns in between, and a long edge over an empty region (sea, a border) is not a road. 250 km
  // keeps the long links of sparse regions (Jodhpur-Jaisalmer is 239 km) as ordinary edges.
  double max_edge_km = 250;
  // Candidate and bridging edges whose straight line crosses one of these polygons are dropped:
  // without them Surat-Bhavnagar was a 102 km edge over the Gulf of Khambhat and Balurghat-Tura a
  // 159 km edge through Bangladesh; the routes now go round, 327 and 466 km. The 14 edges this
  // removes change none of the calibration routes.
  std::vector<std::vector<LatLon>> impassable_areas = india_impassable_areas();
  // Components left apart after pruning are joined by their shortest bridging edge, repeatedly,
  // but only by an edge no longer than this: the Andaman Islands (Port Blair) stay unreachable
  // instead of getting a 1,000 km "road" over the Bay of Bengal.
  double max_bridge_km = 500;
  // Road km of an edge = great-circle km x circuity. Must be >= 1 so that the great-circle
  // distance stays an admissible A* bound.
  double circuity = 1.08;
  // Speeds by road class. An edge on the shortest road between two cities of at least
  // `corridor_population` people is a fast corridor (national highway / expressway); an edge
  // shorter than `local_edge_km` of road is urban or suburban traffic whatever its class.
  std::int64_t corridor_population = 1'000'000;
  double corridor_speed_kmh = 70;
  double highway_speed_kmh = 50;
  double local_edge_km = 30;
  double local_speed_kmh = 40;
};

class RoadGraph {
 public:
  RoadGraph() = default;

  // Throws std::invalid_argument for duplicate ids, invalid coordinates or meaningless options.
  static RoadGraph build_synthetic(std::span<const GraphNode> nodes, const SyntheticGraphOptions& options = {});

  // CSV (RFC 4180) with the header `from_id,to_id,distance_km,duration_min`; ids are GeoNames ids of
  // `nodes` and every row is an undirected road. Throws std::invalid_argument naming the line for a
  // bad header, a wrong number of fields, an unknown id, a road from a place to itself, or a
  // negative, non-finite or non-numeric value.
  static RoadGraph from_edge_list(std::span<const GraphNode> nodes, std::string_view csv_text);

  std::size_t node_count() const { return nodes_.size(); }
  // Undirected roads (each is stored once per direction in the adjacency).
  std::size_t edge_count() const { return adjacency_.size() / 2; }
  // Throws std::out_of_range for an index >= node_count().
  const GraphNode& node(std::uint32_t index) const;
  std::optional<std::uint32_t> index_of(std::int64_t id) const;
  // The roads leaving `index` (CSR adjacency). Throws std::out_of_range for a bad index.
  std::span<const RoadEdge> edges_from(std::uint32_t index) const;

  struct Path {
    std::vector<std::uint32_t> nodes;  // from ... to; empty when `to` cannot be reached
    double km = 0;
    double minutes = 0;  // of the roads on the shortest-km path
  };
  // Shortest path by km: A* with a great-circle lower bound. Thread-safe (each thread reuses its
  // own scratch buffers). Throws std::out_of_range for a bad index.
  Path shortest_path(std::uint32_t from, std::uint32_t to) const;

  struct Cost {
    double km = 0;
    double minutes = 0;
    bool reachable = false;
  };
  // Shortest-km costs from `from` to each target (same order, duplicates allowed): one Dijkstra
  // that stops once every target is settled. Throws std::out_of_range for a bad index.
  std::vector<Cost> costs_from(std::uint32_t from, std::span<const std::uint32_t> targets) const;

  // Node indices grouped by connected component, largest component first; each group is sorted.
  std::vector<std::vector<std::uint32_t>> connected_components() const;

 private:
  struct UndirectedRoad {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    double km = 0;
    double minutes = 0;
  };
  RoadGraph(std::span<const GraphNode> nodes, const std::vector<UndirectedRoad>& roads);

  void check_index(std::uint32_t index) const;
  double lower_bound_km(std::uint32_t from, std::uint32_t to) const;

  std::vector<GraphNode> nodes_;
  std::unordered_map<std::int64_t, std::uint32_t> index_by_id_;
  std::vector<std::uint32_t> first_edge_;  // CSR offsets, node_count() + 1 entries
  std::vector<RoadEdge> adjacency_;
  // Unit vectors of the nodes, scaled to the Earth's radius: the chord between two of them is a
  // cheap lower bound of their great-circle distance.
  std::vector<std::array<double, 3>> points_km_;
  // Multiplies the chord bound so that it never exceeds any road's km (1 for the synthetic graph,
  // lower if an edge list has a road shorter than the straight line), which keeps A* exact.
  double bound_scale_ = 1.0;
};

}  // namespace intercab::location
