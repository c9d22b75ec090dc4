// Calibration of the synthetic highway graph: routes the 24 city pairs with published road distances
// (data/india_road_distance_calibration.csv) over the default graph of the 889-city catalogue and
// checks how far the routes are from the published km. Also defines the catalogue loader the other
// routing tests of this binary use.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "services/location/domain/road_graph.hpp"

namespace intercab::location::testing {
namespace {

struct CatalogueCity {
  GraphNode node;
  std::string name;
  std::string name_ascii;
  std::string state_code;
};

std::string read_data_file(const std::string& file_name) {
  const char* source_dir = std::getenv("INTERCAB_SOURCE_DIR");
  if (source_dir == nullptr || *source_dir == '\0') {
    throw std::runtime_error(
        "INTERCAB_SOURCE_DIR is not set: run the test through ctest, or set it to the "
        "repository root so that data/" +
        file_name + " can be found");
  }
  const std::string path = std::string(source_dir) + "/data/" + file_name;
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record(1);
  bool quoted = false;
  for (std::size_t at = 0; at < text.size(); ++at) {
    const char c = text[at];
    if (quoted) {
      if (c != '"') {
        record.back().push_back(c);
      } else if (at + 1 < text.size() && text[at + 1] == '"') {
        record.back().push_back('"');
        ++at;
      } else {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      record.emplace_back();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && at + 1 < text.size() && text[at + 1] == '\n') ++at;
      records.push_back(std::move(record));
      record.assign(1, "");
    } else {
      record.back().push_back(c);
    }
  }
  if (record.size() > 1 || !record.front().empty()) records.push_back(std::move(record));
  return records;
}

std::string lower_ascii(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

double percentile(std::vector<double> values, double fraction) {
  // Linear interpolation between closest ranks (numpy's default).
  std::sort(values.begin(), values.end());
  const double position = fraction * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (values[above] - values[below]) * (position - static_cast<double>(below));
}

// The 889 cities of data/india_cities.csv, in file order (population descending); loaded once.
const std::vector<CatalogueCity>& catalogue_cities() {
  static const std::vector<CatalogueCity> cities = [] {
    const std::vector<std::vector<std::string>> records = parse_csv(read_data_file("india_cities.csv"));
    const std::vector<std::string> header{"geonameid", "name", "name_ascii", "state",       "state_code",
                                          "lat",       "lon",  "population", "feature_code"};
    if (records.empty() || records.front() != header) throw std::runtime_error("india_cities.csv: unexpected header");
    std::vector<CatalogueCity> loaded;
    for (std::size_t row = 1; row < records.size(); ++row) {
      const std::vector<std::string>& fields = records[row];
      if (fields.size() != header.size()) {
        throw std::runtime_error("india_cities.csv: record " + std::to_string(row + 1) + " has " +
                                 std::to_string(fields.size()) + " fields");
      }
      loaded.push_back({{std::stoll(fields[0]), {std::stod(fields[5]), std::stod(fields[6])}, std::stoll(fields[7])},
                        fields[1],
                        fields[2],
                        fields[4]});
    }
    return loaded;
  }();
  return cities;
}

}  // namespace

// These are declared where they are used in road_graph_test.cpp (same test binary).
std::vector<GraphNode> catalogue_nodes() {
  std::vector<GraphNode> nodes;
  for (const CatalogueCity& city : catalogue_cities()) nodes.push_back(city.node);
  return nodes;
}

// The default synthetic graph of the catalogue; built once (node index == catalogue row).
const RoadGraph& catalogue_graph() {
  static const RoadGraph graph = RoadGraph::build_synthetic(catalogue_nodes());
  return graph;
}

// Exact ASCII name, case-insensitive; the most populous city when several share it.
std::uint32_t catalogue_index(const std::string& name) {
  const std::vector<CatalogueCity>& cities = catalogue_cities();
  const std::string wanted = lower_ascii(name);
  std::optional<std::uint32_t> found;
  for (std::uint32_t index = 0; index < cities.size(); ++index) {
    if (lower_ascii(cities[index].name_ascii) == wanted &&
        (!found || cities[index].node.population > cities[*found].node.population)) {
      found = index;
    }
  }
  if (!found) throw std::runtime_error("no city named \"" + name + "\" in india_cities.csv");
  return *found;
}

const std::string& catalogue_state_code(std::uint32_t index) { return catalogue_cities().at(index).state_code; }
const std::string& catalogue_name(std::uint32_t index) { return catalogue_cities().at(index).name; }

namespace {

TEST(SyntheticGraphCalibration, TracksPublishedRoadDistances) {
  const std::vector<std::vector<std::string>> records =
      parse_csv(read_data_file("india_road_distance_calibration.csv"));
  ASSERT_FALSE(records.empty());
  ASSERT_EQ(records.front(), (std::vector<std::string>{"from", "to", "road_km", "source"}));
  ASSERT_EQ(records.size(), 25U) << "24 published pairs expected";

  const RoadGraph& graph = catalogue_graph();
  const std::vector<CatalogueCity>& cities = catalogue_cities();
  std::vector<double> absolute_errors;
  std::vector<double> signed_errors;
  std::printf("%-26s %10s %8s %8s %8s %7s %6s\n", "pair", "published", "ours", "great-c.", "error", "ratio", "hours");
  for (std::size_t row = 1; row < records.size(); ++row) {
    const std::vector<std::string>& fields = records[row];
    ASSERT_EQ(fields.size(), 4U) << "calibration record " << row + 1;
    const std::uint32_t from = catalogue_index(fields[0]);
    const std::uint32_t to = catalogue_index(fields[1]);
    const double published_km = std::stod(fields[2]);
    const RoadGraph::Path path = graph.shortest_path(from, to);
    ASSERT_FALSE(path.nodes.empty()) << fields[0] << " - " << fields[1] << " is unreachable";
    const double straight_km = great_circle_km(cities[from].node.position, cities[to].node.position);
    const double error = (path.km - published_km) / published_km;
    signed_errors.push_back(error);
    absolute_errors.push_back(std::abs(error));
    std::printf("%-26s %10.0f %8.1f %8.1f %+7.1f%% %7.3f %6.1f\n", (fields[0] + " - " + fields[1]).c_str(),
                published_km, path.km, straight_km, 100 * error, path.km / straight_km, path.minutes / 60);
  }
  const double median = percentile(absolute_errors, 0.5);
  const double p90 = percentile(absolute_errors, 0.9);
  const double worst = *std::max_element(absolute_errors.begin(), absolute_errors.end());
  std::printf(
      "relative error |ours - published| / published over %zu pairs: median %.2f%%, p90 %.2f%%, max %.2f%%; "
      "median signed error %+.2f%%\n",
      absolute_errors.size(), 100 * median, 100 * p90, 100 * worst, 100 * percentile(signed_errors, 0.5));

  // The target is a median of 8% at most; the calibrated defaults reach 4.3% (p90 7.7%,
  // worst 26.8% for the hill road Guwahati-Shillong). The bounds below leave a little headroom so
  // that a change to the graph rules that makes the fit worse shows up here.
  EXPECT_LE(median, 0.08) << "the issue's target";
  EXPECT_LE(median, 0.05);
  EXPECT_LE(p90, 0.09);
  EXPECT_LE(worst, 0.30);
  // Not biased one way: as many routes longer as shorter than published, roughly.
  EXPECT_LE(std::abs(percentile(signed_errors, 0.5)), 0.02);
}

}  // namespace
}  // namespace intercab::location::testing
