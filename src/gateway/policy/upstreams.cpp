// Round-robin and least-connections choice among healthy instances, with consecutive-failure ejection.
#include "gateway/policy/upstreams.hpp"

#include <algorithm>
#include <cassert>
#include <set>
#include <stdexcept>

namespace intercab::gateway {

BalancingStrategy parse_balancing_strategy(std::string_view name) {
  if (name == "round_robin") return BalancingStrategy::kRoundRobin;
  if (name == "least_connections") return BalancingStrategy::kLeastConnections;
  throw std::invalid_argument("load balancing strategy \"" + std::string(name) +
                              "\" is unknown; use round_robin or least_connections");
}

UpstreamSet::UpstreamSet(std::string service, std::vector<std::string> urls, BalancingStrategy strategy,
                         PassiveHealth health)
    : service_(std::move(service)), strategy_(strategy), health_(health) {
  auto fail = [&](const std::string& why) { throw std::invalid_argument("upstreams of " + service_ + ": " + why); };
  if (urls.empty()) fail("no instance is configured");
  if (health_.failures_to_eject < 1) fail("failures_to_eject must be at least 1");
  if (health_.eject_for.count() <= 0) fail("eject_for must be positive");
  std::set<std::string> seen;
  for (auto& url : urls) {
    if (url.empty()) fail("an instance URL is empty");
    if (!seen.insert(url).second) fail("instance " + url + " is listed twice");
    instances_.push_back({.url = std::move(url)});
  }
}

std::optional<std::size_t> UpstreamSet::pick(Clock::time_point now, const std::vector<std::size_t>& exclude) {
  std::lock_guard lock(mutex_);
  const auto count = instances_.size();
  std::optional<std::size_t> chosen;
  for (std::size_t step = 0; step < count; ++step) {
    const auto index = (next_ + step) % count;
    const auto& instance = instances_[index];
    if (now < instance.ejected_until) continue;
    if (std::find(exclude.begin(), exclude.end(), index) != exclude.end()) continue;
    if (strategy_ == BalancingStrategy::kRoundRobin) {
      chosen = index;
      break;
    }
    if (!chosen || instance.in_flight < instances_[*chosen].in_flight) chosen = index;
  }
  if (chosen) next_ = (*chosen + 1) % count;
  return chosen;
}

void UpstreamSet::on_start(std::size_t instance) {
  std::lock_guard lock(mutex_);
  ++instances_.at(instance).in_flight;
}

void UpstreamSet::on_finish(std::size_t instance, bool success, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto& state = instances_.at(instance);
  assert(state.in_flight > 0 && "on_finish without on_start");
  if (state.in_flight > 0) --state.in_flight;
  if (success) {
    state.consecutive_failures = 0;
    state.on_probation = false;
    return;
  }
  ++state.total_failures;
  // Requests that were already under way when the instance was ejected report late; they do
  // not extend the ejection.
  if (now < state.ejected_until) return;
  ++state.consecutive_failures;
  if (state.on_probation || state.consecutive_failures >= health_.failures_to_eject) {
    state.ejected_until = now + health_.eject_for;
    state.consecutive_failures = 0;
    state.on_probation = true;
  }
}

std::vector<UpstreamInstanceStats> UpstreamSet::snapshot(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  std::vector<UpstreamInstanceStats> stats;
  stats.reserve(instances_.size());
  for (const auto& instance : instances_) {
    stats.push_back({.url = instance.url,
                     .in_flight = instance.in_flight,
                     .ejected = now < instance.ejected_until,
                     .total_failures = instance.total_failures});
  }
  return stats;
}

}  // namespace intercab::gateway
