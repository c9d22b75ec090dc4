// Prometheus metrics of a service: counters, gauges and histograms with labels, exposed in text format 0.0.4.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::metrics {

// Upper bounds in seconds for HTTP request latency histograms: 1 ms to 10 s, roughly 2.5x apart.
inline constexpr std::array<double, 13> kHttpLatencyBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25,  0.5,    1,     2.5,  5,     10};

// The content type a scrape endpoint must answer with.
inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

using LabelNames = std::vector<std::string>;
// One value per label name, in the order the names were registered. Values must come from a small set
// (a route template, never a raw path or an id): every distinct combination is a series kept forever.
using LabelValues = std::vector<std::string>;

enum class MetricType { kCounter, kGauge, kHistogram };

// A count that only goes up (requests handled, bytes sent); Prometheus reads a decrease as a restart.
class Counter {
 public:
  // Throws std::invalid_argument when `amount` is negative or NaN.
  void inc(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (connections open, queue depth).
class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void inc(double amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

template <typename Metric>
class Family;

// Observations counted into buckets fixed at registration (latencies, sizes).
class Histogram {
 public:
  // A value counts into the first bucket whose upper bound is >= value; NaN counts only into +Inf.
  void observe(double value);
  std::uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  // Per-bucket (not cumulative) counts, one per upper bound and a last one for +Inf.
  std::vector<std::uint64_t> bucket_counts() const;

 private:
  friend class Family<Histogram>;
  explicit Histogram(std::span<const double> upper_bounds);

  std::span<const double> upper_bounds_;  // owned by the family, which outlives its children
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

namespace detail {

// What the registry knows of every family, whatever produces its samples.
class FamilyBase {
 public:
  // Validates the names, the help and the bounds; throws std::invalid_argument naming what is wrong.
  FamilyBase(std::string_view name, std::string_view help, MetricType type, LabelNames label_names,
             std::vector<double> upper_bounds = {});
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const LabelNames& label_names() const { return label_names_; }
  // Finite and strictly increasing, +Inf implied; empty for everything but histograms.
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Families whose value is read by a callback cannot be shared by a second registration.
  virtual bool computed_at_exposition() const { return false; }

  // Every series name this family exposes: its name, or name_bucket/_sum/_count for a histogram.
  std::vector<std::string> series_names() const;
  // Appends the HELP and TYPE lines and every sample.
  void write(std::string& out) const;

 protected:
  virtual void write_samples(std::string& out) const = 0;

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  LabelNames label_names_;
  std::vector<double> upper_bounds_;
};

}  // namespace detail

// A metric name with its label names; one child Metric per combination of label values.
template <typename Metric>
class Family final : public detail::FamilyBase {
 public:
  // The child for these values, created on first use. The reference stays valid as long as the registry:
  // cache it on hot paths, where the lookup (a shared lock and a map search) would otherwise dominate.
  // Throws std::invalid_argument when the number of values differs from the number of label names.
  // Bytes that are not UTF-8 are replaced by U+FFFD, which the exposition format requires.
  Metric& with(const LabelValues& label_values = {});

 private:
  friend class Registry;
  Family(std::string_view name, std::string_view help, LabelNames label_names, std::vector<double> upper_bounds = {});
  void write_samples(std::string& out) const override;
  std::unique_ptr<Metric> make_child() const;

  mutable std::shared_mutex children_mutex_;
  std::map<LabelValues, std::unique_ptr<Metric>> children_;  // sorted, so the exposition order is stable
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// All metrics of one service. Registration is meant for start-up; updates of children are lock-free
// and exposition only takes each family's lock long enough to read its values.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a name again with the same type, label names (and bounds) returns the existing family;
  // anything else under a name, or a name that collides with another family's series, throws
  // std::invalid_argument. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
  // and not start with "__"; help must not be empty.
  Family<Counter>& counter(std::string_view name, std::string_view help, LabelNames label_names = {});
  Family<Gauge>& gauge(std::string_view name, std::string_view help, LabelNames label_names = {});
  // `upper_bounds` must be strictly increasing; a trailing +Inf is implied and may be omitted.
  Family<Histogram>& histogram(std::string_view name, std::string_view help, LabelNames label_names = {},
                               std::span<const double> upper_bounds = kHttpLatencyBuckets);

  // A label-less gauge or counter whose value `read` returns at each exposition (queue depth, pool size).
  // `read` runs on the scraping thread, so it must be thread-safe.
  // An exception from `read` propagates out of expose(). Registering the name twice throws.
  void gauge_callback(std::string_view name, std::string_view help, std::function<double()> read);
  void counter_callback(std::string_view name, std::string_view help, std::function<double()> read);

  // Every family, sorted by name, children sorted by label values, in text format 0.0.4.
  std::string expose() const;

 private:
  detail::FamilyBase& add(std::unique_ptr<detail::FamilyBase> candidate);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<detail::FamilyBase>, std::less<>> families_;
  std::set<std::string, std::less<>> taken_names_;  // family and series names, to refuse duplicate series
};

}  // namespace intercab::metrics
