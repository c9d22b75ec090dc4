// The route planner on the real data: km per state add up to the route, legs and order are
// consistent, optimisation never makes a route longer, the matrix agrees with single routes,
// islands are unreachable, and points off the graph join it at the nearest city.
#include "services/location/domain/route_planner.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace intercab::location {
namespace {

std::string read_data(const std::string& name) {
  const char* root = std::getenv("INTERCAB_SOURCE_DIR");
  if (root == nullptr) throw std::runtime_error("INTERCAB_SOURCE_DIR is not set: run this test through ctest");
  std::ifstream in(std::filesystem::path(root) / "data" / name, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read data/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class Planner : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cities_ = new CityCatalog(CityCatalog::parse_csv(read_data("india_cities.csv")));
    states_ = new StateMap(StateMap::parse_geojson(read_data("india_states.geojson")));
    std::vector<GraphNode> nodes;
    for (const auto& city : cities_->all()) nodes.push_back({city.id, city.position, city.population});
    planner_ = new RoutePlanner(*cities_, *states_, RoadGraph::build_synthetic(nodes));
  }
  static void TearDownTestSuite() {
    delete planner_;
    delete states_;
    delete cities_;
  }

  static Stop city(std::string_view name) {
    const auto matches = cities_->search(name, std::nullopt, 1);
    if (matches.empty()) throw std::runtime_error("no city " + std::string(name));
    return {matches[0].city->position, matches[0].city->id};
  }

  static double state_sum(const RoutePlan& plan) {
    double km = 0;
    for (const auto& state : plan.states) km += state.km;
    return km;
  }

  static inline CityCatalog* cities_ = nullptr;
  static inline StateMap* states_ = nullptr;
  static inline RoutePlanner* planner_ = nullptr;
};

TEST_F(Planner, DelhiToJaipurCrossesHaryanaAndItsStatesAddUp) {
  const auto plan = planner_->plan({city("Delhi"), city("Jaipur")}, false, false);
  ASSERT_EQ(plan.legs.size(), 1U);
  EXPECT_GT(plan.km, 250);
  EXPECT_LT(plan.km, 320);
  ASSERT_GE(plan.states.size(), 3U);
  EXPECT_EQ(plan.states.front().code, "IN-DL");
  EXPECT_EQ(plan.states.back().code, "IN-RJ");
  bool through_haryana = false;
  for (const auto& state : plan.states) through_haryana = through_haryana || state.code == "IN-HR";
  EXPECT_TRUE(through_haryana);
  EXPECT_NEAR(state_sum(plan), plan.km, plan.km * 1e-9);
  EXPECT_EQ(plan.path_method, "astar");
  EXPECT_EQ(plan.order_method, OrderMethod::kFixed);
  EXPECT_GT(plan.minutes, plan.km / 80 * 60);
  EXPECT_EQ(plan.path.front(), city("Delhi").position);
  EXPECT_EQ(plan.path.back(), city("Jaipur").position);
}

TEST_F(Planner, StateKilometresAddUpOnRandomRoutes) {
  std::mt19937 random(7);
  const auto all = cities_->all();
  std::uniform_int_distribution<std::size_t> pick(0, all.size() - 1);
  int planned = 0;
  for (int i = 0; i < 200; ++i) {
    const auto& a = all[pick(random)];
    const auto& b = all[pick(random)];
    try {
      const auto plan = planner_->plan({{a.position, a.id}, {b.position, b.id}}, i % 2 == 0, false);
      EXPECT_NEAR(state_sum(plan), plan.km, std::max(1e-6, plan.km * 1e-9)) << a.name << " -> " << b.name;
      double legs = 0;
      for (const auto& leg : plan.legs) legs += leg.km;
      EXPECT_NEAR(legs, plan.km, 1e-6);
      for (std::size_t s = 1; s < plan.states.size(); ++s) EXPECT_NE(plan.states[s].code, plan.states[s - 1].code);
      ++planned;
    } catch (const RouteUnreachable&) {
      EXPECT_TRUE(a.state_code == "IN-AN" || b.state_code == "IN-AN") << a.name << " -> " << b.name;
    }
  }
  EXPECT_GT(planned, 190);
}

TEST_F(Planner, OptimisingKeepsTheEndsAndNeverLengthensTheTrip) {
  const std::vector<Stop> zigzag{city("Mumbai"), city("Delhi"),     city("Pune"),     city("Jaipur"),
                                 city("Nagpur"), city("Ahmedabad"), city("Bengaluru")};
  const auto fixed = planner_->plan(zigzag, false, false);
  const auto optimised = planner_->plan(zigzag, false, true);
  EXPECT_EQ(optimised.order_method, OrderMethod::kHeldKarp);
  EXPECT_EQ(optimised.order.front(), 0U);
  EXPECT_EQ(optimised.order.back(), zigzag.size() - 1);
  EXPECT_LT(optimised.km, fixed.km * 0.8);
  ASSERT_EQ(optimised.legs.size(), zigzag.size() - 1);
  for (std::size_t i = 0; i < optimised.legs.size(); ++i) {
    EXPECT_EQ(optimised.legs[i].from, optimised.order[i]);
    EXPECT_EQ(optimised.legs[i].to, optimised.order[i + 1]);
  }
  const auto round = planner_->plan(zigzag, true, true);
  EXPECT_EQ(round.legs.size(), zigzag.size());
  EXPECT_EQ(round.legs.back().to, 0U);
  EXPECT_NEAR(state_sum(round), round.km, round.km * 1e-9);
}

TEST_F(Planner, ManyStopsUseTheHeuristic) {
  std::vector<Stop> stops;
  for (const auto* name :
       {"Delhi", "Agra", "Lucknow", "Kanpur", "Varanasi", "Patna", "Kolkata", "Bhubaneshwar", "Visakhapatnam",
        "Vijayawada", "Hyderabad", "Nagpur", "Bhopal", "Indore", "Ahmedabad", "Jaipur"}) {
    stops.push_back(city(name));
  }
  const auto fixed = planner_->plan(stops, true, false);
  const auto optimised = planner_->plan(stops, true, true);
  EXPECT_EQ(optimised.order_method, OrderMethod::kTwoOpt);
  EXPECT_LE(optimised.km, fixed.km + 1e-6);
  EXPECT_EQ(optimised.order.size(), stops.size());
}

TEST_F(Planner, MatrixAgreesWithSingleRoutesAndMarksIslandsUnreachable) {
  const std::vector<Stop> origins{city("Mumbai"), city("Chennai")};
  const std::vector<Stop> destinations{city("Kolkata"), city("Port Blair"), city("Mumbai")};
  const auto matrix = planner_->matrix(origins, destinations);
  ASSERT_EQ(matrix.km.size(), 2U);
  EXPECT_FALSE(matrix.km[0][1].has_value());
  EXPECT_DOUBLE_EQ(*matrix.km[0][2], 0.0);
  EXPECT_NEAR(*matrix.km[1][0], planner_->plan({city("Chennai"), city("Kolkata")}, false, false).km, 1e-6);
  EXPECT_THROW(planner_->plan({city("Mumbai"), city("Port Blair")}, false, false), RouteUnreachable);
}

TEST_F(Planner, PointsJoinTheGraphAtTheNearestCityOrDriveDirectly) {
  // Two points in Pune a few km apart are driven directly, not through the graph.
  const Stop shivajinagar{{18.5308, 73.8475}, std::nullopt};
  const Stop hadapsar{{18.5089, 73.9260}, std::nullopt};
  const auto short_hop = planner_->plan({shivajinagar, hadapsar}, false, false);
  EXPECT_GT(short_hop.km, great_circle_km(shivajinagar.position, hadapsar.position));
  EXPECT_LT(short_hop.km, 15);
  // A village between Pune and Satara reaches Kolhapur through the graph, a bit longer than from Satara.
  const Stop village{{17.9, 74.05}, std::nullopt};
  const auto from_village = planner_->plan({village, city("Kolhapur")}, false, false);
  EXPECT_GT(from_village.km, great_circle_km(village.position, city("Kolhapur").position));
  EXPECT_EQ(from_village.states.front().code, "IN-MH");
  EXPECT_NEAR(state_sum(from_village), from_village.km, 1e-6);
}

}  // namespace
}  // namespace intercab::location
