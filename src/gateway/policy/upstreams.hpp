// The instances of one upstream service: load balancing and passive health (ejection on failures).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::gateway {

enum class BalancingStrategy { kRoundRobin, kLeastConnections };

// "round_robin" or "least_connections", as written in the configuration; throws
// std::invalid_argument naming the accepted values otherwise.
BalancingStrategy parse_balancing_strategy(std::string_view name);

struct PassiveHealth {
  int failures_to_eject = 5;                    // consecutive failures that take an instance out
  std::chrono::milliseconds eject_for{30'000};  // how long it stays out
};

struct UpstreamInstanceStats {
  std::string url{};
  int in_flight = 0;
  bool ejected = false;
  std::uint64_t total_failures = 0;
};

class UpstreamSet {
 public:
  using Clock = std::chrono::steady_clock;

  // `urls` are the base URLs of the service's instances ("http://10.0.0.5:8002"). Throws
  // std::invalid_argument naming the service when there are none, one is empty or listed twice,
  // or the health settings are not positive.
  UpstreamSet(std::string service, std::vector<std::string> urls, BalancingStrategy strategy,
              PassiveHealth health = {});

  // The instance for the next attempt, skipping ejected ones and those in `exclude` (already
  // tried for this request); nullopt when none is left. Least-connections counts requests
  // between on_start and on_finish, so call on_start as soon as the choice is used.
  std::optional<std::size_t> pick(Clock::time_point now, const std::vector<std::size_t>& exclude = {});

  void on_start(std::size_t instance);
  // `success` is false for connect errors, timeouts and 502/503/504 answers. After
  // `failures_to_eject` consecutive failures the instance is ejected for `eject_for`; when it
  // comes back it is on probation, and a single failure ejects it again until a request succeeds.
  void on_finish(std::size_t instance, bool success, Clock::time_point now);

  const std::string& url(std::size_t instance) const { return instances_.at(instance).url; }
  std::size_t size() const { return instances_.size(); }
  const std::string& service() const { return service_; }

  std::vector<UpstreamInstanceStats> snapshot(Clock::time_point now) const;

 private:
  struct Instance {
    std::string url;
    int in_flight = 0;
    int consecutive_failures = 0;
    bool on_probation = false;
    Clock::time_point ejected_until{};
    std::uint64_t total_failures = 0;
  };

  std::string service_;
  BalancingStrategy strategy_;
  PassiveHealth health_;
  mutable std::mutex mutex_;
  std::vector<Instance> instances_;  // the vector never changes size; the mutex guards the counters
  std::size_t next_ = 0;             // where the next search starts, so ties rotate
};

}  // namespace intercab::gateway
