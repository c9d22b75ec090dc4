// Tests of upstream instance sets: round robin, least connections, ejection, exclusion.
#include "gateway/policy/upstreams.hpp"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <thread>

namespace intercab::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = UpstreamSet::Clock;

const Clock::time_point t0 = Clock::time_point{} + 1000s;
const PassiveHealth kHealth{.failures_to_eject = 3, .eject_for = 10s};

UpstreamSet three(BalancingStrategy strategy) {
  return UpstreamSet("booking", {"http://10.0.0.1:8002", "http://10.0.0.2:8002", "http://10.0.0.3:8002"}, strategy,
                     kHealth);
}

void fail(UpstreamSet& set, std::size_t instance, int times, Clock::time_point now) {
  for (int i = 0; i < times; ++i) {
    set.on_start(instance);
    set.on_finish(instance, false, now);
  }
}

TEST(UpstreamSet, RoundRobinSpreadsEvenly) {
  auto set = three(BalancingStrategy::kRoundRobin);
  std::map<std::size_t, int> picks;
  for (int i = 0; i < 300; ++i) ++picks[set.pick(t0).value()];
  EXPECT_EQ(picks, (std::map<std::size_t, int>{{0, 100}, {1, 100}, {2, 100}}));
  EXPECT_EQ(set.size(), 3U);
  EXPECT_EQ(set.url(1), "http://10.0.0.2:8002");
  EXPECT_EQ(set.service(), "booking");
}

TEST(UpstreamSet, LeastConnectionsPrefersTheIdleInstance) {
  auto set = three(BalancingStrategy::kLeastConnections);
  set.on_start(0);
  set.on_start(0);
  set.on_start(2);
  EXPECT_EQ(set.pick(t0), 1U);
  set.on_start(1);
  set.on_start(1);
  EXPECT_EQ(set.pick(t0), 2U);  // 2, 2, 1 in flight
  set.on_finish(0, true, t0);
  set.on_finish(0, true, t0);
  EXPECT_EQ(set.pick(t0), 0U);
}

TEST(UpstreamSet, LeastConnectionsRotatesAmongEquals) {
  auto set = three(BalancingStrategy::kLeastConnections);
  std::map<std::size_t, int> picks;
  for (int i = 0; i < 30; ++i) ++picks[set.pick(t0).value()];  // nothing ever starts: all tie
  EXPECT_EQ(picks, (std::map<std::size_t, int>{{0, 10}, {1, 10}, {2, 10}}));
}

TEST(UpstreamSet, EjectsAfterConsecutiveFailuresAndReturnsAfterThePeriod) {
  auto set = three(BalancingStrategy::kRoundRobin);
  fail(set, 1, 2, t0);
  EXPECT_FALSE(set.snapshot(t0)[1].ejected);
  fail(set, 1, 1, t0);
  EXPECT_TRUE(set.snapshot(t0)[1].ejected);
  for (int i = 0; i < 10; ++i) EXPECT_NE(set.pick(t0 + 9999ms), 1U);

  std::map<std::size_t, int> picks;
  for (int i = 0; i < 30; ++i) ++picks[set.pick(t0 + 10s).value()];
  EXPECT_EQ(picks[1], 10);
  EXPECT_FALSE(set.snapshot(t0 + 10s)[1].ejected);
}

TEST(UpstreamSet, ReturningInstanceIsOnProbation) {
  auto set = three(BalancingStrategy::kRoundRobin);
  fail(set, 0, 3, t0);
  fail(set, 0, 1, t0 + 10s);  // back, fails at once: out again without waiting for 3 failures
  EXPECT_TRUE(set.snapshot(t0 + 10s)[0].ejected);
  EXPECT_TRUE(set.snapshot(t0 + 19s)[0].ejected);

  set.on_start(0);
  set.on_finish(0, true, t0 + 20s);  // a success ends probation
  fail(set, 0, 2, t0 + 21s);
  EXPECT_FALSE(set.snapshot(t0 + 21s)[0].ejected);
  fail(set, 0, 1, t0 + 21s);
  EXPECT_TRUE(set.snapshot(t0 + 21s)[0].ejected);
}

TEST(UpstreamSet, SuccessResetsTheFailureCount) {
  auto set = three(BalancingStrategy::kRoundRobin);
  fail(set, 2, 2, t0);
  set.on_start(2);
  set.on_finish(2, true, t0);
  fail(set, 2, 2, t0);
  const auto stats = set.snapshot(t0);
  EXPECT_FALSE(stats[2].ejected);
  EXPECT_EQ(stats[2].total_failures, 4U);
}

