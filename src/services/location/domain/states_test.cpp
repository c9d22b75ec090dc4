// Tests of the state map: exact cases on small inline GeoJSON, and the real India map (data/india_states.geojson)
// against known places, the city list, points either side of borders and a brute-force ray-casting reference.
#include "services/location/domain/states.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <numbers>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace intercab::location {
namespace {

using ::testing::HasSubstr;

constexpr double kKmPerDegree = kEarthRadiusKm * std::numbers::pi / 180.0;
constexpr double kRadiansPerDegree = std::numbers::pi / 180.0;

// ---- Helpers ------------------------------------------------------------------------------------------------------

std::string source_dir() {
  const char* dir = std::getenv("INTERCAB_SOURCE_DIR");
  if (dir == nullptr || *dir == '\0') {
    throw std::runtime_error(
        "INTERCAB_SOURCE_DIR is not set; run this test through ctest, or set it to the repository root");
  }
  return dir;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string& india_geojson() {
  static const std::string text = read_file(source_dir() + "/data/india_states.geojson");
  return text;
}

const StateMap& india() {
  static const StateMap map = StateMap::parse_geojson(india_geojson());
  return map;
}

std::string code_at(const StateMap& map, LatLon point, double snap_km = 0) {
  const auto location = map.locate(point, snap_km);
  return location ? location->state->code : "none";
}

// The point `km` from `origin` along the local direction (east_km, north_km) (normalised).
LatLon step(LatLon origin, double east, double north, double km) {
  const double norm = std::hypot(east, north);
  return {origin.lat + km * north / norm / kKmPerDegree,
          origin.lon + km * east / norm / (kKmPerDegree * std::cos(origin.lat * kRadiansPerDegree))};
}

double path_km(const std::vector<LatLon>& path) {
  double km = 0;
  for (std::size_t k = 1; k < path.size(); ++k) km += great_circle_km(path[k - 1], path[k]);
  return km;
}

std::vector<std::string> codes_of(const std::vector<StateMap::Crossing>& crossings) {
  std::vector<std::string> codes;
  codes.reserve(crossings.size());
  for (const auto& crossing : crossings) codes.push_back(crossing.state->code);
  return codes;
}

double km_sum(const std::vector<StateMap::Crossing>& crossings) {
  double km = 0;
  for (const auto& crossing : crossings) km += crossing.km;
  return km;
}

// A GeoJSON FeatureCollection from feature snippets.
std::string collection(const std::vector<std::string>& features) {
  std::string text = R"({"type":"FeatureCollection","features":[)";
  for (std::size_t k = 0; k < features.size(); ++k) text += (k ? "," : "") + features[k];
  return text + "]}";
}

std::string feature(const std::string& code, const std::string& name, const std::string& geometry_type,
                    const std::string& coordinates) {
  return R"({"type":"Feature","properties":{"code":")" + code + R"(","name":")" + name +
         R"(","type":"State"},"geometry":{"type":")" + geometry_type + R"(","coordinates":)" + coordinates + "}}";
}

// The closed ring of an axis-aligned box, as GeoJSON [lon, lat] positions.
std::string box(double west, double south, double east, double north) {
  std::ostringstream ring;
  ring << "[[" << west << "," << south << "],[" << east << "," << south << "],[" << east << "," << north << "],["
       << west << "," << north << "],[" << west << "," << south << "]]";
  return ring.str();
}

// ---- A brute-force reference: every ring of every feature, parsed here independently ---------------------------

struct ReferenceRing {
  std::vector<LatLon> points;  // closed: the last repeats the first
  double south = 90, north = -90, west = 180, east = -180;
};

struct ReferenceFeature {
  std::string code;
  std::vector<std::vector<ReferenceRing>> polygons;  // polygon -> rings, the outer one first
};

