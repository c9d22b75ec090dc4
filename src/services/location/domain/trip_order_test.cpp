// Tests of stop ordering: Held-Karp against brute force over every permutation, the fixed order,
// the heuristic for large trips against many randomised local searches, and unreachable legs.
#include "services/location/domain/trip_order.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

namespace intercab::location {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
using Matrix = std::vector<std::vector<double>>;

double trip_cost(const Matrix& cost, const std::vector<std::size_t>& order, bool return_to_start) {
  double total = 0;
  for (std::size_t at = 0; at + 1 < order.size(); ++at) total += cost[order[at]][order[at + 1]];
  if (return_to_start && order.size() > 1) total += cost[order.back()][0];
  return total;
}

// Stop 0 first, every stop once, and for an open trip the last stop last.
void expect_valid_order(const std::vector<std::size_t>& order, std::size_t stops, bool return_to_start) {
  ASSERT_EQ(order.size(), stops);
  std::vector<std::size_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t stop = 0; stop < stops; ++stop) ASSERT_EQ(sorted[stop], stop);
  EXPECT_EQ(order.front(), 0U);
  if (!return_to_start) {
    EXPECT_EQ(order.back(), stops - 1);
  }
}

double brute_force_best(const Matrix& cost, bool return_to_start) {
  const std::size_t stops = cost.size();
  std::vector<std::size_t> order(stops);
  std::iota(order.begin(), order.end(), 0U);
  const auto first_movable = order.begin() + 1;
  const auto end_movable = return_to_start ? order.end() : order.end() - 1;
  double best = kInfinity;
  do {
    best = std::min(best, trip_cost(cost, order, return_to_start));
  } while (std::next_permutation(first_movable, end_movable));
  return best;
}

// Random km between points on a plane, optionally made asymmetric (one-way detours) and with some
// unreachable legs.
Matrix random_matrix(std::mt19937& random, std::size_t stops, bool asymmetric, double unreachable_share) {
  std::uniform_real_distribution<double> coordinate(0, 500);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<std::pair<double, double>> points;
  for (std::size_t i = 0; i < stops; ++i) points.emplace_back(coordinate(random), coordinate(random));
  Matrix cost(stops, std::vector<double>(stops, 0));
  for (std::size_t i = 0; i < stops; ++i) {
    for (std::size_t j = 0; j < stops; ++j) {
      if (i == j) continue;
      cost[i][j] = std::hypot(points[i].first - points[j].first, points[i].second - points[j].second);
      if (asymmetric) cost[i][j] *= 1.0 + unit(random);
      if (unit(random) < unreachable_share) cost[i][j] = kInfinity;
    }
  }
  return cost;
}

void expect_same_cost(double actual, double expected) {
  if (std::isinf(expected)) {
    EXPECT_TRUE(std::isinf(actual)) << actual;
  } else {
    EXPECT_NEAR(actual, expected, 1e-9 * std::max(1.0, expected));
  }
}

TEST(StopOrder, HeldKarpEqualsBruteForce) {
  std::mt19937 random(42);
  for (std::size_t middle = 1; middle <= 8; ++middle) {
    for (const bool round_trip : {false, true}) {
      for (const bool asymmetric : {false, true}) {
        for (int instance = 0; instance < 6; ++instance) {
          // Open: 0, `middle` stops, last. Round: 0 and `middle` stops (all of them reorderable).
          const std::size_t stops = round_trip ? middle + 1 : middle + 2;
          const double unreachable_share = instance % 3 == 2 ? 0.3 : 0.0;
          const Matrix cost = random_matrix(random, stops, asymmetric, unreachable_share);
          const StopOrder result = order_stops(cost, round_trip, true);
          SCOPED_TRACE(::testing::Message() << "middle " << middle << " round " << round_trip << " asymmetric "
                                            << asymmetric << " instance " << instance);
          EXPECT_EQ(result.method, OrderMethod::kHeldKarp);
          expect_valid_order(result.order, stops, round_trip);
          expect_same_cost(result.cost, brute_force_best(cost, round_trip));
          expect_same_cost(result.cost, trip_cost(cost, result.order, round_trip));
        }
      }
    }
  }
}