TEST(UpstreamSet, LateFailuresDoNotExtendAnEjection) {
  auto set = three(BalancingStrategy::kRoundRobin);
  for (int i = 0; i < 5; ++i) set.on_start(0);
  for (int i = 0; i < 3; ++i) set.on_finish(0, false, t0);
  for (int i = 0; i < 2; ++i) set.on_finish(0, false, t0 + 5s);  // started before the ejection
  EXPECT_FALSE(set.snapshot(t0 + 10s)[0].ejected);
  EXPECT_EQ(set.snapshot(t0)[0].total_failures, 5U);
}

TEST(UpstreamSet, ExclusionPicksAnotherInstanceForARetry) {
  auto set = three(BalancingStrategy::kRoundRobin);
  const auto first = set.pick(t0).value();
  const auto second = set.pick(t0, {first}).value();
  EXPECT_NE(second, first);
  const auto third = set.pick(t0, {first, second}).value();
  EXPECT_NE(third, first);
  EXPECT_NE(third, second);
  EXPECT_EQ(set.pick(t0, {0, 1, 2}), std::nullopt);

  auto least = three(BalancingStrategy::kLeastConnections);
  least.on_start(1);
  least.on_start(2);
  EXPECT_EQ(least.pick(t0, {0}), 1U);
}

TEST(UpstreamSet, NothingToPickWhenEveryInstanceIsEjectedOrExcluded) {
  auto set = three(BalancingStrategy::kLeastConnections);
  fail(set, 0, 3, t0);
  fail(set, 1, 3, t0);
  EXPECT_EQ(set.pick(t0, {2}), std::nullopt);
  fail(set, 2, 3, t0);
  EXPECT_EQ(set.pick(t0), std::nullopt);
  EXPECT_TRUE(set.pick(t0 + 10s).has_value());
}

TEST(UpstreamSet, SnapshotReportsEachInstance) {
  auto set = three(BalancingStrategy::kRoundRobin);
  set.on_start(0);
  set.on_start(0);
  fail(set, 1, 3, t0);
  const auto stats = set.snapshot(t0);
  ASSERT_EQ(stats.size(), 3U);
  EXPECT_EQ(stats[0].url, "http://10.0.0.1:8002");
  EXPECT_EQ(stats[0].in_flight, 2);
  EXPECT_FALSE(stats[0].ejected);
  EXPECT_EQ(stats[1].in_flight, 0);
  EXPECT_TRUE(stats[1].ejected);
  EXPECT_EQ(stats[1].total_failures, 3U);
}

TEST(UpstreamSet, CountsStayExactUnderConcurrency) {
  auto set = three(BalancingStrategy::kLeastConnections);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        const auto instance = set.pick(t0).value();
        set.on_start(instance);
        set.on_finish(instance, true, t0);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& stats : set.snapshot(t0)) EXPECT_EQ(stats.in_flight, 0);
}

TEST(UpstreamSet, RejectsBadConfiguration) {
  EXPECT_THROW(UpstreamSet("user", {}, BalancingStrategy::kRoundRobin), std::invalid_argument);
  EXPECT_THROW(UpstreamSet("user", {""}, BalancingStrategy::kRoundRobin), std::invalid_argument);
  EXPECT_THROW(UpstreamSet("user", {"http://a", "http://a"}, BalancingStrategy::kRoundRobin), std::invalid_argument);
  EXPECT_THROW(UpstreamSet("user", {"http://a"}, BalancingStrategy::kRoundRobin, {.failures_to_eject = 0}),
               std::invalid_argument);
  EXPECT_THROW(UpstreamSet("user", {"http://a"}, BalancingStrategy::kRoundRobin, {.eject_for = 0ms}),
               std::invalid_argument);
  try {
    UpstreamSet("payment", {}, BalancingStrategy::kRoundRobin);
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("payment"), std::string::npos);
  }
}

TEST(BalancingStrategy, ParsesConfigurationNames) {
  EXPECT_EQ(parse_balancing_strategy("round_robin"), BalancingStrategy::kRoundRobin);
  EXPECT_EQ(parse_balancing_strategy("least_connections"), BalancingStrategy::kLeastConnections);
  EXPECT_THROW(parse_balancing_strategy("random"), std::invalid_argument);
}

}  // namespace
}  // namespace intercab::gateway