std::vector<ReferenceFeature> reference_features(const std::string& geojson) {
  std::vector<ReferenceFeature> features;
  const auto ring_of = [](const boost::json::value& value) {
    ReferenceRing ring;
    for (const auto& position : value.as_array()) {
      const LatLon point{position.as_array()[1].to_number<double>(), position.as_array()[0].to_number<double>()};
      ring.points.push_back(point);
      ring.south = std::min(ring.south, point.lat);
      ring.north = std::max(ring.north, point.lat);
      ring.west = std::min(ring.west, point.lon);
      ring.east = std::max(ring.east, point.lon);
    }
    return ring;
  };
  const auto polygon_of = [&](const boost::json::value& value) {
    std::vector<ReferenceRing> polygon;
    for (const auto& ring : value.as_array()) polygon.push_back(ring_of(ring));
    return polygon;
  };
  const boost::json::value root = boost::json::parse(geojson);
  for (const auto& value : root.at("features").as_array()) {
    ReferenceFeature feature;
    feature.code = std::string(value.at("properties").at("code").as_string());
    const auto& geometry = value.at("geometry");
    if (geometry.at("type").as_string() == "Polygon") {
      feature.polygons.push_back(polygon_of(geometry.at("coordinates")));
    } else {
      for (const auto& polygon : geometry.at("coordinates").as_array()) feature.polygons.push_back(polygon_of(polygon));
    }
    features.push_back(std::move(feature));
  }
  return features;
}

// W. R. Franklin's PNPOLY crossing test.
bool ring_contains(const ReferenceRing& ring, LatLon point) {
  // The bounding box only saves time (the sanitizer build is slow); the crossing test alone gives the same answer.
  if (point.lat < ring.south || point.lat > ring.north || point.lon < ring.west || point.lon > ring.east) return false;
  bool inside = false;
  const std::vector<LatLon>& points = ring.points;
  for (std::size_t i = 0, j = points.size() - 1; i < points.size(); j = i++) {
    const double xi = points[i].lon, yi = points[i].lat, xj = points[j].lon, yj = points[j].lat;
    if (((yi > point.lat) != (yj > point.lat)) && (point.lon < (xj - xi) * (point.lat - yi) / (yj - yi) + xi)) {
      inside = !inside;
    }
  }
  return inside;
}

// GeoJSON semantics: inside the outer ring and outside every hole, of any polygon; the first such feature.
std::string reference_code_at(const std::vector<ReferenceFeature>& features, LatLon point) {
  for (const auto& feature : features) {
    for (const auto& polygon : feature.polygons) {
      bool inside = ring_contains(polygon[0], point);
      for (std::size_t hole = 1; inside && hole < polygon.size(); ++hole) inside = !ring_contains(polygon[hole], point);
      if (inside) return feature.code;
    }
  }
  return "none";
}

// Distance in km from a point to the nearest boundary segment of one feature (local equirectangular projection).
double reference_distance_km(const ReferenceFeature& feature, LatLon point) {
  const double x_scale = kKmPerDegree * std::cos(point.lat * kRadiansPerDegree);
  double best = std::numeric_limits<double>::infinity();
  for (const auto& polygon : feature.polygons) {
    for (const auto& ring_of_polygon : polygon) {
      const std::vector<LatLon>& ring = ring_of_polygon.points;
      for (std::size_t k = 1; k < ring.size(); ++k) {
        const double ax = (ring[k - 1].lon - point.lon) * x_scale, ay = (ring[k - 1].lat - point.lat) * kKmPerDegree;
        const double dx = (ring[k].lon - ring[k - 1].lon) * x_scale,
                     dy = (ring[k].lat - ring[k - 1].lat) * kKmPerDegree;
        const double length_squared = dx * dx + dy * dy;
        const double t = length_squared > 0 ? std::clamp(-(ax * dx + ay * dy) / length_squared, 0.0, 1.0) : 0.0;
        best = std::min(best, std::hypot(ax + t * dx, ay + t * dy));
      }
    }
  }
  return best;
}

// ---- Small exact fixtures -----------------------------------------------------------------------------------------

