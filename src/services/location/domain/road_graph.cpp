// Road graph construction (synthetic and from an edge list) and shortest-path search.
#include "services/location/domain/road_graph.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace intercab::location {
namespace {

constexpr double kRadiansPerDegree = std::numbers::pi / 180.0;
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Search state reused by every query on one thread, so that a query allocates nothing once the
// buffers have grown to the largest graph seen. A node's entries are valid only when its stamp
// equals the current generation, which makes resetting O(1) per query.
struct SearchScratch {
  std::vector<double> km;
  std::vector<double> minutes;
  std::vector<std::uint32_t> parent;
  std::vector<std::uint32_t> reached_stamp;
  std::vector<std::uint32_t> settled_stamp;
  std::vector<std::uint32_t> target_stamp;
  std::vector<std::pair<double, std::uint32_t>> heap;  // (priority, node), a min-heap via std::greater
  std::uint32_t generation = 0;

  void start(std::size_t node_count) {
    if (km.size() < node_count) {
      km.resize(node_count);
      minutes.resize(node_count);
      parent.resize(node_count);
      reached_stamp.resize(node_count, 0);
      settled_stamp.resize(node_count, 0);
      target_stamp.resize(node_count, 0);
    }
    heap.clear();
    if (++generation == 0) {  // wrapped: old stamps could collide with the new generation
      std::fill(reached_stamp.begin(), reached_stamp.end(), 0);
      std::fill(settled_stamp.begin(), settled_stamp.end(), 0);
      std::fill(target_stamp.begin(), target_stamp.end(), 0);
      generation = 1;
    }
  }
  bool reached(std::uint32_t node) const { return reached_stamp[node] == generation; }
  bool settled(std::uint32_t node) const { return settled_stamp[node] == generation; }
  void push(double priority, std::uint32_t node) {
    heap.emplace_back(priority, node);
    std::push_heap(heap.begin(), heap.end(), std::greater<>{});
  }
  std::uint32_t pop() {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    const std::uint32_t node = heap.back().second;
    heap.pop_back();
    return node;
  }
};

SearchScratch& thread_scratch() {
  thread_local SearchScratch scratch;
  return scratch;
}

std::array<double, 3> point_on_sphere_km(LatLon position) {
  const double lat = position.lat * kRadiansPerDegree;
  const double lon = position.lon * kRadiansPerDegree;
  return {kEarthRadiusKm * std::cos(lat) * std::cos(lon), kEarthRadiusKm * std::cos(lat) * std::sin(lon),
          kEarthRadiusKm * std::sin(lat)};
}

double chord_km(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  const double dx = a[0] - b[0];
  const double dy = a[1] - b[1];
  const double dz = a[2] - b[2];
  return std::sqrt(dx * dx + dy * dy + dz * dz);
}

class DisjointSets {
 public:
  explicit DisjointSets(std::size_t size) : parent_(size) { std::iota(parent_.begin(), parent_.end(), 0U); }
  std::uint32_t find(std::uint32_t item) {
    while (parent_[item] != item) {
      parent_[item] = parent_[parent_[item]];
      item = parent_[item];
    }
    return item;
  }
  // False when both were already in the same set.
  bool join(std::uint32_t a, std::uint32_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return false;
    parent_[std::max(a, b)] = std::min(a, b);
    return true;
  }

