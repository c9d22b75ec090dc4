// Route planning over the road graph: attaching stops to the graph, ordering them, driving each
// leg with A*, and adding up the km per state from the per-road state splits computed once.
#include "services/location/domain/route_planner.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace intercab::location {
namespace {

constexpr double kUnboundedSnap = std::numeric_limits<double>::infinity();

std::uint64_t road_key(std::uint32_t a, std::uint32_t b) {
  return (static_cast<std::uint64_t>(std::min(a, b)) << 32U) | std::max(a, b);
}

// The shortest road from u to v (edge lists may hold parallel roads).
const RoadEdge* road_between(const RoadGraph& graph, std::uint32_t u, std::uint32_t v) {
  const RoadEdge* best = nullptr;
  for (const RoadEdge& edge : graph.edges_from(u)) {
    if (edge.to == v && (best == nullptr || edge.km < best->km)) best = &edge;
  }
  return best;
}

void append_point(std::vector<LatLon>& path, LatLon point) {
  if (path.empty() || !(path.back() == point)) path.push_back(point);
}

}  // namespace

RouteUnreachable::RouteUnreachable(std::size_t from_stop, std::size_t to_stop)
    : std::runtime_error("no road joins stop " + std::to_string(from_stop) + " and stop " + std::to_string(to_stop)),
      from(from_stop),
      to(to_stop) {}

RoutePlanner::RoutePlanner(const CityCatalog& cities, const StateMap& states, RoadGraph graph, PlannerOptions options)
    : cities_(cities), states_(states), graph_(std::move(graph)), options_(options) {
  for (std::uint32_t u = 0; u < graph_.node_count(); ++u) {
    for (const RoadEdge& edge : graph_.edges_from(u)) {
      if (edge.to < u) continue;  // each road once, split in the direction u -> v
      const auto key = road_key(u, edge.to);
      if (road_states_.contains(key)) continue;
      const std::array<LatLon, 2> segment{graph_.node(u).position, graph_.node(edge.to).position};
      const double length = great_circle_km(segment[0], segment[1]);
      std::vector<std::pair<const State*, double>> fractions;
      for (const auto& crossing : states_.split_by_state(segment)) {
        fractions.emplace_back(crossing.state, length > 0 ? crossing.km / length : 1.0);
      }
      if (fractions.empty()) fractions.emplace_back(states_.locate(segment[0], kUnboundedSnap)->state, 1.0);
      road_states_.emplace(key, std::move(fractions));
    }
  }
}

RoutePlanner::Attachment RoutePlanner::attach(const Stop& stop) const {
  if (stop.city_id) {
    if (auto index = graph_.index_of(*stop.city_id)) return {*index, 0.0};
  }
  // The nearest city that is a node of the graph (an edge list may cover only some cities).
  const auto nearest = cities_.nearest(stop.position);
  if (nearest) {
    if (auto index = graph_.index_of(nearest->city->id)) {
      return {*index, nearest->distance_km * options_.access_circuity};
    }
  }
  std::uint32_t best = 0;
  double best_km = std::numeric_limits<double>::infinity();
  for (std::uint32_t i = 0; i < graph_.node_count(); ++i) {
    const double km = great_circle_km(stop.position, graph_.node(i).position);
    if (km < best_km) {
      best_km = km;
      best = i;
    }
  }
  return {best, best_km * options_.access_circuity};
}

RoutePlanner::Drive RoutePlanner::access_drive(double access_km) const {
  return {access_km, access_km / options_.access_speed_kmh * 60.0, true};
}

std::optional<RoutePlanner::Drive> RoutePlanner::direct_drive(const Stop& from, const Stop& to) const {
  const double straight = great_circle_km(from.position, to.position);
  if (straight > options_.direct_km) return std::nullopt;
  return access_drive(straight * options_.access_circuity);
}

std::vector<RoutePlanner::Drive> RoutePlanner::drives_from(const Stop& origin, const Attachment& from,
                                                           const std::vector<Stop>& targets,
                                                           const std::vector<Attachment>& attachments) const {
  std::vector<std::uint32_t> nodes;
  nodes.reserve(attachments.size());
  for (const auto& attachment : attachments) nodes.push_back(attachment.node);
  const auto costs = graph_.costs_from(from.node, nodes);
  const Drive first_mile = access_drive(from.access_km);
  std::vector<Drive> drives(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (costs[i].reachable) {
      const Drive last_mile = access_drive(attachments[i].access_km);
      drives[i] = {first_mile.km + costs[i].km + last_mile.km,
                   first_mile.minutes + costs[i].minutes + last_mile.minutes, true};
    }
    if (auto direct = direct_drive(origin, targets[i]); direct && (!drives[i].reachable || direct->km < drives[i].km)) {
      drives[i] = *direct;
    }
  }
  return drives;
}

void RoutePlanner::add_states(std::span<const LatLon> segment, double km, RoutePlan& plan) const {
  const double length = great_circle_km(segment.front(), segment.back());
  if (km <= 0) return;
  auto add = [&plan](const State* state, double state_km) {
    if (!plan.states.empty() && plan.states.back().code == state->code) {
      plan.states.back().km += state_km;
    } else {
      plan.states.push_back({state->code, state->name, state_km});
    }
  };
  if (length <= 0) {
    add(states_.locate(segment.front(), kUnboundedSnap)->state, km);
    return;
  }
  for (const auto& crossing : states_.split_by_state(segment)) add(crossing.state, km * crossing.km / length);
}