TEST(StateMapFixture, SquareWithAHoleExcludesTheHole) {
  const StateMap map = StateMap::parse_geojson(
      collection({feature("XX-SQ", "Square", "Polygon", "[" + box(0, 0, 10, 10) + "," + box(4, 4, 6, 6) + "]")}));
  EXPECT_EQ(code_at(map, {2, 2}), "XX-SQ");
  EXPECT_EQ(code_at(map, {3.999, 5}), "XX-SQ");
  EXPECT_EQ(code_at(map, {5, 5}), "none");
  EXPECT_EQ(code_at(map, {4.001, 5.999}), "none");
  EXPECT_EQ(code_at(map, {11, 5}), "none");
  // The centre of the hole is 1 degree from its nearest edge: a west/east edge at longitude 4 or 6.
  const auto snapped = map.locate({5, 5}, 200);
  ASSERT_TRUE(snapped.has_value());
  EXPECT_EQ(snapped->state->code, "XX-SQ");
  EXPECT_NEAR(snapped->distance_km, kKmPerDegree * std::cos(5 * kRadiansPerDegree), 1e-6);
  EXPECT_FALSE(map.locate({5, 5}, 110).has_value());
  EXPECT_DOUBLE_EQ(map.locate({1, 1}, 5)->distance_km, 0.0);
}

TEST(StateMapFixture, MultiPolygonPartsAllCountAndAHoleCanHoldAnotherState) {
  const StateMap map = StateMap::parse_geojson(collection({
      feature("XX-MP", "Islands", "MultiPolygon", "[[" + box(0, 0, 1, 1) + "],[" + box(3, 0, 4, 1) + "]]"),
      feature("XX-OU", "Outer", "Polygon", "[" + box(10, 10, 20, 20) + "," + box(14, 14, 16, 16) + "]"),
      feature("XX-EN", "Enclave", "Polygon", "[" + box(14, 14, 16, 16) + "]"),
  }));
  EXPECT_EQ(code_at(map, {0.5, 0.5}), "XX-MP");
  EXPECT_EQ(code_at(map, {0.5, 3.5}), "XX-MP");
  EXPECT_EQ(code_at(map, {0.5, 2}), "none");
  EXPECT_EQ(code_at(map, {12, 12}), "XX-OU");
  EXPECT_EQ(code_at(map, {15, 15}), "XX-EN");
  // Between the two parts the nearer one is 0.2 degrees of longitude away.
  const auto snapped = map.locate({0.5, 1.2}, 50);
  ASSERT_TRUE(snapped.has_value());
  EXPECT_EQ(snapped->state->code, "XX-MP");
  EXPECT_NEAR(snapped->distance_km, 0.2 * kKmPerDegree * std::cos(0.5 * kRadiansPerDegree), 1e-6);
}

class TwoSquares : public ::testing::Test {
 protected:
  // West: longitudes 0..1, East: 1..2, Far: 3..4 (a gap of one degree of "sea" from East); latitudes 0..1.
  StateMap map_ = StateMap::parse_geojson(collection({
      feature("XX-WE", "West", "Polygon", "[" + box(0, 0, 1, 1) + "]"),
      feature("XX-EA", "East", "Polygon", "[" + box(1, 0, 2, 1) + "]"),
      feature("XX-FA", "Far", "Polygon", "[" + box(3, 0, 4, 1) + "]"),
  }));
};

TEST_F(TwoSquares, SplitsASegmentAtTheSharedBorder) {
  const std::vector<LatLon> path{{0.5, 0.5}, {0.5, 1.5}};
  const auto crossings = map_.split_by_state(path);
  ASSERT_EQ(codes_of(crossings), (std::vector<std::string>{"XX-WE", "XX-EA"}));
  // The great circle between two points at the same latitude is symmetric about its middle, at longitude 1.
  const double total = great_circle_km(path[0], path[1]);
  EXPECT_NEAR(crossings[0].km, total / 2, StateMap::kBorderPrecisionKm);
  EXPECT_NEAR(crossings[1].km, total / 2, StateMap::kBorderPrecisionKm);
  EXPECT_NEAR(km_sum(crossings), total, 1e-9);
}

