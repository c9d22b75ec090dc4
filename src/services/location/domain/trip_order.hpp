// The order in which a multi-stop trip visits its stops: exact (Held-Karp) for the usual handful of
// stops, a local-search heuristic beyond that. Works on a cost matrix, so it knows nothing of roads;
// the caller fills the matrix (e.g. with RoadGraph::costs_from). Pure domain code.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace intercab::location {

enum class OrderMethod { kFixed, kHeldKarp, kTwoOpt };

struct StopOrder {
  std::vector<std::size_t> order;  // indices into the cost matrix, starting with 0
  double cost = 0;                 // +inf when some leg of the order is unreachable
  OrderMethod method = OrderMethod::kFixed;
};

// Stops that can be reordered with the exact method: at 12, Held-Karp takes 12 x 11 x 2^10 (135k)
// steps, about 0.6 ms optimised; every stop more doubles that.
inline constexpr std::size_t kMaxExactReorderableStops = 12;

// `cost[i][j]` is the cost (km) from stop i to stop j: square, may be asymmetric, +inf where j
// cannot be reached from i; the diagonal is ignored. Stop 0 always stays first. An open trip keeps
// its last stop last and reorders the ones in between; a round trip (`return_to_start`) reorders
// every stop after 0 and its cost includes the leg back to 0.
//   - `optimize == false`: the given order, method kFixed.
//   - up to kMaxExactReorderableStops reorderable stops: the optimum by Held-Karp (kHeldKarp).
//   - more: nearest neighbour, then 2-opt and Or-opt moves until none improves (kTwoOpt), bounded.
// An optimized order is never costlier than the given one, and equals it when nothing is gained.
// Unreachable legs are avoided when some order can avoid them (fewest unreachable legs first).
// Throws std::invalid_argument for a matrix that is not square or holds a negative or NaN cost.
StopOrder order_stops(const std::vector<std::vector<double>>& cost, bool return_to_start, bool optimize);

// "fixed", "held_karp", "two_opt".
std::string_view to_string(OrderMethod method);

}  // namespace intercab::location