 private:
  std::vector<std::uint32_t> parent_;
};

// ---- Impassable areas --------------------------------------------------------------------
// Plane geometry in (lon, lat) degrees: the areas and the edges tested against them are a few hundred
// km across, where the difference from great circles does not change which side a city is on.

// > 0 when c is to the left of a->b, < 0 to the right, 0 when collinear.
double orientation(LatLon a, LatLon b, LatLon c) {
  return (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon);
}

bool on_segment(LatLon a, LatLon b, LatLon point) {
  return std::min(a.lon, b.lon) <= point.lon && point.lon <= std::max(a.lon, b.lon) &&
         std::min(a.lat, b.lat) <= point.lat && point.lat <= std::max(a.lat, b.lat);
}

bool segments_intersect(LatLon a, LatLon b, LatLon c, LatLon d) {
  const double abc = orientation(a, b, c);
  const double abd = orientation(a, b, d);
  const double cda = orientation(c, d, a);
  const double cdb = orientation(c, d, b);
  if (((abc > 0 && abd < 0) || (abc < 0 && abd > 0)) && ((cda > 0 && cdb < 0) || (cda < 0 && cdb > 0))) return true;
  return (abc == 0 && on_segment(a, b, c)) || (abd == 0 && on_segment(a, b, d)) || (cda == 0 && on_segment(c, d, a)) ||
         (cdb == 0 && on_segment(c, d, b));
}

bool inside_polygon(LatLon point, const std::vector<LatLon>& polygon) {
  bool inside = false;
  for (std::size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const LatLon& p = polygon[i];
    const LatLon& q = polygon[j];
    if ((p.lat > point.lat) != (q.lat > point.lat) &&
        point.lon < (q.lon - p.lon) * (point.lat - p.lat) / (q.lat - p.lat) + p.lon) {
      inside = !inside;
    }
  }
  return inside;
}

bool crosses_area(LatLon a, LatLon b, const std::vector<LatLon>& polygon) {
  if (polygon.size() < 3) return false;
  if (inside_polygon(a, polygon) || inside_polygon(b, polygon)) return true;
  for (std::size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    if (segments_intersect(a, b, polygon[j], polygon[i])) return true;
  }
  return false;
}

bool crosses_any_area(LatLon a, LatLon b, const std::vector<std::vector<LatLon>>& areas) {
  return std::any_of(areas.begin(), areas.end(), [&](const auto& polygon) { return crosses_area(a, b, polygon); });
}

// ---- Edge-list CSV -------------------------------------------------------------------------

[[noreturn]] void throw_line_error(std::size_t line_number, const std::string& message) {
  throw std::invalid_argument("edge list line " + std::to_string(line_number) + ": " + message);
}

// Splits one CSV record (RFC 4180 quoting; the fields here are numbers, so records never span lines).
std::vector<std::string> split_csv_record(std::string_view line, std::size_t line_number) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t at = 0; at < line.size(); ++at) {
    const char c = line[at];
    if (quoted) {
      if (c != '"') {
        fields.back().push_back(c);
      } else if (at + 1 < line.size() && line[at + 1] == '"') {
        fields.back().push_back('"');
        ++at;
      } else {
        quoted = false;
      }
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else {
      fields.back().push_back(c);
    }
  }
  if (quoted) throw_line_error(line_number, "a quoted field is not closed");
  return fields;
}

std::int64_t parse_id(const std::string& text, std::string_view column, std::size_t line_number) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) {
    throw_line_error(line_number, std::string(column) + " \"" + text + "\" is not an integer GeoNames id");
  }
  return value;
}

double parse_non_negative(const std::string& text, std::string_view column, std::size_t line_number) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
    throw_line_error(line_number, std::string(column) + " \"" + text + "\" is not a finite number");
  }
  if (value < 0) throw_line_error(line_number, std::string(column) + " " + text + " is negative");
  return value;
}

// ---- Synthetic graph ---------------------------------------------------------------------

void check_options(const SyntheticGraphOptions& options) {
  const auto positive = [](double value) { return std::isfinite(value) && value > 0; };
  if (!positive(options.max_edge_km)) throw std::invalid_argument("max_edge_km must be a positive number");
  if (!std::isfinite(options.max_bridge_km) || options.max_bridge_km < 0) {
    throw std::invalid_argument("max_bridge_km must be a non-negative number");
  }
  // Below 1 a road would be shorter than the straight line and A*'s bound would overestimate.
  if (!std::isfinite(options.circuity) || options.circuity < 1.0) {
    throw std::invalid_argument("circuity must be a number >= 1");
  }
  if (!positive(options.corridor_speed_kmh) || !positive(options.highway_speed_kmh) ||
      !positive(options.local_speed_kmh)) {
    throw std::invalid_argument("speeds must be positive numbers");
  }
  if (!std::isfinite(options.local_edge_km) || options.local_edge_km < 0) {
    throw std::invalid_argument("local_edge_km must be a non-negative number");
  }
  for (const std::vector<LatLon>& area : options.impassable_areas) {
    if (!std::all_of(area.begin(), area.end(), [](LatLon vertex) { return is_valid(vertex); })) {
      throw std::invalid_argument("impassable_areas holds a vertex with invalid coordinates");
    }
  }
}