TEST_F(TwoSquares, MergesConsecutiveStretchesInTheSameState) {
  const std::vector<LatLon> path{{0.2, 0.5}, {0.5, 0.8}, {0.5, 1.5}, {0.7, 1.6}, {0.5, 1.6}, {0.5, 0.5}};
  const auto crossings = map_.split_by_state(path);
  ASSERT_EQ(codes_of(crossings), (std::vector<std::string>{"XX-WE", "XX-EA", "XX-WE"}));
  EXPECT_NEAR(km_sum(crossings), path_km(path), 1e-9);
  // The last segment runs along latitude 0.5 (to within metres) and crosses the border at longitude 1.
  EXPECT_NEAR(crossings[2].km, great_circle_km({0.5, 1.0}, {0.5, 0.5}), 0.02);
}

TEST_F(TwoSquares, CountsAStretchOutsideEveryStateForTheNearestOne) {
  // From East across the gap into Far: the gap's western half goes to East, its eastern half to Far.
  const std::vector<LatLon> path{{0.5, 1.5}, {0.5, 3.5}};
  const auto crossings = map_.split_by_state(path);
  ASSERT_EQ(codes_of(crossings), (std::vector<std::string>{"XX-EA", "XX-FA"}));
  const double total = great_circle_km(path[0], path[1]);
  EXPECT_NEAR(crossings[0].km, total / 2, 0.05);
  EXPECT_NEAR(km_sum(crossings), total, 1e-9);
}

TEST_F(TwoSquares, DegeneratePaths) {
  EXPECT_TRUE(map_.split_by_state({}).empty());
  const std::vector<LatLon> one{{0.5, 0.5}};
  EXPECT_TRUE(map_.split_by_state(one).empty());
  const std::vector<LatLon> repeated{{0.5, 0.5}, {0.5, 0.5}};
  EXPECT_TRUE(map_.split_by_state(repeated).empty());
  const std::vector<LatLon> bad{{0.5, 0.5}, {91, 0.5}};
  EXPECT_THROW(map_.split_by_state(bad), std::invalid_argument);
}

TEST_F(TwoSquares, FindsByNameOrCodeIgnoringCase) {
  ASSERT_EQ(map_.states().size(), 3U);
  EXPECT_EQ(map_.states()[1].name, "East");
  EXPECT_EQ(map_.states()[1].type, "State");
  EXPECT_EQ(map_.find("xx-we"), &map_.states()[0]);
  EXPECT_EQ(map_.find("EAST"), &map_.states()[1]);
  EXPECT_EQ(map_.find("Eas"), nullptr);
}

TEST_F(TwoSquares, RejectsInvalidQueries) {
  EXPECT_THROW((void)map_.locate({0.5, 200}, 1), std::invalid_argument);
  EXPECT_THROW((void)map_.locate({std::nan(""), 0.5}, 1), std::invalid_argument);
  EXPECT_THROW((void)map_.locate({0.5, 0.5}, -1), std::invalid_argument);
  EXPECT_EQ(code_at(map_, {0.5, 2.5}, std::numeric_limits<double>::infinity()), "XX-EA");
}

// Expects parse_geojson to throw std::invalid_argument mentioning `expected`.
void expect_rejected(const std::string& text, const std::string& expected) {
  try {
    (void)StateMap::parse_geojson(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr(expected)) << text;
  }
}

