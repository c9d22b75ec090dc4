// Tests of what is particular to the memory adapter: its grid (points and queries on cell borders, cell sizes,
// ring searches against brute force, empty cells dropped), its options, and a throughput print.
#include "services/location/positions/memory_positions.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <tuple>
#include <vector>

namespace intercab::location {
namespace {

using namespace std::chrono_literals;

const Clock::time_point kT0 = Clock::time_point(1'700'000'000s);

DriverPosition ping(std::string id, LatLon where, Clock::time_point at) {
  return {std::move(id), where, 0.0, 0.0, 0.0, at};
}

PositionsOptions with_cells(double cell_deg) {
  PositionsOptions options;
  options.memory_cell_deg = cell_deg;
  return options;
}

// An index and the latest ping of each driver in it, to check searches against brute force.
class Indexed {
 public:
  explicit Indexed(const PositionsOptions& options) : positions_(options) {}

  void add(const DriverPosition& position) {
    if (positions_.upsert(position).applied) latest_[position.driver_id] = position;
  }

  // Compares nearby() with a brute-force search; returns how many drivers it found.
  std::size_t expect_matches(LatLon center, double radius_km, std::size_t limit, Clock::time_point now) {
    std::vector<std::tuple<double, std::string>> expected;
    for (const auto& [id, position] : latest_) {
      const double distance = great_circle_km(center, position.position);
      if (position.recorded_at >= now - 120s && distance <= radius_km) expected.emplace_back(distance, id);
    }
    std::sort(expected.begin(), expected.end());
    if (expected.size() > limit) expected.resize(limit);
    const auto found = positions_.nearby(center, radius_km, limit, now);
    std::vector<std::tuple<double, std::string>> actual;
    for (const auto& driver : found) actual.emplace_back(driver.distance_km, driver.driver_id);
    EXPECT_EQ(actual, expected) << "center " << center.lat << "," << center.lon << " radius " << radius_km << " limit "
                                << limit;
    return found.size();
  }

  MemoryPositions& positions() { return positions_; }

 private:
  MemoryPositions positions_;
  std::map<std::string, DriverPosition> latest_;
};

TEST(MemoryPositions, PointsAndQueriesOnCellBordersAreFound) {
  // 0.25-degree cells: 28.5 and 77.0 are exact cell edges, and so are the multiples of 0.25 around them.
  Indexed index(with_cells(0.25));
  int next = 0;
  for (const double lat_edge : {28.25, 28.5, 28.75}) {
    for (const double lon_edge : {76.75, 77.0, 77.25}) {
      for (const double lat_offset : {-1e-9, 0.0, 1e-9, -1e-5, 1e-5, 0.01}) {
        for (const double lon_offset : {-1e-9, 0.0, 1e-9, -1e-5, 1e-5, -0.01}) {
          index.add(ping("d" + std::to_string(next++), {lat_edge + lat_offset, lon_edge + lon_offset}, kT0));
        }
      }
    }
  }
  // Queries on corners, on edges and a hair inside a cell: the nearest drivers are across an edge.
  for (const LatLon center : {LatLon{28.5, 77.0}, LatLon{28.5, 77.1}, LatLon{28.4, 77.0}, LatLon{28.5 - 1e-7, 77.0},
                              LatLon{28.5, 77.0 + 1e-7}, LatLon{28.7499999, 77.2500001}, LatLon{28.6, 76.9}}) {
    for (const std::size_t limit :
         {std::size_t{1}, std::size_t{3}, std::size_t{10}, std::size_t{40}, std::size_t{1000}}) {
      for (const double radius : {0.0005, 0.002, 2.0, 40.0}) index.expect_matches(center, radius, limit, kT0);
    }
  }
  EXPECT_EQ(index.expect_matches({28.5, 77.0}, 1000, 1000, kT0), 324U);
}

TEST(MemoryPositions, RingSearchesMatchBruteForceWhateverTheCellSize) {
  for (const double cell_deg : {0.01, 0.05, 0.2, 1.0}) {
    SCOPED_TRACE("cells of " + std::to_string(cell_deg) + " degrees");
    Indexed index(with_cells(cell_deg));
    std::mt19937 random(3);
    // A dense city, a sparse region around it and a few far drivers, some of them stale.
    std::uniform_real_distribution<double> city(-0.15, 0.15);
    std::uniform_real_distribution<double> region(-3.0, 3.0);
    std::uniform_int_distribution<int> age_s(0, 140);
    for (int i = 0; i < 4000; ++i) {
      const bool in_city = i % 4 != 0;
      const double spread_lat = in_city ? city(random) : region(random);
      const double spread_lon = in_city ? city(random) : region(random);
      index.add(ping("d" + std::to_string(i), {28.6 + spread_lat, 77.2 + spread_lon},
                     kT0 + std::chrono::seconds(age_s(random))));
    }
    index.add(ping("mumbai", {19.076, 72.8777}, kT0 + 100s));
    index.add(ping("chennai", {13.0827, 80.2707}, kT0 + 100s));
    const auto now = kT0 + 140s;
    std::uniform_real_distribution<double> query(-3.5, 3.5);
    for (int q = 0; q < 16; ++q) {
      const LatLon center{28.6 + query(random) * (q % 2 == 0 ? 0.05 : 1.0), 77.2 + query(random)};
      for (const double radius : {0.5, 3.0, 30.0, 3000.0}) {
        for (const std::size_t limit : {std::size_t{1}, std::size_t{20}, std::size_t{200}}) {
          index.expect_matches(center, radius, limit, now);
        }
      }
    }
    // From the far south with a huge radius: the search ends in a scan of the occupied cells.
    EXPECT_EQ(index.expect_matches({8.0, 77.0}, 3000, 2, now), 2U);
  }
}

TEST(MemoryPositions, SearchesWrapAroundTheAntimeridianAndNearThePoles) {
  Indexed index(with_cells(0.05));
  index.add(ping("west-of-line", {-17.0, 179.995}, kT0));
  index.add(ping("east-of-line", {-17.0, -179.99}, kT0));
  index.add(ping("on-line", {-17.0, 180.0}, kT0));
  index.add(ping("far", {-17.0, 178.0}, kT0));
  index.add(ping("arctic-a", {85.0, 10.0}, kT0));
  index.add(ping("arctic-b", {85.0, -170.0}, kT0));  // across the pole: 1112 km via lat 90
  for (const LatLon center : {LatLon{-17.0, 180.0}, LatLon{-17.0, -180.0}, LatLon{-17.0, 179.99}}) {
    EXPECT_EQ(index.expect_matches(center, 5, 10, kT0), 3U);
    EXPECT_EQ(index.expect_matches(center, 500, 1, kT0), 1U);
  }
  EXPECT_EQ(index.expect_matches({85.0, 10.0}, 1200, 10, kT0), 2U);
  EXPECT_EQ(index.expect_matches({85.0, 10.0}, 1000, 10, kT0), 1U);
  EXPECT_EQ(index.expect_matches({84.0, 100.0}, 20000, 3, kT0), 3U);
}

TEST(MemoryPositions, EmptyCellsAreDropped) {
  MemoryPositions positions(with_cells(0.05));
  positions.upsert(ping("a", {28.6, 77.2}, kT0));
  positions.upsert(ping("b", {28.6, 77.2}, kT0));
  EXPECT_EQ(positions.occupied_cells(), 1U);
  positions.upsert(ping("a", {28.7, 77.3}, kT0 + 1s));
  EXPECT_EQ(positions.occupied_cells(), 2U);
  positions.upsert(ping("b", {28.7, 77.3}, kT0 + 1s));
  EXPECT_EQ(positions.occupied_cells(), 1U) << "the old cell emptied";
  positions.upsert(ping("a", {28.7001, 77.3001}, kT0 + 2s));  // within the same cell
  EXPECT_EQ(positions.occupied_cells(), 1U);
  EXPECT_EQ(positions.nearby({28.7, 77.3}, 1, 10, kT0 + 2s).size(), 2U);
  EXPECT_EQ(positions.purge_stale(kT0 + 10min), 2U);
  EXPECT_EQ(positions.occupied_cells(), 0U);
  EXPECT_TRUE(positions.nearby({28.7, 77.3}, 1000, 10, kT0).empty());
}

TEST(MemoryPositions, OptionsAreChecked) {
  EXPECT_THROW(MemoryPositions(with_cells(0.07)), std::invalid_argument) << "0.07 does not divide 180";
  EXPECT_THROW(MemoryPositions(with_cells(0.0)), std::invalid_argument);
  EXPECT_THROW(MemoryPositions(with_cells(-0.05)), std::invalid_argument);
  EXPECT_THROW(MemoryPositions(with_cells(20.0)), std::invalid_argument);
  PositionsOptions no_staleness;
  no_staleness.staleness = 0s;
  EXPECT_THROW(MemoryPositions{no_staleness}, std::invalid_argument);
  EXPECT_NO_THROW(MemoryPositions(with_cells(0.1)));
  EXPECT_EQ(make_memory_positions({})->adapter_name(), "memory");
}

// Wall-clock and CPU time of one piece of work on this thread: the CPU figure is what to compare on a
// machine shared with other jobs.
struct Timing {
  double wall_s;
  double cpu_s;
};

double thread_cpu_s() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

template <typename Work>
Timing timed(Work work) {
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_s();
  work();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count(),
          thread_cpu_s() - cpu_start};
}

// Prints pings/s and nearest-20 searches/s for 100k drivers spread over India and packed into a
// 0.6 x 0.6 degree box around Delhi. Asserts only that searches return 20 drivers: speed depends on the machine.
TEST(MemoryPositions, ThroughputPrint) {
  struct Scenario {
    const char* name;
    double lat_min, lat_max, lon_min, lon_max;
  };
  for (const Scenario scenario : {Scenario{"spread over India", 8.0, 35.0, 68.0, 97.0},
                                  Scenario{"dense around Delhi", 28.3139, 28.9139, 76.909, 77.509}}) {
    MemoryPositions positions(PositionsOptions{});
    std::mt19937 random(11);
    std::uniform_real_distribution<double> lat(scenario.lat_min, scenario.lat_max);
    std::uniform_real_distribution<double> lon(scenario.lon_min, scenario.lon_max);
    constexpr int kDrivers = 100'000;
    std::vector<DriverPosition> pings;
    pings.reserve(kDrivers);
    for (int i = 0; i < kDrivers; ++i) {
      pings.push_back(ping("driver-" + std::to_string(i), {lat(random), lon(random)}, kT0));
    }
    const auto inserts = timed([&] {
      for (const auto& position : pings) positions.upsert(position);
    });

    // Every driver pings again from a little further, as moving drivers do.
    std::uniform_real_distribution<double> step(-0.002, 0.002);
    for (auto& position : pings) {
      position.position = {std::clamp(position.position.lat + step(random), scenario.lat_min, scenario.lat_max),
                           std::clamp(position.position.lon + step(random), scenario.lon_min, scenario.lon_max)};
      position.recorded_at += 5s;
    }
    const auto moves = timed([&] {
      for (const auto& position : pings) positions.upsert(position);
    });

    constexpr int kQueries = 20'000;
    std::vector<LatLon> centers;
    for (int i = 0; i < kQueries; ++i) centers.push_back({lat(random), lon(random)});
    for (const double radius_km : {5.0, 100.0}) {
      // At most kQueries searches, and no more than about 1.5 s of them: sanitizer builds are much slower.
      std::size_t searched = 0;
      std::size_t found = 0;
      const auto deadline = std::chrono::steady_clock::now() + 1500ms;
      const auto searches = timed([&] {
        while (searched < centers.size() && (searched % 500 != 0 || std::chrono::steady_clock::now() < deadline)) {
          found += positions.nearby(centers[searched++], radius_km, 20, kT0 + 5s).size();
        }
      });
      const auto count = static_cast<double>(searched);
      std::printf(
          "[ positions ] memory, 100k drivers %s, radius %.0f km: %.0f nearest-20 searches/s (%.0f per CPU-s), "
          "%.1f drivers found on average\n",
          scenario.name, radius_km, count / searches.wall_s, count / searches.cpu_s,
          static_cast<double>(found) / count);
      if (radius_km == 100.0) {
        EXPECT_EQ(found, searched * 20);
      }
    }
    std::printf("[ positions ] memory, 100k drivers %s: %.0f new drivers/s, %.0f moves/s (per CPU-s: %.0f, %.0f)\n",
                scenario.name, kDrivers / inserts.wall_s, kDrivers / moves.wall_s, kDrivers / inserts.cpu_s,
                kDrivers / moves.cpu_s);
  }
}

}  // namespace
}  // namespace intercab::location