std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) {
  return (static_cast<std::uint64_t>(std::min(a, b)) << 32U) | std::max(a, b);
}

// The candidate roads: k nearest neighbours plus Gabriel edges, all at most max_edge_km long.
// `distance` is the full great-circle matrix, row-major.
std::vector<std::pair<std::uint32_t, std::uint32_t>> candidate_roads(std::span<const GraphNode> nodes,
                                                                     const std::vector<double>& distance,
                                                                     const SyntheticGraphOptions& options) {
  const auto node_count = static_cast<std::uint32_t>(nodes.size());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> roads;
  std::vector<std::uint32_t> near;
  for (std::uint32_t a = 0; a < node_count; ++a) {
    const double* from_a = &distance[static_cast<std::size_t>(a) * node_count];
    near.clear();
    for (std::uint32_t b = 0; b < node_count; ++b) {
      if (b != a && from_a[b] <= options.max_edge_km) near.push_back(b);
    }
    std::sort(near.begin(), near.end(),
              [&](std::uint32_t x, std::uint32_t y) { return from_a[x] != from_a[y] ? from_a[x] < from_a[y] : x < y; });
    for (std::size_t i = 0; i < std::min(options.nearest_neighbours, near.size()); ++i) {
      roads.emplace_back(std::min(a, near[i]), std::max(a, near[i]));
    }
    if (!options.gabriel_edges) continue;
    for (std::size_t i = 0; i < near.size(); ++i) {
      const std::uint32_t b = near[i];
      if (b < a) continue;  // each pair once
      const double* from_b = &distance[static_cast<std::size_t>(b) * node_count];
      const double ab = from_a[b];
      // A city inside the circle with diameter ab is nearer to a than b is, so scanning a's
      // neighbours up to b finds it. Planar test (Thales): c is inside when angle acb > 90 degrees.
      bool empty_circle = true;
      for (std::size_t j = 0; j < i && empty_circle; ++j) {
        const std::uint32_t c = near[j];
        if (from_a[c] * from_a[c] + from_b[c] * from_b[c] < ab * ab) empty_circle = false;
      }
      if (empty_circle) roads.emplace_back(a, b);
    }
  }
  std::sort(roads.begin(), roads.end());
  roads.erase(std::unique(roads.begin(), roads.end()), roads.end());
  std::erase_if(roads, [&](const auto& road) {
    return crosses_any_area(nodes[road.first].position, nodes[road.second].position, options.impassable_areas);
  });
  return roads;
}

// Joins components left apart by pruning, Kruskal-style: repeatedly the shortest pair of cities in
// different components, as long as it is within max_bridge_km and crosses no impassable area.
void add_bridges(std::span<const GraphNode> nodes, const std::vector<double>& distance,
                 const SyntheticGraphOptions& options, std::vector<std::pair<std::uint32_t, std::uint32_t>>& roads) {
  const auto node_count = static_cast<std::uint32_t>(nodes.size());
  DisjointSets components(node_count);
  for (const auto& [a, b] : roads) components.join(a, b);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> bridges;
  for (std::uint32_t a = 0; a < node_count; ++a) {
    for (std::uint32_t b = a + 1; b < node_count; ++b) {
      if (distance[static_cast<std::size_t>(a) * node_count + b] <= options.max_bridge_km &&
          components.find(a) != components.find(b) &&
          !crosses_any_area(nodes[a].position, nodes[b].position, options.impassable_areas)) {
        bridges.emplace_back(a, b);
      }
    }
  }
  const auto length = [&](const std::pair<std::uint32_t, std::uint32_t>& pair) {
    return distance[static_cast<std::size_t>(pair.first) * node_count + pair.second];
  };
  std::sort(bridges.begin(), bridges.end(),
            [&](const auto& x, const auto& y) { return length(x) != length(y) ? length(x) < length(y) : x < y; });
  for (const auto& bridge : bridges) {
    if (components.join(bridge.first, bridge.second)) roads.push_back(bridge);
  }
}