TEST(StateMapParse, RejectsMalformedGeoJson) {
  const std::string square = "[" + box(0, 0, 1, 1) + "]";
  expect_rejected("{", "not valid JSON");
  expect_rejected("[]", "must be a JSON object");
  expect_rejected(R"({"type":"Feature","features":[]})", "must be a FeatureCollection");
  expect_rejected(R"({"type":"FeatureCollection"})", "\"features\" must be a JSON array");
  expect_rejected(collection({}), "has no features");
  expect_rejected(collection({R"({"type":"Feature","properties":{"name":"A"},"geometry":{"type":"Polygon",
                                 "coordinates":)" +
                              square + "}}"}),
                  "feature 0 \"properties\" needs a non-empty string \"code\"");
  expect_rejected(collection({R"({"type":"Feature","properties":{"code":"XX-A"},"geometry":{"type":"Polygon",
                                 "coordinates":)" +
                              square + "}}"}),
                  "feature 0 (XX-A) \"properties\" needs a non-empty string \"name\"");
  expect_rejected(collection({feature("XX-A", "A", "Polygon", square), feature("xx-a", "B", "Polygon", square)}),
                  "feature 1 (xx-a) repeats the code");
  expect_rejected(collection({feature("XX-A", "A", "Point", "[0,0]")}), "must be a Polygon or a MultiPolygon");
  expect_rejected(collection({R"({"type":"Feature","properties":{"code":"XX-A","name":"A"},"geometry":null})"}),
                  "feature 0 (XX-A) has no geometry");
  expect_rejected(collection({feature("XX-A", "A", "Polygon", "[[[0,0],[1,0],[0,0]]]")}), "ring 0 has 3 positions");
  expect_rejected(collection({feature("XX-A", "A", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]")}), "is not closed");
  expect_rejected(collection({feature("XX-A", "A", "Polygon", "[[[0,0],[1,0],[1,95],[0,0]]]")}),
                  "polygon 0 ring 0 position 2 is out of range");
  expect_rejected(collection({feature("XX-A", "A", "Polygon", R"([[[0,0],[1,"0"],[1,1],[0,0]]])")}),
                  "position 1 must be an array [longitude, latitude] of numbers");
  expect_rejected(collection({feature("XX-A", "A", "MultiPolygon", "[]")}), "MultiPolygon with no polygons");
  expect_rejected(collection({feature("XX-A", "A", "Polygon", "[]")}), "polygon 0 has no rings");
  std::vector<std::string> too_many;
  for (int k = 0; k <= 64; ++k)
    too_many.push_back(feature("XX-" + std::to_string(k), std::to_string(k), "Polygon", square));
  expect_rejected(collection(too_many), "at most 64");
}

// ---- The real India map ----------------------------------------------------------------------------------------

TEST(IndiaStateMap, ParsesAllStatesAndReportsTheParseTime) {
  const auto start = std::chrono::steady_clock::now();
  const StateMap map = StateMap::parse_geojson(india_geojson());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ timing ] parse_geojson of india_states.geojson: " << ms << " ms\n";
  ASSERT_EQ(map.states().size(), 36U);
  ASSERT_NE(map.find("IN-MH"), nullptr);
  EXPECT_EQ(map.find("IN-MH")->name, "Maharashtra");
  EXPECT_EQ(map.find("puducherry")->code, "IN-PY");
  EXPECT_EQ(map.find("IN-DL")->type, "Union Territory");
}

TEST(IndiaStateMap, LocatesKnownPlaces) {
  EXPECT_EQ(code_at(india(), {18.519570, 73.855350}), "IN-MH");  // Pune
  EXPECT_EQ(code_at(india(), {15.4909, 73.8278}), "IN-GA");      // Panaji
  EXPECT_EQ(code_at(india(), {28.651950, 77.231490}), "IN-DL");  // Delhi
  EXPECT_EQ(code_at(india(), {28.4595, 77.0266}), "IN-HR");      // Gurugram
  EXPECT_EQ(code_at(india(), {28.5355, 77.3910}), "IN-UP");      // Noida
  EXPECT_EQ(code_at(india(), {30.7333, 76.7794}), "IN-CH");      // Chandigarh
  EXPECT_EQ(code_at(india(), {11.9139, 79.8145}), "IN-PY");      // Puducherry
  EXPECT_EQ(code_at(india(), {17.4399, 78.4983}), "IN-TS");      // Secunderabad
  EXPECT_EQ(code_at(india(), {16.7330, 82.2130}), "IN-PY");      // Yanam, a hole in Andhra Pradesh
  EXPECT_EQ(code_at(india(), {12.971940, 77.593690}), "IN-KA");  // Bengaluru
  EXPECT_EQ(code_at(india(), {40.7128, -74.0060}), "none");      // New York
}

TEST(IndiaStateMap, PointsEitherSideOfABorderFallInTheStatesOnThatSide) {
  const auto features = reference_features(india_geojson());
  const auto find_feature = [&](const std::string& code) -> const ReferenceFeature& {
    for (const auto& feature : features) {
      if (feature.code == code) return feature;
    }
    throw std::runtime_error("no feature " + code);
  };
  const std::vector<std::pair<std::string, std::string>> borders{
      {"IN-DL", "IN-HR"}, {"IN-MH", "IN-GA"}, {"IN-KA", "IN-GA"}, {"IN-DL", "IN-UP"}, {"IN-HR", "IN-RJ"}};
  for (const auto& [code_a, code_b] : borders) {
    // Vertices of A's (single) outer ring that B's boundary shares, with both neighbours shared too: a stretch of the
    // common border. Step 1 km from each along the normal: left of the ring's direction is A's inside when the ring
    // runs counter-clockwise.
    const auto& ring = find_feature(code_a).polygons.at(0).at(0).points;
    std::set<std::pair<double, double>> b_vertices;
    for (const auto& polygon : find_feature(code_b).polygons) {
      for (const auto& b_ring : polygon) {
        for (const LatLon& p : b_ring.points) b_vertices.insert({p.lat, p.lon});
      }
    }
    double twice_area = 0;
    for (std::size_t k = 1; k < ring.size(); ++k) {
      twice_area += ring[k - 1].lon * ring[k].lat - ring[k].lon * ring[k - 1].lat;
    }
    const double left_is_inside = twice_area > 0 ? 1.0 : -1.0;
    int tried = 0;
    int agreed = 0;
    for (std::size_t k = 1; k + 1 < ring.size(); ++k) {
      if (!b_vertices.contains({ring[k - 1].lat, ring[k - 1].lon}) ||
          !b_vertices.contains({ring[k].lat, ring[k].lon}) ||
          !b_vertices.contains({ring[k + 1].lat, ring[k + 1].lon})) {
        continue;
      }
      const double cos_lat = std::cos(ring[k].lat * kRadiansPerDegree);
      const double east = (ring[k + 1].lon - ring[k - 1].lon) * cos_lat;
      const double north = ring[k + 1].lat - ring[k - 1].lat;
      // (-north, east) is the left normal of the direction (east, north).
      const LatLon into_a = step(ring[k], -north * left_is_inside, east * left_is_inside, 1.0);
      const LatLon into_b = step(ring[k], north * left_is_inside, -east * left_is_inside, 1.0);
      ++tried;
      if (code_at(india(), into_a) == code_a && code_at(india(), into_b) == code_b) ++agreed;
    }
    std::cout << "[ border ] " << code_a << "|" << code_b << ": " << agreed << " of " << tried
              << " vertex pairs 1 km either side agree\n";
    ASSERT_GE(tried, 10) << code_a << "|" << code_b;
    // A generalised border wiggles at about the 1 km scale, so a few steps land across a bend.
    EXPECT_GE(agreed, tried * 8 / 10) << code_a << "|" << code_b;
  }
}

TEST(IndiaStateMap, LocatesTheCitiesInTheirOwnStates) {
  const auto features = reference_features(india_geojson());
  std::ifstream csv(source_dir() + "/data/india_cities.csv");
  ASSERT_TRUE(csv) << "cannot read data/india_cities.csv";
  std::string line;
  std::getline(csv, line);  // header: geonameid,name,name_ascii,state,state_code,lat,lon,population,feature_code
  int cities = 0;
  int matched = 0;
  while (std::getline(csv, line)) {
    // Split on commas outside double quotes (RFC 4180).
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (char c : line) {
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        fields.emplace_back();
      } else if (c != '\r') {
        fields.back() += c;
      }
    }
    ASSERT_EQ(fields.size(), 9U) << line;
    const std::string& state_code = fields[4];
    const LatLon city{std::stod(fields[5]), std::stod(fields[6])};
    ++cities;
    if (code_at(india(), city, 25) == state_code) {
      ++matched;
      continue;
    }
    const auto own =
        std::find_if(features.begin(), features.end(), [&](const auto& f) { return f.code == state_code; });
    ASSERT_NE(own, features.end()) << state_code;
    const double km = reference_distance_km(*own, city);
    std::cout << "[ city   ] " << fields[1] << " (" << state_code << ") located in " << code_at(india(), city, 25)
              << ", " << km << " km from its own state\n";
    EXPECT_LE(km, 2.0) << fields[1];
  }
  EXPECT_EQ(cities, 889);
  EXPECT_GE(matched, 884);
}

