// The contract of the driver position index (driver_positions.hpp), run against both adapters: memory, and
// Redis on a throwaway redis-server. Times are fixed instants, never the clock, so staleness is exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include "platform/cache/redis_cache.hpp"
#include "redis_server.hpp"
#include "services/location/positions/driver_positions.hpp"

namespace intercab::location {
namespace {

using namespace std::chrono_literals;

const Clock::time_point kT0 = Clock::time_point(1'700'000'000s);
constexpr LatLon kDelhi{28.6139, 77.2090};
constexpr LatLon kBengaluru{12.9716, 77.5946};

DriverPosition ping(std::string id, LatLon where, Clock::time_point at) {
  return {std::move(id), where, 90.0, 30.0, 5.0, at};
}

// The point `km` due north of `from` (along its meridian, so the great-circle distance is exactly that
// angle).
LatLon north_of(LatLon from, double km) {
  return {from.lat + km / kEarthRadiusKm * 180.0 / std::numbers::pi, from.lon};
}

std::vector<std::string> ids_of(const std::vector<NearbyDriver>& drivers) {
  std::vector<std::string> ids;
  for (const auto& driver : drivers) ids.push_back(driver.driver_id);
  return ids;
}

// What nearby() must answer, computed by brute force over the latest ping of every driver.
std::vector<NearbyDriver> brute_force_nearby(const std::map<std::string, DriverPosition>& latest, LatLon center,
                                             double radius_km, std::size_t limit, Clock::time_point fresh_from) {
  std::vector<NearbyDriver> found;
  for (const auto& [id, position] : latest) {
    const double distance = great_circle_km(center, position.position);
    if (position.recorded_at >= fresh_from && distance <= radius_km) {
      found.push_back({id, position.position, distance, position.recorded_at});
    }
  }
  std::sort(found.begin(), found.end(), [](const NearbyDriver& a, const NearbyDriver& b) {
    return std::tie(a.distance_km, a.driver_id) < std::tie(b.distance_km, b.driver_id);
  });
  if (found.size() > limit) found.resize(limit);
  return found;
}

class PositionsContract : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { redis_.reset(); }

  void SetUp() override {
    positions_ = open({});
    ASSERT_EQ(positions_->adapter_name(), GetParam());
  }

  // A fresh index: tests share one Redis, so each works under its own key prefix.
  std::unique_ptr<DriverPositions> open(PositionsOptions options) {
    options.key_prefix = std::string("test:") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":" +
                         std::to_string(++opened_) + ":";
    if (GetParam() == "redis") {
      if (!redis_) redis_ = std::make_unique<testing::RedisServer>();
      auto cache =
          std::make_shared<cache::RedisCache>(cache::parse_cache_url(redis_->url()).redis, cache::CacheOptions{});
      return make_redis_positions(std::move(cache), options);
    }
    return make_memory_positions(options);
  }

  static std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<DriverPositions> positions_;
  int opened_ = 0;
};

std::unique_ptr<testing::RedisServer> PositionsContract::redis_;

TEST_P(PositionsContract, UpsertThenLatestKeepsEveryField) {
  auto& positions = *positions_;
  const DriverPosition first{"driver-1", {28.613912345678901, 77.20901234567891}, 359.5, 42.25, 7.5, kT0 + 123456789ns};
  const auto stored = positions.upsert(first);
  EXPECT_TRUE(stored.applied);
  EXPECT_EQ(stored.previous, std::nullopt);

  DriverPosition expected = first;
  expected.recorded_at = kT0 + 123456us;  // kept to the microsecond
  EXPECT_EQ(positions.latest("driver-1", kT0), expected);
  EXPECT_EQ(positions.latest("driver-2", kT0), std::nullopt);

  const DriverPosition second{"driver-1", {-33.8688, 151.2093}, 0.0, 0.0, 0.0, kT0 + 1s};
  const auto moved = positions.upsert(second);
  EXPECT_TRUE(moved.applied);
  EXPECT_EQ(moved.previous, expected) << "the replaced position comes back";
  EXPECT_EQ(positions.latest("driver-1", kT0 + 1s), second);
}

TEST_P(PositionsContract, AnOlderPingIsNotAppliedAndReturnsTheStoredOne) {
  auto& positions = *positions_;
  const auto newer = ping("d", kDelhi, kT0 + 10s);
  ASSERT_TRUE(positions.upsert(newer).applied);
  const auto late = positions.upsert(ping("d", kBengaluru, kT0 + 5s));
  EXPECT_FALSE(late.applied);
  EXPECT_EQ(late.previous, newer);
  EXPECT_EQ(positions.latest("d", kT0 + 10s), newer);
  EXPECT_TRUE(positions.nearby(kBengaluru, 10, 10, kT0 + 10s).empty()) << "the late ping moved nothing";
}

TEST_P(PositionsContract, ADuplicatePingIsTolerated) {
  auto& positions = *positions_;
  const auto original = ping("d", kDelhi, kT0);
  ASSERT_TRUE(positions.upsert(original).applied);
  const auto again = positions.upsert(original);
  EXPECT_FALSE(again.applied);
  EXPECT_EQ(again.previous, original);
  // Same instant, other coordinates: still the stored one wins, whichever arrived first.
  auto conflicting = ping("d", kBengaluru, kT0);
  conflicting.recorded_at += 500ns;  // below the kept precision: the same instant
  EXPECT_FALSE(positions.upsert(conflicting).applied);
  EXPECT_EQ(positions.latest("d", kT0), original);
}

TEST_P(PositionsContract, StaleDriversAreHiddenAndPurged) {
  auto& positions = *positions_;  // staleness 120 s
  const auto old_ping = ping("old", kDelhi, kT0);
  const auto recent_ping = ping("recent", north_of(kDelhi, 0.5), kT0 + 60s);
  positions.upsert(old_ping);
  positions.upsert(recent_ping);

  const auto last_fresh_instant = kT0 + 120s;
  EXPECT_EQ(positions.latest("old", last_fresh_instant), old_ping) << "exactly `staleness` old is still fresh";
  EXPECT_EQ(ids_of(positions.nearby(kDelhi, 5, 10, last_fresh_instant)), (std::vector<std::string>{"old", "recent"}));
  EXPECT_EQ(positions.latest("old", last_fresh_instant + 1us), std::nullopt);
  EXPECT_EQ(ids_of(positions.nearby(kDelhi, 5, 10, last_fresh_instant + 1us)), std::vector<std::string>{"recent"});

  EXPECT_EQ(positions.purge_stale(last_fresh_instant), 0U);
  EXPECT_EQ(positions.purge_stale(last_fresh_instant + 1us), 1U);
  EXPECT_EQ(positions.purge_stale(last_fresh_instant + 1us), 0U);
  EXPECT_EQ(positions.latest("old", kT0), std::nullopt) << "purged, not merely hidden";
  EXPECT_EQ(ids_of(positions.nearby(kDelhi, 5, 10, kT0 + 60s)), std::vector<std::string>{"recent"});
  EXPECT_EQ(positions.latest("recent", kT0 + 60s), recent_ping);

  // Once purged, any ping of the driver is new again, even one older than the purged position.
  const auto earlier = positions.upsert(ping("old", kDelhi, kT0 - 10s));
  EXPECT_TRUE(earlier.applied);
  EXPECT_EQ(earlier.previous, std::nullopt);
}

TEST_P(PositionsContract, PurgeRemovesEveryStaleDriverHoweverMany) {
  auto& positions = *positions_;
  std::mt19937 random(7);
  std::uniform_real_distribution<double> offset(-0.05, 0.05);
  for (int i = 0; i < 1200; ++i) {
    positions.upsert(ping("stale-" + std::to_string(i), {kDelhi.lat + offset(random), kDelhi.lon + offset(random)},
                          kT0 - 1s - std::chrono::milliseconds(i)));
  }
  for (int i = 0; i < 10; ++i) positions.upsert(ping("fresh-" + std::to_string(i), north_of(kDelhi, i), kT0));
  EXPECT_EQ(positions.purge_stale(kT0 + 120s), 1200U);
  EXPECT_EQ(positions.nearby(kDelhi, 100, 10000, kT0 - 10s).size(), 10U);
}

TEST_P(PositionsContract, StaleDriversDoNotCrowdOutFreshOnes) {
  auto& positions = *positions_;
  // Hundreds of stale drivers nearer than every fresh one: a search must look past them.
  for (int i = 0; i < 300; ++i) {
    positions.upsert(ping("stale-" + std::to_string(i), north_of(kDelhi, 0.001 * i), kT0 - 300s));
  }
  for (int i = 0; i < 5; ++i) positions.upsert(ping("fresh-" + std::to_string(i), north_of(kDelhi, 1.0 + i), kT0));
  EXPECT_EQ(ids_of(positions.nearby(kDelhi, 10, 3, kT0)), (std::vector<std::string>{"fresh-0", "fresh-1", "fresh-2"}));
}

TEST_P(PositionsContract, NearbyIsNearestFirstWithExactDistances) {
  auto& positions = *positions_;
  const std::vector<std::pair<std::string, LatLon>> drivers{
      {"east-3km", {kDelhi.lat, kDelhi.lon + 0.0307}},
      {"north-1km", north_of(kDelhi, 1.0)},
      {"southwest-2km", {kDelhi.lat - 0.0127, kDelhi.lon - 0.0145}},
      {"here", kDelhi},
      {"tie-b", north_of(kDelhi, 4.0)},
      {"tie-a", north_of(kDelhi, 4.0)},
  };
  for (const auto& [id, where] : drivers) positions.upsert(ping(id, where, kT0));
  const auto found = positions.nearby(kDelhi, 10, 10, kT0);
  EXPECT_EQ(ids_of(found),
            (std::vector<std::string>{"here", "north-1km", "southwest-2km", "east-3km", "tie-a", "tie-b"}));
  for (const auto& driver : found) {
    const auto& where = std::find_if(drivers.begin(), drivers.end(), [&](const auto& d) {
                          return d.first == driver.driver_id;
                        })->second;
    EXPECT_EQ(driver.position, where);
    EXPECT_DOUBLE_EQ(driver.distance_km, great_circle_km(kDelhi, where)) << driver.driver_id;
    EXPECT_EQ(driver.recorded_at, kT0);
  }
  EXPECT_DOUBLE_EQ(found[0].distance_km, 0.0);
}

TEST_P(PositionsContract, TheRadiusIsInclusiveAndExact) {
  auto& positions = *positions_;
  // Redis measures on another Earth radius and on geohashes: these differ from it by a few metres.
  const LatLon just_inside = north_of(kBengaluru, 0.9999);
  const LatLon just_outside = north_of(kBengaluru, 1.0001);
  const LatLon east_inside{kBengaluru.lat,
                           kBengaluru.lon + 0.99995 /
                                                (kEarthRadiusKm * std::cos(kBengaluru.lat * std::numbers::pi / 180.0)) *
                                                180.0 / std::numbers::pi};
  const LatLon far{kBengaluru.lat - 0.02, kBengaluru.lon + 0.02};
  positions.upsert(ping("just-inside", just_inside, kT0));
  positions.upsert(ping("just-outside", just_outside, kT0));
  positions.upsert(ping("east-inside", east_inside, kT0));
  positions.upsert(ping("far", far, kT0));
  ASSERT_LT(great_circle_km(kBengaluru, east_inside), 1.0);
  ASSERT_GT(great_circle_km(kBengaluru, east_inside), 0.9999);
  EXPECT_EQ(ids_of(positions.nearby(kBengaluru, 1.0, 10, kT0)),
            (std::vector<std::string>{"just-inside", "east-inside"}));
  // A driver exactly at the radius is inside.
  const double to_far = great_circle_km(kBengaluru, far);
  EXPECT_EQ(ids_of(positions.nearby(kBengaluru, to_far, 10, kT0)),
            (std::vector<std::string>{"just-inside", "east-inside", "just-outside", "far"}));
  EXPECT_EQ(ids_of(positions.nearby(kBengaluru, std::nextafter(to_far, 0.0), 10, kT0)),
            (std::vector<std::string>{"just-inside", "east-inside", "just-outside"}));
  // Radius 0: only a driver exactly at the center.
  positions.upsert(ping("center", kBengaluru, kT0));
  EXPECT_EQ(ids_of(positions.nearby(kBengaluru, 0.0, 10, kT0)), std::vector<std::string>{"center"});
}

TEST_P(PositionsContract, LimitKeepsTheNearest) {
  auto& positions = *positions_;
  for (int i = 0; i < 10; ++i) positions.upsert(ping("d" + std::to_string(i), north_of(kDelhi, 0.3 * i), kT0));
  EXPECT_TRUE(positions.nearby(kDelhi, 10, 0, kT0).empty());
  EXPECT_EQ(ids_of(positions.nearby(kDelhi, 10, 1, kT0)), std::vector<std::string>{"d0"});
  EXPECT_EQ(ids_of(positions.nearby(kDelhi, 10, 3, kT0)), (std::vector<std::string>{"d0", "d1", "d2"}));
  EXPECT_EQ(positions.nearby(kDelhi, 10, 10, kT0).size(), 10U);
  EXPECT_EQ(positions.nearby(kDelhi, 10, 1000, kT0).size(), 10U);
  EXPECT_EQ(positions.nearby(kDelhi, 10, std::numeric_limits<std::size_t>::max(), kT0).size(), 10U);
}

TEST_P(PositionsContract, ManyDriversMatchABruteForceSearch) {
  auto& positions = *positions_;
  std::mt19937 random(42);
  std::uniform_real_distribution<double> lat(kBengaluru.lat - 0.3, kBengaluru.lat + 0.3);
  std::uniform_real_distribution<double> lon(kBengaluru.lon - 0.3, kBengaluru.lon + 0.3);
  std::uniform_int_distribution<int> age_s(0, 150);  // a fifth of the drivers stale at kT0 + 150 s
  std::map<std::string, DriverPosition> latest;
  for (int i = 0; i < 2000; ++i) {
    auto position =
        ping("driver-" + std::to_string(i), {lat(random), lon(random)}, kT0 + std::chrono::seconds(age_s(random)));
    positions.upsert(position);
    latest[position.driver_id] = position;
  }
  for (int i = 0; i < 300; ++i) {  // some drivers move, some pings arrive late
    const std::string id = "driver-" + std::to_string(i * 5);
    auto moved = ping(id, {lat(random), lon(random)}, kT0 + std::chrono::seconds(age_s(random)));
    const bool newer = moved.recorded_at > latest[id].recorded_at;
    ASSERT_EQ(positions.upsert(moved).applied, newer) << id;
    if (newer) latest[id] = moved;
  }

  const auto now = kT0 + 150s;
  const auto fresh_from = now - 120s;
  std::uniform_real_distribution<double> query_lat(kBengaluru.lat - 0.4, kBengaluru.lat + 0.4);
  std::uniform_real_distribution<double> query_lon(kBengaluru.lon - 0.4, kBengaluru.lon + 0.4);
  for (int query = 0; query < 40; ++query) {
    const LatLon center{query_lat(random), query_lon(random)};
    for (const double radius : {0.3, 2.0, 5.0, 20.0, 500.0}) {
      for (const std::size_t limit : {std::size_t{1}, std::size_t{5}, std::size_t{20}, std::size_t{100000}}) {
        const auto expected = brute_force_nearby(latest, center, radius, limit, fresh_from);
        const auto found = positions.nearby(center, radius, limit, now);
        ASSERT_EQ(ids_of(found), ids_of(expected))
            << "center " << center.lat << "," << center.lon << " radius " << radius << " limit " << limit;
        for (std::size_t i = 0; i < found.size(); ++i) {
          EXPECT_DOUBLE_EQ(found[i].distance_km, expected[i].distance_km);
          EXPECT_EQ(found[i].position, expected[i].position);
          EXPECT_EQ(found[i].recorded_at, expected[i].recorded_at);
        }
      }
    }
  }
}

TEST_P(PositionsContract, AMovingDriverLeavesItsOldPlace) {
  auto& positions = *positions_;
  const LatLon gurgaon{28.4595, 77.0266};
  positions.upsert(ping("d", kDelhi, kT0));
  positions.upsert(ping("d", gurgaon, kT0 + 1s));
  EXPECT_TRUE(positions.nearby(kDelhi, 5, 10, kT0 + 1s).empty());
  const auto there = positions.nearby(gurgaon, 5, 10, kT0 + 1s);
  ASSERT_EQ(ids_of(there), std::vector<std::string>{"d"});
  EXPECT_EQ(there[0].position, gurgaon);
  EXPECT_DOUBLE_EQ(there[0].distance_km, 0.0);
  positions.upsert(ping("d", kDelhi, kT0 + 500ms));  // late: stays in Gurgaon
  EXPECT_TRUE(positions.nearby(kDelhi, 5, 10, kT0 + 1s).empty());
  positions.upsert(ping("d", kDelhi, kT0 + 2s));
  EXPECT_EQ(ids_of(positions.nearby(kDelhi, 5, 10, kT0 + 2s)), std::vector<std::string>{"d"});
  EXPECT_TRUE(positions.nearby(gurgaon, 5, 10, kT0 + 2s).empty());
}

TEST_P(PositionsContract, InvalidInputIsRefused) {
  auto& positions = *positions_;
  const auto refused = [&](DriverPosition position) {
    EXPECT_THROW(positions.upsert(position), std::invalid_argument) << position.driver_id;
  };
  refused(ping("", kDelhi, kT0));
  refused(ping("lat", {91, 0}, kT0));
  refused(ping("polar", {86, 0}, kT0));
  refused(ping("lon", {0, 181}, kT0));
  refused(ping("nan", {std::nan(""), 0}, kT0));
  auto heading = ping("heading", kDelhi, kT0);
  heading.heading_deg = 360;
  refused(heading);
  auto speed = ping("speed", kDelhi, kT0);
  speed.speed_kmh = -1;
  refused(speed);
  auto accuracy = ping("accuracy", kDelhi, kT0);
  accuracy.accuracy_m = std::numeric_limits<double>::infinity();
  refused(accuracy);
  EXPECT_THROW(positions.nearby({0, 200}, 1, 1, kT0), std::invalid_argument);
  EXPECT_THROW(positions.nearby({89, 0}, 1, 1, kT0), std::invalid_argument);
  EXPECT_THROW(positions.nearby(kDelhi, -1, 1, kT0), std::invalid_argument);
  EXPECT_THROW(positions.nearby(kDelhi, std::nan(""), 1, kT0), std::invalid_argument);
  EXPECT_TRUE(positions.nearby(kDelhi, 10000, 100, kT0).empty()) << "nothing refused was stored";
  PositionsOptions no_staleness;
  no_staleness.staleness = 0s;
  EXPECT_THROW(open(no_staleness), std::invalid_argument);
}

TEST_P(PositionsContract, ConcurrentPingsKeepTheNewestOfEachDriver) {
  const bool memory = GetParam() == "memory";
  const int threads = 4;
  const int drivers = 50;
  const int rounds = memory ? 200 : 20;
  // Thread t sends round r of every driver at instant r * threads + t, from a place derived from that
  // instant: the final position must be the newest ping's, whatever the interleaving.
  const auto place = [](int instant) { return LatLon{20.0 + instant * 1e-4, 78.0}; };
  std::atomic<bool> stop_reading{false};
  std::atomic<int> bad_searches{0};
  std::thread reader([&] {
    while (!stop_reading.load()) {
      const auto found = positions_->nearby({20.0, 78.0}, 50, 20, kT0);
      for (std::size_t i = 0; i < found.size(); ++i) {
        if (found[i].distance_km > 50 || (i > 0 && found[i].distance_km < found[i - 1].distance_km)) ++bad_searches;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        for (int d = 0; d < drivers; ++d) {
          const int instant = r * threads + t;
          positions_->upsert(ping("d" + std::to_string(d), place(instant), kT0 + std::chrono::milliseconds(instant)));
        }
      }
    });
  }
  for (auto& writer : writers) writer.join();
  stop_reading = true;
  reader.join();
  EXPECT_EQ(bad_searches.load(), 0);
  const int newest = (rounds - 1) * threads + (threads - 1);
  for (int d = 0; d < drivers; ++d) {
    const auto latest = positions_->latest("d" + std::to_string(d), kT0);
    ASSERT_TRUE(latest.has_value());
    EXPECT_EQ(latest->recorded_at, kT0 + std::chrono::milliseconds(newest));
    EXPECT_EQ(latest->position, place(newest));
  }
  EXPECT_EQ(positions_->nearby(place(newest), 0.001, 1000, kT0).size(), static_cast<std::size_t>(drivers))
      << "every driver is indexed once, at its newest place";
}

INSTANTIATE_TEST_SUITE_P(Adapters, PositionsContract, ::testing::Values("memory", "redis"),
                         [](const auto& adapter) { return adapter.param; });

}  // namespace
}  // namespace intercab::location