TEST(StopOrder, FixedKeepsTheGivenOrder) {
  std::mt19937 random(1);
  for (const bool round_trip : {false, true}) {
    const Matrix cost = random_matrix(random, 9, true, 0.0);
    const StopOrder result = order_stops(cost, round_trip, false);
    EXPECT_EQ(result.method, OrderMethod::kFixed);
    EXPECT_EQ(result.order, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_DOUBLE_EQ(result.cost, trip_cost(cost, result.order, round_trip));
    EXPECT_LE(order_stops(cost, round_trip, true).cost, result.cost);
  }
  // A round trip's cost includes the leg back to the start.
  const Matrix two{{0, 10}, {30, 0}};
  EXPECT_DOUBLE_EQ(order_stops(two, false, false).cost, 10);
  EXPECT_DOUBLE_EQ(order_stops(two, true, false).cost, 40);
}

TEST(StopOrder, KeepsTheGivenOrderWhenNothingIsGained) {
  // Every leg costs the same: any order is optimal, so the rider's order stays.
  const Matrix flat(7, std::vector<double>(7, 5.0));
  for (const bool round_trip : {false, true}) {
    const StopOrder result = order_stops(flat, round_trip, true);
    EXPECT_EQ(result.order, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6}));
  }
  const Matrix wide(20, std::vector<double>(20, 5.0));
  const StopOrder heuristic = order_stops(wide, false, true);
  EXPECT_EQ(heuristic.method, OrderMethod::kTwoOpt);
  EXPECT_TRUE(std::is_sorted(heuristic.order.begin(), heuristic.order.end()));
}

TEST(StopOrder, TinyTrips) {
  EXPECT_TRUE(order_stops({}, false, true).order.empty());
  const StopOrder single = order_stops({{0}}, true, true);
  EXPECT_EQ(single.order, std::vector<std::size_t>{0});
  EXPECT_DOUBLE_EQ(single.cost, 0);
  const StopOrder pair = order_stops({{0, 7}, {9, 0}}, false, true);
  EXPECT_EQ(pair.order, (std::vector<std::size_t>{0, 1}));
  EXPECT_DOUBLE_EQ(pair.cost, 7);
}

TEST(StopOrder, SwitchesToTheHeuristicAboveTwelveReorderableStops) {
  std::mt19937 random(3);
  // Open trip: 12 reorderable stops between the first and the last = 14 stops.
  EXPECT_EQ(order_stops(random_matrix(random, 14, false, 0.0), false, true).method, OrderMethod::kHeldKarp);
  EXPECT_EQ(order_stops(random_matrix(random, 15, false, 0.0), false, true).method, OrderMethod::kTwoOpt);
  // Round trip: every stop after 0 is reorderable.
  EXPECT_EQ(order_stops(random_matrix(random, 13, false, 0.0), true, true).method, OrderMethod::kHeldKarp);
  EXPECT_EQ(order_stops(random_matrix(random, 14, false, 0.0), true, true).method, OrderMethod::kTwoOpt);
}

// A baseline written independently of the production heuristic: from a random order, apply the best
// improving swap or segment reversal (full re-pricing, so asymmetric costs are handled) until none.
double randomised_local_search(const Matrix& cost, bool return_to_start, std::mt19937& random) {
  const std::size_t stops = cost.size();
  std::vector<std::size_t> order(stops);
  std::iota(order.begin(), order.end(), 0U);
  const std::size_t first = 1;
  const std::size_t last = return_to_start ? stops - 1 : stops - 2;
  std::shuffle(order.begin() + first, order.begin() + static_cast<std::ptrdiff_t>(last) + 1, random);
  double current = trip_cost(cost, order, return_to_start);
  for (bool improved = true; improved;) {
    improved = false;
    for (std::size_t i = first; i <= last; ++i) {
      for (std::size_t j = i + 1; j <= last; ++j) {
        for (const bool reverse : {false, true}) {
          std::vector<std::size_t> candidate = order;
          if (reverse) {
            std::reverse(candidate.begin() + static_cast<std::ptrdiff_t>(i),
                         candidate.begin() + static_cast<std::ptrdiff_t>(j) + 1);
          } else {
            std::swap(candidate[i], candidate[j]);
          }
          const double price = trip_cost(cost, candidate, return_to_start);
          if (price < current - 1e-9) {
            order = candidate;
            current = price;
            improved = true;
          }
        }
      }
    }
  }
  return current;
}