TEST(IndiaStateMap, SnapsNearbySeaPointsToTheCoastOnly) {
  const auto off_mumbai = india().locate({19.0, 72.70}, 25);
  ASSERT_TRUE(off_mumbai.has_value());
  EXPECT_EQ(off_mumbai->state->code, "IN-MH");
  EXPECT_GT(off_mumbai->distance_km, 5);
  EXPECT_LT(off_mumbai->distance_km, 15);
  EXPECT_EQ(code_at(india(), {19.0, 72.70}), "none");
  EXPECT_FALSE(india().locate({18.9, 71.8}, 25).has_value());
  EXPECT_EQ(code_at(india(), {18.9, 71.8}, std::numeric_limits<double>::infinity()), "IN-MH");
}

TEST(IndiaStateMap, SplitsPuneToPanajiThroughMaharashtraThenGoa) {
  const std::vector<LatLon> path{{18.519570, 73.855350}, {15.4909, 73.8278}};
  const auto crossings = india().split_by_state(path);
  for (const auto& c : crossings) std::cout << "[ split  ] Pune-Panaji " << c.state->code << " " << c.km << " km\n";
  ASSERT_GE(crossings.size(), 2U);
  EXPECT_EQ(crossings.front().state->code, "IN-MH");
  EXPECT_EQ(crossings.back().state->code, "IN-GA");
  for (const auto& c : crossings) EXPECT_THAT(c.state->code, ::testing::AnyOf("IN-MH", "IN-KA", "IN-GA"));
  EXPECT_NEAR(km_sum(crossings), path_km(path), path_km(path) * 1e-4);

  // Via Belagavi (Karnataka): the straight legs weave across the Maharashtra-Karnataka border near Kolhapur.
  const std::vector<LatLon> via_belagavi{{18.519570, 73.855350}, {15.8497, 74.4977}, {15.4909, 73.8278}};
  const auto via = india().split_by_state(via_belagavi);
  const auto via_codes = codes_of(via);
  ASSERT_GE(via_codes.size(), 3U);
  EXPECT_EQ(via_codes.front(), "IN-MH");
  EXPECT_EQ(via_codes[via_codes.size() - 2], "IN-KA");
  EXPECT_EQ(via_codes.back(), "IN-GA");
  for (const auto& code : via_codes) EXPECT_THAT(code, ::testing::AnyOf("IN-MH", "IN-KA", "IN-GA"));
  for (std::size_t k = 1; k < via.size(); ++k) EXPECT_NE(via[k - 1].state, via[k].state) << "not merged";
  EXPECT_NEAR(km_sum(via), path_km(via_belagavi), path_km(via_belagavi) * 1e-4);
}