// For every node, the node before it on the shortest-km path from `source` (itself for the source
// and for nodes that cannot be reached).
std::vector<std::uint32_t> shortest_path_tree(const RoadGraph& graph, std::uint32_t source) {
  const std::size_t node_count = graph.node_count();
  std::vector<std::uint32_t> parent(node_count);
  std::iota(parent.begin(), parent.end(), 0U);
  std::vector<double> km(node_count, kInfinity);
  std::vector<std::pair<double, std::uint32_t>> heap{{0.0, source}};
  km[source] = 0;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    const auto [node_km, node] = heap.back();
    heap.pop_back();
    if (node_km > km[node]) continue;
    for (const RoadEdge& edge : graph.edges_from(node)) {
      if (node_km + edge.km < km[edge.to]) {
        km[edge.to] = node_km + edge.km;
        parent[edge.to] = node;
        heap.emplace_back(km[edge.to], edge.to);
        std::push_heap(heap.begin(), heap.end(), std::greater<>{});
      }
    }
  }
  return parent;
}

}  // namespace

// The polygons are kept in rows of vertices rather than one vertex per line.
// clang-format off
std::vector<std::vector<LatLon>> india_impassable_areas() {
  // {lat, lon} vertices; see the header for how they were checked.
  return {
      // Bangladesh, with the Bay of Bengal south of it.
      {{26.30, 88.50}, {26.05, 88.95}, {25.85, 89.45}, {25.60, 89.70}, {25.05, 89.90}, {25.05, 90.60},
       {25.02, 91.60}, {24.95, 92.20}, {24.70, 92.20}, {24.45, 91.95}, {24.30, 91.70}, {24.18, 91.45},
       {23.98, 91.05}, {23.50, 91.10}, {23.00, 91.35}, {22.80, 91.60}, {22.70, 92.15}, {21.50, 92.20},
       {20.70, 92.30}, {20.50, 91.50}, {21.30, 89.30}, {22.00, 89.25}, {22.70, 89.15}, {23.20, 89.05},
       {23.80, 88.85}, {24.25, 88.85}, {24.40, 88.60}, {24.60, 88.30}, {24.90, 88.50}, {25.10, 89.05},
       {25.40, 89.05}, {25.55, 88.80}, {25.90, 88.50}},
      // Pakistan between Jammu and the Ravi: Sialkot, Narowal, Shakargarh.
      {{32.45, 74.30}, {32.45, 74.55}, {32.36, 75.08}, {32.25, 75.26}, {32.16, 75.12}, {32.04, 74.72},
       {31.85, 74.45}, {31.85, 74.30}},
      // Gulf of Khambhat, between Bhavnagar and Bharuch/Surat.
      {{22.20, 72.50}, {21.80, 72.45}, {21.40, 72.40}, {21.00, 72.35}, {20.60, 72.00}, {20.70, 71.50},
       {21.20, 72.15}, {21.40, 72.28}, {21.60, 72.32}, {22.00, 72.30}},
      // Gulf of Kutch, between Jamnagar and Mundra/Kandla.
      {{22.90, 70.30}, {22.75, 69.90}, {22.70, 69.50}, {22.55, 69.00}, {22.45, 68.85}, {22.52, 69.30},
       {22.55, 69.90}, {22.65, 70.20}},
  };
}
// clang-format on

// ---- Construction ------------------------------------------------------------------------

