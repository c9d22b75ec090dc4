// Stop ordering: Held-Karp for small trips, nearest neighbour + 2-opt + Or-opt for larger ones.
#include "services/location/domain/trip_order.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace intercab::location {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
// Safety net for the local search; it stops by itself far earlier (every move strictly improves).
constexpr std::size_t kMaxImprovementRounds = 200;

// Both trip shapes become a path with fixed ends: an open trip is 0, middle..., last; a round trip
// is 0, others..., 0 again (the copy of 0 is the leg back). Positions 1 .. size-2 may move.
using Sequence = std::vector<std::size_t>;

// The cost matrix with every unreachable leg replaced by a penalty larger than any trip made of
// reachable legs, so that the searches minimise the number of unreachable legs first and the km
// second, with plain arithmetic (inf - inf would be NaN in the move deltas).
class LegCosts {
 public:
  explicit LegCosts(const std::vector<std::vector<double>>& cost) : size_(cost.size()), costs_(size_ * size_) {
    double finite_total = 0;
    for (std::size_t from = 0; from < size_; ++from) {
      for (std::size_t to = 0; to < size_; ++to) {
        if (from != to && std::isfinite(cost[from][to])) finite_total += cost[from][to];
      }
    }
    penalty_ = finite_total + 1.0;
    for (std::size_t from = 0; from < size_; ++from) {
      for (std::size_t to = 0; to < size_; ++to) {
        costs_[from * size_ + to] = std::isfinite(cost[from][to]) ? cost[from][to] : penalty_;
      }
    }
  }
  double operator()(std::size_t from, std::size_t to) const { return costs_[from * size_ + to]; }
  // Differences smaller than this are rounding, not improvements.
  double tolerance() const { return 1e-12 * penalty_ * static_cast<double>(size_ + 1); }
  double of(const Sequence& sequence) const {
    double total = 0;
    for (std::size_t at = 0; at + 1 < sequence.size(); ++at) total += (*this)(sequence[at], sequence[at + 1]);
    return total;
  }

 private:
  std::size_t size_;
  std::vector<double> costs_;
  double penalty_ = 1.0;
};

double real_cost(const std::vector<std::vector<double>>& cost, const Sequence& sequence) {
  double total = 0;
  for (std::size_t at = 0; at + 1 < sequence.size(); ++at) total += cost[sequence[at]][sequence[at + 1]];
  return total;
}

void validate(const std::vector<std::vector<double>>& cost) {
  for (std::size_t from = 0; from < cost.size(); ++from) {
    if (cost[from].size() != cost.size()) {
      throw std::invalid_argument("the cost matrix must be square: row " + std::to_string(from) + " has " +
                                  std::to_string(cost[from].size()) + " entries, expected " +
                                  std::to_string(cost.size()));
    }
    for (std::size_t to = 0; to < cost.size(); ++to) {
      if (from != to && (std::isnan(cost[from][to]) || cost[from][to] < 0)) {
        throw std::invalid_argument("cost[" + std::to_string(from) + "][" + std::to_string(to) +
                                    "] must be a non-negative number or +inf");
      }
    }
  }
}