TEST(IndiaStateMap, SplitsDelhiToJaipurThroughHaryana) {
  const std::vector<LatLon> path{{28.651950, 77.231490}, {26.9124, 75.7873}};
  const auto crossings = india().split_by_state(path);
  for (const auto& c : crossings) std::cout << "[ split  ] Delhi-Jaipur " << c.state->code << " " << c.km << " km\n";
  EXPECT_EQ(codes_of(crossings), (std::vector<std::string>{"IN-DL", "IN-HR", "IN-RJ"}));
  EXPECT_NEAR(km_sum(crossings), path_km(path), path_km(path) * 1e-4);
}

TEST(IndiaStateMap, AgreesWithBruteForceRayCasting) {
  const auto features = reference_features(india_geojson());
  std::mt19937_64 random(20240607);
  std::uniform_real_distribution<double> lat(6.5, 35.7);
  std::uniform_real_distribution<double> lon(68.0, 97.5);
  int inside = 0;
  int disagreements = 0;
  for (int k = 0; k < 20000; ++k) {
    const LatLon point{lat(random), lon(random)};
    const std::string expected = reference_code_at(features, point);
    const std::string actual = code_at(india(), point);
    if (expected != "none") ++inside;
    if (actual != expected) {
      ++disagreements;
      ADD_FAILURE() << "(" << point.lat << ", " << point.lon << "): index " << actual << ", brute force " << expected;
      if (disagreements > 10) break;
    }
  }
  std::cout << "[ brute  ] 20000 random points, " << inside << " inside a state, all agree\n";
  EXPECT_GT(inside, 5000);
}