RoadGraph::RoadGraph(std::span<const GraphNode> nodes, const std::vector<UndirectedRoad>& roads)
    : nodes_(nodes.begin(), nodes.end()) {
  if (nodes_.size() >= std::numeric_limits<std::uint32_t>::max()) throw std::invalid_argument("too many nodes");
  index_by_id_.reserve(nodes_.size());
  points_km_.reserve(nodes_.size());
  for (std::uint32_t index = 0; index < nodes_.size(); ++index) {
    const GraphNode& node = nodes_[index];
    if (!is_valid(node.position)) {
      throw std::invalid_argument("node " + std::to_string(node.id) + " has invalid coordinates");
    }
    if (!index_by_id_.emplace(node.id, index).second) {
      throw std::invalid_argument("node id " + std::to_string(node.id) + " appears twice");
    }
    points_km_.push_back(point_on_sphere_km(node.position));
  }

  first_edge_.assign(nodes_.size() + 1, 0);
  for (const UndirectedRoad& road : roads) {
    ++first_edge_[road.a + 1];
    ++first_edge_[road.b + 1];
  }
  std::partial_sum(first_edge_.begin(), first_edge_.end(), first_edge_.begin());
  adjacency_.resize(roads.size() * 2);
  std::vector<std::uint32_t> next_slot(first_edge_.begin(), first_edge_.end() - 1);
  for (const UndirectedRoad& road : roads) {
    adjacency_[next_slot[road.a]++] = {road.b, road.km, road.minutes};
    adjacency_[next_slot[road.b]++] = {road.a, road.km, road.minutes};
    const double chord = chord_km(points_km_[road.a], points_km_[road.b]);
    if (chord > 0 && road.km < chord * bound_scale_) bound_scale_ = road.km / chord;
  }
}

RoadGraph RoadGraph::build_synthetic(std::span<const GraphNode> nodes, const SyntheticGraphOptions& options) {
  check_options(options);
  if (nodes.size() >= std::numeric_limits<std::uint32_t>::max()) throw std::invalid_argument("too many nodes");
  const auto node_count = static_cast<std::uint32_t>(nodes.size());
  for (const GraphNode& node : nodes) {
    if (!is_valid(node.position)) {
      throw std::invalid_argument("node " + std::to_string(node.id) + " has invalid coordinates");
    }
  }

  // O(n^2) memory and time: meant for the city catalogue (~900 places), not for street networks.
  std::vector<double> distance(static_cast<std::size_t>(node_count) * node_count, 0.0);
  for (std::uint32_t a = 0; a < node_count; ++a) {
    for (std::uint32_t b = a + 1; b < node_count; ++b) {
      const double km = great_circle_km(nodes[a].position, nodes[b].position);
      distance[static_cast<std::size_t>(a) * node_count + b] = km;
      distance[static_cast<std::size_t>(b) * node_count + a] = km;
    }
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs = candidate_roads(nodes, distance, options);
  add_bridges(nodes, distance, options, pairs);

  std::vector<UndirectedRoad> roads;
  roads.reserve(pairs.size());
  for (const auto& [a, b] : pairs) {
    roads.push_back({a, b, distance[static_cast<std::size_t>(a) * node_count + b] * options.circuity, 0.0});
  }

  // Road classes need the routes, so route once on km alone, then time every road.
  std::vector<bool> on_corridor(roads.size(), false);
  {
    const RoadGraph by_km(nodes, roads);
    std::unordered_map<std::uint64_t, std::size_t> road_by_pair;
    for (std::size_t index = 0; index < roads.size(); ++index) {
      road_by_pair.emplace(pair_key(roads[index].a, roads[index].b), index);
    }
    std::vector<std::uint32_t> big_cities;
    for (std::uint32_t index = 0; index < node_count; ++index) {
      if (nodes[index].population >= options.corridor_population) big_cities.push_back(index);
    }
    for (const std::uint32_t source : big_cities) {
      const std::vector<std::uint32_t> parent = shortest_path_tree(by_km, source);
      for (const std::uint32_t target : big_cities) {
        for (std::uint32_t at = target; parent[at] != at; at = parent[at]) {
          on_corridor[road_by_pair.at(pair_key(at, parent[at]))] = true;
        }
      }
    }
  }
  for (std::size_t index = 0; index < roads.size(); ++index) {
    UndirectedRoad& road = roads[index];
    const double speed_kmh = road.km < options.local_edge_km ? options.local_speed_kmh
                             : on_corridor[index]            ? options.corridor_speed_kmh
                                                             : options.highway_speed_kmh;
    road.minutes = road.km / speed_kmh * 60.0;
  }
  return RoadGraph(nodes, roads);
}

RoadGraph RoadGraph::from_edge_list(std::span<const GraphNode> nodes, std::string_view csv_text) {
  std::unordered_map<std::int64_t, std::uint32_t> index_by_id;
  for (std::uint32_t index = 0; index < nodes.size(); ++index) index_by_id.emplace(nodes[index].id, index);

  std::vector<UndirectedRoad> roads;
  std::size_t line_number = 0;
  bool header_seen = false;
  std::size_t at = 0;
  if (csv_text.starts_with("\xEF\xBB\xBF")) at = 3;  // a UTF-8 byte-order mark from spreadsheet exports
  while (at < csv_text.size()) {
    std::size_t end = csv_text.find('\n', at);
    if (end == std::string_view::npos) end = csv_text.size();
    std::string_view line = csv_text.substr(at, end - at);
    at = end + 1;
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!header_seen) {
      if (line != "from_id,to_id,distance_km,duration_min") {
        throw_line_error(line_number, "expected the header \"from_id,to_id,distance_km,duration_min\", got \"" +
                                          std::string(line) + "\"");
      }
      header_seen = true;
      continue;
    }
    if (line.empty()) continue;
    const std::vector<std::string> fields = split_csv_record(line, line_number);
    if (fields.size() != 4) {
      throw_line_error(line_number, "expected 4 fields, got " + std::to_string(fields.size()));
    }
    const std::int64_t from_id = parse_id(fields[0], "from_id", line_number);
    const std::int64_t to_id = parse_id(fields[1], "to_id", line_number);
    const auto from = index_by_id.find(from_id);
    if (from == index_by_id.end()) throw_line_error(line_number, "from_id " + fields[0] + " is not a known place");
    const auto to = index_by_id.find(to_id);
    if (to == index_by_id.end()) throw_line_error(line_number, "to_id " + fields[1] + " is not a known place");
    if (from->second == to->second) throw_line_error(line_number, "a road from a place to itself");
    const double km = parse_non_negative(fields[2], "distance_km", line_number);
    const double minutes = parse_non_negative(fields[3], "duration_min", line_number);
    roads.push_back({from->second, to->second, km, minutes});
  }
  if (!header_seen) throw_line_error(1, "the edge list is empty; expected the header");
  return RoadGraph(nodes, roads);
}