// Exact: the cheapest path from sequence.front() through every middle stop to sequence.back().
Sequence held_karp(const LegCosts& legs, const Sequence& given) {
  const std::size_t start = given.front();
  const std::size_t end = given.back();
  const std::vector<std::size_t> middle(given.begin() + 1, given.end() - 1);
  const std::size_t count = middle.size();
  if (count == 0) return given;
  const std::size_t subsets = std::size_t{1} << count;
  const std::size_t all = subsets - 1;
  std::vector<double> between(count * count);  // legs among the middle stops, densely packed
  for (std::size_t from = 0; from < count; ++from) {
    for (std::size_t to = 0; to < count; ++to) between[from * count + to] = legs(middle[from], middle[to]);
  }
  // best[subset * count + last]: cheapest path from start through `subset`, ending at middle[last].
  std::vector<double> best(subsets * count, kInfinity);
  std::vector<std::uint8_t> previous(subsets * count, 0);
  for (std::size_t last = 0; last < count; ++last) {
    best[(std::size_t{1} << last) * count + last] = legs(start, middle[last]);
  }
  for (std::size_t subset = 1; subset < subsets; ++subset) {
    for (std::size_t members = subset; members != 0; members &= members - 1) {
      const auto last = static_cast<std::size_t>(std::countr_zero(members));
      const double so_far = best[subset * count + last];
      const double* from_last = &between[last * count];
      for (std::size_t outside = all & ~subset; outside != 0; outside &= outside - 1) {
        const auto next = static_cast<std::size_t>(std::countr_zero(outside));
        const std::size_t slot = (subset | (std::size_t{1} << next)) * count + next;
        const double candidate = so_far + from_last[next];
        if (candidate < best[slot]) {
          best[slot] = candidate;
          previous[slot] = static_cast<std::uint8_t>(last);
        }
      }
    }
  }
  std::size_t last = 0;
  double cheapest = kInfinity;
  for (std::size_t candidate = 0; candidate < count; ++candidate) {
    const double total = best[all * count + candidate] + legs(middle[candidate], end);
    if (total < cheapest) {
      cheapest = total;
      last = candidate;
    }
  }
  Sequence order(given.size());
  order.front() = start;
  order.back() = end;
  std::size_t subset = all;
  for (std::size_t position = count; position >= 1; --position) {
    order[position] = middle[last];
    const std::size_t before = previous[subset * count + last];
    subset &= ~(std::size_t{1} << last);
    last = before;
  }
  return order;
}

Sequence nearest_neighbour(const LegCosts& legs, const Sequence& given) {
  Sequence order{given.front()};
  std::vector<std::size_t> left(given.begin() + 1, given.end() - 1);
  while (!left.empty()) {
    const auto nearest = std::min_element(left.begin(), left.end(), [&](std::size_t a, std::size_t b) {
      return legs(order.back(), a) < legs(order.back(), b);
    });
    order.push_back(*nearest);
    left.erase(nearest);
  }
  order.push_back(given.back());
  return order;
}

// One pass of 2-opt: reverse order[i..j] when that is cheaper. Costs may be asymmetric, so the
// reversed stretch is priced in its new direction (running sums keep each candidate O(1)).
bool two_opt_pass(const LegCosts& legs, Sequence& order) {
  bool improved = false;
  const std::size_t last_movable = order.size() - 2;
  for (std::size_t i = 1; i < last_movable; ++i) {
    double forward = 0;   // order[i] -> ... -> order[j]
    double backward = 0;  // order[j] -> ... -> order[i]
    for (std::size_t j = i + 1; j <= last_movable; ++j) {
      forward += legs(order[j - 1], order[j]);
      backward += legs(order[j], order[j - 1]);
      const std::size_t before = order[i - 1];
      const std::size_t after = order[j + 1];
      const double now = legs(before, order[i]) + forward + legs(order[j], after);
      const double reversed = legs(before, order[j]) + backward + legs(order[i], after);
      if (reversed < now - legs.tolerance()) {
        std::reverse(order.begin() + static_cast<std::ptrdiff_t>(i),
                     order.begin() + static_cast<std::ptrdiff_t>(j) + 1);
        improved = true;
        break;  // the running sums describe the old order; carry on from the next i
      }
    }
  }
  return improved;
}