TEST(StopOrder, HeuristicIsCloseToManyRandomisedRestarts) {
  std::mt19937 random(2024);
  for (const std::size_t stops : {15U, 20U, 30U}) {
    for (const bool round_trip : {false, true}) {
      for (const bool asymmetric : {false, true}) {
        const Matrix cost = random_matrix(random, stops, asymmetric, 0.0);
        const StopOrder result = order_stops(cost, round_trip, true);
        SCOPED_TRACE(::testing::Message() << stops << " stops, round " << round_trip << ", asymmetric " << asymmetric);
        EXPECT_EQ(result.method, OrderMethod::kTwoOpt);
        expect_valid_order(result.order, stops, round_trip);
        expect_same_cost(result.cost, trip_cost(cost, result.order, round_trip));
        EXPECT_LE(result.cost, order_stops(cost, round_trip, false).cost);
        double best_restart = kInfinity;
        for (int restart = 0; restart < 30; ++restart) {
          best_restart = std::min(best_restart, randomised_local_search(cost, round_trip, random));
        }
        EXPECT_LE(result.cost, best_restart * 1.05) << "restarts found " << best_restart;
      }
    }
  }
}

TEST(StopOrder, AvoidsUnreachableLegsWhenItCan) {
  // The only order without an unreachable leg is 0 -> 2 -> 1 -> 3; the cheap first leg 0 -> 1
  // leads to a dead end (nothing reachable from 1 but 3, which would skip 2).
  Matrix cost(4, std::vector<double>(4, kInfinity));
  cost[0][2] = 100;
  cost[2][1] = 100;
  cost[1][3] = 100;
  cost[0][1] = 1;
  const StopOrder open = order_stops(cost, false, true);
  EXPECT_EQ(open.order, (std::vector<std::size_t>{0, 2, 1, 3}));
  EXPECT_DOUBLE_EQ(open.cost, 300);
  // A large trip where only the legs of one shuffled chain through all 16 stops are reachable.
  const std::size_t stops = 16;
  std::vector<std::size_t> chain(stops);
  std::iota(chain.begin(), chain.end(), 0U);
  std::mt19937 random(8);
  std::shuffle(chain.begin() + 1, chain.end() - 1, random);
  Matrix sparse(stops, std::vector<double>(stops, kInfinity));
  for (std::size_t at = 0; at + 1 < stops; ++at) sparse[chain[at]][chain[at + 1]] = 10;
  const StopOrder heuristic = order_stops(sparse, false, true);
  EXPECT_EQ(heuristic.method, OrderMethod::kTwoOpt);
  EXPECT_EQ(heuristic.order, chain);
  EXPECT_DOUBLE_EQ(heuristic.cost, 150);
  // When no order avoids an unreachable leg, the cost says so and the order is still complete.
  Matrix cut(5, std::vector<double>(5, 10));
  for (std::size_t i = 0; i < 5; ++i) cut[i][4] = kInfinity;  // the last stop cannot be reached
  const StopOrder stuck = order_stops(cut, false, true);
  EXPECT_TRUE(std::isinf(stuck.cost));
  expect_valid_order(stuck.order, 5, false);
}

TEST(StopOrder, RejectsBadMatrices) {
  EXPECT_THROW((void)order_stops({{0, 1}, {1}}, false, true), std::invalid_argument);
  EXPECT_THROW((void)order_stops({{0, -1}, {1, 0}}, false, true), std::invalid_argument);
  EXPECT_THROW((void)order_stops({{0, std::nan("")}, {1, 0}}, false, false), std::invalid_argument);
  EXPECT_THROW((void)order_stops({{0, -kInfinity}, {1, 0}}, false, false), std::invalid_argument);
  EXPECT_NO_THROW((void)order_stops({{std::nan(""), 1}, {1, 0}}, false, true));  // the diagonal is ignored
}

TEST(StopOrder, MethodNames) {
  EXPECT_EQ(to_string(OrderMethod::kFixed), "fixed");
  EXPECT_EQ(to_string(OrderMethod::kHeldKarp), "held_karp");
  EXPECT_EQ(to_string(OrderMethod::kTwoOpt), "two_opt");
}

}  // namespace
}  // namespace intercab::location