// ---- Queries -----------------------------------------------------------------------------

void RoadGraph::check_index(std::uint32_t index) const {
  if (index >= nodes_.size()) {
    throw std::out_of_range("node index " + std::to_string(index) + " is not below " + std::to_string(nodes_.size()));
  }
}

const GraphNode& RoadGraph::node(std::uint32_t index) const {
  check_index(index);
  return nodes_[index];
}

std::optional<std::uint32_t> RoadGraph::index_of(std::int64_t id) const {
  const auto found = index_by_id_.find(id);
  if (found == index_by_id_.end()) return std::nullopt;
  return found->second;
}

std::span<const RoadEdge> RoadGraph::edges_from(std::uint32_t index) const {
  check_index(index);
  return std::span<const RoadEdge>(adjacency_).subspan(first_edge_[index], first_edge_[index + 1] - first_edge_[index]);
}

double RoadGraph::lower_bound_km(std::uint32_t from, std::uint32_t to) const {
  // The chord is never longer than the great-circle arc, which is never longer than a road.
  return bound_scale_ * chord_km(points_km_[from], points_km_[to]);
}

RoadGraph::Path RoadGraph::shortest_path(std::uint32_t from, std::uint32_t to) const {
  check_index(from);
  check_index(to);
  SearchScratch& scratch = thread_scratch();
  scratch.start(nodes_.size());
  scratch.km[from] = 0;
  scratch.minutes[from] = 0;
  scratch.parent[from] = from;
  scratch.reached_stamp[from] = scratch.generation;
  scratch.push(lower_bound_km(from, to), from);
  while (!scratch.heap.empty()) {
    const std::uint32_t node = scratch.pop();
    if (scratch.settled(node)) continue;  // a stale heap entry
    scratch.settled_stamp[node] = scratch.generation;
    if (node == to) break;
    // The bound is consistent (a chord obeys the triangle inequality), so a settled node is final.
    for (std::uint32_t slot = first_edge_[node]; slot < first_edge_[node + 1]; ++slot) {
      const RoadEdge& edge = adjacency_[slot];
      if (scratch.settled(edge.to)) continue;
      const double km = scratch.km[node] + edge.km;
      if (!scratch.reached(edge.to) || km < scratch.km[edge.to]) {
        scratch.reached_stamp[edge.to] = scratch.generation;
        scratch.km[edge.to] = km;
        scratch.minutes[edge.to] = scratch.minutes[node] + edge.minutes;
        scratch.parent[edge.to] = node;
        scratch.push(km + lower_bound_km(edge.to, to), edge.to);
      }
    }
  }
  Path path;
  if (!scratch.settled(to)) return path;
  path.km = scratch.km[to];
  path.minutes = scratch.minutes[to];
  for (std::uint32_t at = to; at != from; at = scratch.parent[at]) path.nodes.push_back(at);
  path.nodes.push_back(from);
  std::reverse(path.nodes.begin(), path.nodes.end());
  return path;
}