// One pass of Or-opt: move a stretch of 1-3 stops elsewhere, in either direction, when cheaper.
bool or_opt_pass(const LegCosts& legs, Sequence& order) {
  bool improved = false;
  const std::size_t last_movable = order.size() - 2;
  for (std::size_t length = 1; length <= 3; ++length) {
    for (std::size_t i = 1; i + length - 1 <= last_movable; ++i) {
      const std::size_t first = order[i];
      const std::size_t last = order[i + length - 1];
      double forward = 0;
      double backward = 0;
      for (std::size_t k = i; k + 1 < i + length; ++k) {
        forward += legs(order[k], order[k + 1]);
        backward += legs(order[k + 1], order[k]);
      }
      const double removal_saving =
          legs(order[i - 1], first) + forward + legs(last, order[i + length]) - legs(order[i - 1], order[i + length]);
      // Insert between order[k] and order[k + 1], a leg that does not touch the stretch.
      for (std::size_t k = 0; k + 1 < order.size(); ++k) {
        if (k + 1 >= i && k <= i + length - 1) continue;
        const double opened = legs(order[k], order[k + 1]);
        const double as_is = legs(order[k], first) + forward + legs(last, order[k + 1]) - opened;
        const double flipped = legs(order[k], last) + backward + legs(first, order[k + 1]) - opened;
        const bool flip = length > 1 && flipped < as_is;
        const double added = flip ? flipped : as_is;
        if (added < removal_saving - legs.tolerance()) {
          Sequence stretch(order.begin() + static_cast<std::ptrdiff_t>(i),
                           order.begin() + static_cast<std::ptrdiff_t>(i + length));
          if (flip) std::reverse(stretch.begin(), stretch.end());
          order.erase(order.begin() + static_cast<std::ptrdiff_t>(i),
                      order.begin() + static_cast<std::ptrdiff_t>(i + length));
          const std::size_t insert_at = k < i ? k + 1 : k + 1 - length;
          order.insert(order.begin() + static_cast<std::ptrdiff_t>(insert_at), stretch.begin(), stretch.end());
          improved = true;
          break;  // order[i] is another stop now; the next i looks at the new order
        }
      }
    }
  }
  return improved;
}

Sequence local_search(const LegCosts& legs, Sequence order) {
  for (std::size_t round = 0; round < kMaxImprovementRounds; ++round) {
    const bool reversed = two_opt_pass(legs, order);
    const bool moved = or_opt_pass(legs, order);
    if (!reversed && !moved) break;
  }
  return order;
}

}  // namespace

StopOrder order_stops(const std::vector<std::vector<double>>& cost, bool return_to_start, bool optimize) {
  validate(cost);
  const std::size_t stops = cost.size();
  if (stops <= 1) {
    const OrderMethod method = optimize ? OrderMethod::kHeldKarp : OrderMethod::kFixed;
    return {stops == 1 ? std::vector<std::size_t>{0} : std::vector<std::size_t>{}, 0.0, method};
  }
  Sequence given(stops);
  for (std::size_t stop = 0; stop < stops; ++stop) given[stop] = stop;
  if (return_to_start) given.push_back(0);
  const std::size_t reorderable = given.size() - 2;

  Sequence chosen = given;
  OrderMethod method = OrderMethod::kFixed;
  if (optimize) {
    const LegCosts legs(cost);
    Sequence candidate;
    if (reorderable <= kMaxExactReorderableStops) {
      candidate = held_karp(legs, given);
      method = OrderMethod::kHeldKarp;
    } else {
      // Two starts: the greedy tour, and the order the rider gave (often already sensible).
      candidate = local_search(legs, nearest_neighbour(legs, given));
      const Sequence from_given = local_search(legs, given);
      if (legs.of(from_given) < legs.of(candidate)) candidate = from_given;
      method = OrderMethod::kTwoOpt;
    }
    // Keep the rider's order unless the new one is really cheaper.
    if (legs.of(candidate) < legs.of(given) - legs.tolerance()) chosen = candidate;
  }
  const double total = real_cost(cost, chosen);
  if (return_to_start) chosen.pop_back();
  return {chosen, total, method};
}

std::string_view to_string(OrderMethod method) {
  switch (method) {
    case OrderMethod::kFixed:
      return "fixed";
    case OrderMethod::kHeldKarp:
      return "held_karp";
    case OrderMethod::kTwoOpt:
      return "two_opt";
  }
  return "unknown";
}

}  // namespace intercab::location