void RoutePlanner::drive_leg(const Stop& from, const Attachment& from_node, const Stop& to, const Attachment& to_node,
                             RoutePlan& plan, RouteLeg& leg) const {
  const auto via_graph = graph_.shortest_path(from_node.node, to_node.node);
  const auto direct = direct_drive(from, to);
  const double graph_km = via_graph.nodes.empty() ? std::numeric_limits<double>::infinity()
                                                  : from_node.access_km + via_graph.km + to_node.access_km;
  if (direct && direct->km <= graph_km) {
    leg.km = direct->km;
    leg.minutes = direct->minutes;
    const std::array<LatLon, 2> segment{from.position, to.position};
    add_states(segment, leg.km, plan);
    append_point(plan.path, from.position);
    append_point(plan.path, to.position);
    return;
  }
  if (via_graph.nodes.empty()) throw RouteUnreachable(leg.from, leg.to);
  append_point(plan.path, from.position);
  const LatLon first_node = graph_.node(via_graph.nodes.front()).position;
  if (from_node.access_km > 0) add_states(std::array<LatLon, 2>{from.position, first_node}, from_node.access_km, plan);
  double minutes = access_drive(from_node.access_km).minutes + access_drive(to_node.access_km).minutes;
  for (std::size_t i = 0; i < via_graph.nodes.size(); ++i) {
    const auto u = via_graph.nodes[i];
    append_point(plan.path, graph_.node(u).position);
    if (i + 1 == via_graph.nodes.size()) break;
    const auto v = via_graph.nodes[i + 1];
    const RoadEdge* road = road_between(graph_, u, v);
    minutes += road->minutes;
    // Splits are stored in the direction min -> max; driven the other way they are listed reversed.
    const auto& fractions = road_states_.at(road_key(u, v));
    auto add_fraction = [&](const std::pair<const State*, double>& part) {
      const double part_km = road->km * part.second;
      if (!plan.states.empty() && plan.states.back().code == part.first->code) {
        plan.states.back().km += part_km;
      } else {
        plan.states.push_back({part.first->code, part.first->name, part_km});
      }
    };
    if (u < v) {
      std::for_each(fractions.begin(), fractions.end(), add_fraction);
    } else {
      std::for_each(fractions.rbegin(), fractions.rend(), add_fraction);
    }
  }
  const LatLon last_node = graph_.node(via_graph.nodes.back()).position;
  if (to_node.access_km > 0) add_states(std::array<LatLon, 2>{last_node, to.position}, to_node.access_km, plan);
  append_point(plan.path, to.position);
  leg.km = graph_km;
  leg.minutes = minutes;
}

RoutePlan RoutePlanner::plan(const std::vector<Stop>& stops, bool round_trip, bool optimize) const {
  if (stops.size() < 2) throw std::invalid_argument("a route needs at least two stops");
  std::vector<Attachment> attachments;
  attachments.reserve(stops.size());
  for (const auto& stop : stops) attachments.push_back(attach(stop));

  RoutePlan plan;
  plan.path_method = "astar";
  const bool reorderable = optimize && (round_trip ? stops.size() >= 3 : stops.size() >= 4);
  if (reorderable) {
    constexpr double kUnreachable = std::numeric_limits<double>::infinity();
    std::vector<std::vector<double>> cost(stops.size(), std::vector<double>(stops.size(), kUnreachable));
    for (std::size_t i = 0; i < stops.size(); ++i) {
      const auto drives = drives_from(stops[i], attachments[i], stops, attachments);
      for (std::size_t j = 0; j < stops.size(); ++j) {
        if (i == j) {
          cost[i][j] = 0;
        } else if (drives[j].reachable) {
          cost[i][j] = drives[j].km;
        }
      }
    }
    auto order = order_stops(cost, round_trip, true);
    if (!std::isfinite(order.cost)) {
      // Some stop cannot be reached at all: report the first pair without a road.
      for (std::size_t j = 1; j < stops.size(); ++j) {
        if (!std::isfinite(cost[0][j])) throw RouteUnreachable(0, j);
      }
    }
    plan.order = std::move(order.order);
    plan.order_method = order.method;
  } else {
    for (std::size_t i = 0; i < stops.size(); ++i) plan.order.push_back(i);
    plan.order_method = OrderMethod::kFixed;
  }

  auto drive = [&](std::size_t from, std::size_t to) {
    RouteLeg leg{from, to, 0, 0};
    drive_leg(stops[from], attachments[from], stops[to], attachments[to], plan, leg);
    plan.km += leg.km;
    plan.minutes += leg.minutes;
    plan.legs.push_back(leg);
  };
  for (std::size_t i = 0; i + 1 < plan.order.size(); ++i) drive(plan.order[i], plan.order[i + 1]);
  if (round_trip) drive(plan.order.back(), plan.order.front());
  return plan;
}

DistanceMatrix RoutePlanner::matrix(const std::vector<Stop>& origins, const std::vector<Stop>& destinations) const {
  std::vector<Attachment> destination_nodes;
  destination_nodes.reserve(destinations.size());
  for (const auto& stop : destinations) destination_nodes.push_back(attach(stop));
  DistanceMatrix matrix;
  for (const auto& origin : origins) {
    const auto drives = drives_from(origin, attach(origin), destinations, destination_nodes);
    auto& km_row = matrix.km.emplace_back();
    auto& minutes_row = matrix.minutes.emplace_back();
    for (const auto& d : drives) {
      km_row.push_back(d.reachable ? std::optional<double>(d.km) : std::nullopt);
      minutes_row.push_back(d.reachable ? std::optional<double>(d.minutes) : std::nullopt);
    }
  }
  return matrix;
}

}  // namespace intercab::location