TEST(IndiaStateMap, SnapsToTheNearestBoundaryLikeABruteForceSearch) {
  // Points outside every state (sea, neighbouring countries): the grid's ring search must find the same nearest
  // boundary as checking every segment of every state.
  const auto features = reference_features(india_geojson());
  std::mt19937_64 random(99);
  std::uniform_real_distribution<double> lat(4.0, 38.0);
  std::uniform_real_distribution<double> lon(65.0, 100.0);
  int compared = 0;
  while (compared < 300) {
    const LatLon point{lat(random), lon(random)};
    if (india().locate(point, 0)) continue;
    ++compared;
    std::string nearest_code;
    double nearest_km = std::numeric_limits<double>::infinity();
    for (const auto& feature : features) {
      const double km = reference_distance_km(feature, point);
      if (km < nearest_km) {
        nearest_km = km;
        nearest_code = feature.code;
      }
    }
    const auto snapped = india().locate(point, std::numeric_limits<double>::infinity());
    ASSERT_TRUE(snapped.has_value());
    EXPECT_NEAR(snapped->distance_km, nearest_km, 1e-9) << point.lat << ", " << point.lon;
    // On a shared border both states are equally near; only a strictly nearer state must win.
    if (snapped->state->code != nearest_code) {
      const auto own =
          std::find_if(features.begin(), features.end(), [&](const auto& f) { return f.code == snapped->state->code; });
      EXPECT_NEAR(reference_distance_km(*own, point), nearest_km, 1e-9) << point.lat << ", " << point.lon;
    }
    const auto within = india().locate(point, nearest_km + 0.001);
    EXPECT_TRUE(within.has_value());
    EXPECT_FALSE(india().locate(point, nearest_km * 0.999).has_value());
  }
}

TEST(IndiaStateMap, IsFastEnough) {
  std::mt19937_64 random(7);
  std::uniform_real_distribution<double> lat(8.0, 32.0);
  std::uniform_real_distribution<double> lon(70.0, 90.0);
  std::vector<LatLon> points(100000);
  for (auto& point : points) point = {lat(random), lon(random)};
  // All points of the box (India's land, the sea around it and neighbouring countries, which need the snapping
  // search), then only those inside a state (a pickup or drop-off in India, the usual request).
  const auto average_locate_us = [](const std::vector<LatLon>& sample, int& located) {
    located = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& point : sample) located += india().locate(point, 25).has_value() ? 1 : 0;
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
           static_cast<double>(sample.size());
  };
  int located = 0;
  const double locate_us = average_locate_us(points, located);
  std::vector<LatLon> inside;
  for (const auto& point : points) {
    if (india().locate(point, 0)) inside.push_back(point);
  }
  int located_inside = 0;
  const double locate_inside_us = average_locate_us(inside, located_inside);
  EXPECT_EQ(located_inside, static_cast<int>(inside.size()));

  // A 300 km segment across several borders: Panaji (Goa) north-east through Maharashtra, Karnataka, Maharashtra.
  const std::vector<LatLon> segment{{15.4909, 73.8278}, {18.0, 74.9}};
  ASSERT_NEAR(great_circle_km(segment[0], segment[1]), 300, 10);
  constexpr int kSplits = 50;
  const auto start = std::chrono::steady_clock::now();
  std::size_t pieces = 0;
  for (int k = 0; k < kSplits; ++k) pieces += india().split_by_state(segment).size();
  const double split_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kSplits;
  std::cout << "[ timing ] locate(): " << locate_us << " us average over " << points.size() << " points of the box ("
            << located << " within 25 km of a state), " << locate_inside_us << " us over the " << inside.size()
            << " inside a state; split_by_state() of a 300 km segment: " << split_ms << " ms (" << pieces / kSplits
            << " crossings)\n";
  // Loose bounds: sanitizer builds on a busy CI machine are many times slower than a release build.
  EXPECT_LT(locate_us, 100.0);
  EXPECT_LT(locate_inside_us, 100.0);
  EXPECT_LT(split_ms, 50.0);
}

}  // namespace
}  // namespace intercab::location