std::vector<RoadGraph::Cost> RoadGraph::costs_from(std::uint32_t from, std::span<const std::uint32_t> targets) const {
  check_index(from);
  for (const std::uint32_t target : targets) check_index(target);
  SearchScratch& scratch = thread_scratch();
  scratch.start(nodes_.size());
  std::size_t unsettled_targets = 0;
  for (const std::uint32_t target : targets) {
    if (scratch.target_stamp[target] != scratch.generation) {
      scratch.target_stamp[target] = scratch.generation;
      ++unsettled_targets;
    }
  }
  scratch.km[from] = 0;
  scratch.minutes[from] = 0;
  scratch.reached_stamp[from] = scratch.generation;
  scratch.push(0.0, from);
  while (!scratch.heap.empty() && unsettled_targets > 0) {
    const std::uint32_t node = scratch.pop();
    if (scratch.settled(node)) continue;
    scratch.settled_stamp[node] = scratch.generation;
    if (scratch.target_stamp[node] == scratch.generation) --unsettled_targets;
    for (std::uint32_t slot = first_edge_[node]; slot < first_edge_[node + 1]; ++slot) {
      const RoadEdge& edge = adjacency_[slot];
      if (scratch.settled(edge.to)) continue;
      const double km = scratch.km[node] + edge.km;
      if (!scratch.reached(edge.to) || km < scratch.km[edge.to]) {
        scratch.reached_stamp[edge.to] = scratch.generation;
        scratch.km[edge.to] = km;
        scratch.minutes[edge.to] = scratch.minutes[node] + edge.minutes;
        scratch.push(km, edge.to);
      }
    }
  }
  std::vector<Cost> costs;
  costs.reserve(targets.size());
  for (const std::uint32_t target : targets) {
    if (scratch.settled(target)) {
      costs.push_back({scratch.km[target], scratch.minutes[target], true});
    } else {
      costs.push_back({0.0, 0.0, false});
    }
  }
  return costs;
}

std::vector<std::vector<std::uint32_t>> RoadGraph::connected_components() const {
  std::vector<bool> seen(nodes_.size(), false);
  std::vector<std::vector<std::uint32_t>> components;
  std::vector<std::uint32_t> stack;
  for (std::uint32_t start = 0; start < nodes_.size(); ++start) {
    if (seen[start]) continue;
    std::vector<std::uint32_t>& component = components.emplace_back();
    seen[start] = true;
    stack.push_back(start);
    while (!stack.empty()) {
      const std::uint32_t node = stack.back();
      stack.pop_back();
      component.push_back(node);
      for (const RoadEdge& edge : edges_from(node)) {
        if (!seen[edge.to]) {
          seen[edge.to] = true;
          stack.push_back(edge.to);
        }
      }
    }
    std::sort(component.begin(), component.end());
  }
  std::stable_sort(components.begin(), components.end(),
                   [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return components;
}

}  // namespace intercab::location
