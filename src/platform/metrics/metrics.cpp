// Metric families, their registry and the Prometheus text exposition (format 0.0.4).
#include "platform/metrics/metrics.hpp"

#include "platform/text/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace intercab::metrics {

namespace {

bool is_metric_name(std::string_view name) {
  if (name.empty()) return false;
  auto is_start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
  if (!is_start(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return is_start(c) || (c >= '0' && c <= '9'); });
}

bool is_label_name(std::string_view name) {
  if (name.empty()) return false;
  auto is_start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!is_start(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return is_start(c) || (c >= '0' && c <= '9'); });
}

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string describe(const detail::FamilyBase& family) {
  std::string out(type_name(family.type()));
  if (family.computed_at_exposition()) out += " computed by a callback";
  out += " with labels {";
  for (std::size_t i = 0; i < family.label_names().size(); ++i) {
    if (i > 0) out += ',';
    out += family.label_names()[i];
  }
  out += '}';
  return out;
}




void append_help_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_label_value_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

template <typename Integer>
void append_integer(std::string& out, Integer value) {
  std::array<char, 24> buffer{};
  auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

// Integral values print without exponent or fraction ("1234567", not "1.234567e+06"); others print in the
// shortest form that reads back exactly, which Go's strconv.ParseFloat (and so Prometheus) accepts.
void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  // Below 2^53 every integer is exact, so printing it as one loses nothing.
  constexpr double kLargestExactInteger = 9007199254740992.0;
  if (value == std::trunc(value) && std::fabs(value) < kLargestExactInteger) {
    append_integer(out, static_cast<std::int64_t>(value));
    return;
  }
  std::array<char, 32> buffer{};
  auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

// name{label="value",...,le="bound"} — the extra `le` label only for histogram buckets.
void append_series(std::string& out, std::string_view name, std::string_view suffix, const LabelNames& label_names,
                   const LabelValues& label_values, const double* le = nullptr) {
  out += name;
  out += suffix;
  if (label_names.empty() && le == nullptr) {
    out += ' ';
    return;
  }
  out += '{';
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names[i];
    out += "=\"";
    append_label_value_escaped(out, label_values[i]);
    out += '"';
  }
  if (le != nullptr) {
    if (!label_names.empty()) out += ',';
    out += "le=\"";
    append_number(out, *le);
    out += '"';
  }
  out += "} ";
}

// A label-less gauge or counter whose value is read when the registry is exposed.
class CallbackFamily final : public detail::FamilyBase {
 public:
  CallbackFamily(std::string_view name, std::string_view help, MetricType type, std::function<double()> read)
      : FamilyBase(name, help, type, {}), read_(std::move(read)) {
    if (!read_) throw std::invalid_argument("metric " + this->name() + " needs a callback to read its value");
  }
  bool computed_at_exposition() const override { return true; }

 private:
  void write_samples(std::string& out) const override {
    append_series(out, name(), "", {}, {});
    append_number(out, read_());
    out += '\n';
  }

  std::function<double()> read_;
};

}  // namespace

void Counter::inc(double amount) {
  if (!(amount >= 0)) {
    throw std::invalid_argument("a counter can only be incremented by a non-negative amount; use a Gauge instead");
  }
  value_.fetch_add(amount, std::memory_order_relaxed);
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds), counts_(new std::atomic<std::uint64_t>[upper_bounds.size() + 1]) {
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) {
  // lower_bound finds the first bound >= value; NaN compares false with everything, so it is sent to +Inf.
  const std::size_t bucket =
      std::isnan(value) ? upper_bounds_.size()
                        : static_cast<std::size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                                                   upper_bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
  std::vector<std::uint64_t> counts(upper_bounds_.size() + 1);
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] = counts_[i].load(std::memory_order_relaxed);
  return counts;
}

std::uint64_t Histogram::count() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) total += counts_[i].load(std::memory_order_relaxed);
  return total;
}

namespace detail {

FamilyBase::FamilyBase(std::string_view name, std::string_view help, MetricType type, LabelNames label_names,
                       std::vector<double> upper_bounds)
    : name_(name),
      help_(help),
      type_(type),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {
  if (!is_metric_name(name_)) {
    throw std::invalid_argument("invalid metric name \"" + name_ +
                                "\": use letters, digits, '_' and ':', not starting with a digit");
  }
  if (help_.empty()) throw std::invalid_argument("metric " + name_ + " needs a help text saying what it counts");
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    const std::string& label = label_names_[i];
    if (!is_label_name(label)) {
      throw std::invalid_argument("invalid label name \"" + label + "\" of metric " + name_ +
                                  ": use letters, digits and '_', not starting with a digit");
    }
    if (label.starts_with("__")) {
      throw std::invalid_argument("invalid label name \"" + label + "\" of metric " + name_ +
                                  ": names starting with \"__\" are reserved by Prometheus");
    }
    if (type_ == MetricType::kHistogram && label == "le") {
      throw std::invalid_argument("invalid label name \"le\" of histogram " + name_ +
                                  ": it is reserved for the bucket bounds");
    }
    if (std::find(label_names_.begin(), label_names_.begin() + static_cast<std::ptrdiff_t>(i), label) !=
        label_names_.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw std::invalid_argument("label name \"" + label + "\" appears twice in metric " + name_);
    }
  }
  if (!upper_bounds_.empty() && upper_bounds_.back() == std::numeric_limits<double>::infinity()) {
    upper_bounds_.pop_back();  // +Inf is always exposed; keeping it would expose it twice
  }
  for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (!std::isfinite(upper_bounds_[i]) || (i > 0 && !(upper_bounds_[i - 1] < upper_bounds_[i]))) {
      throw std::invalid_argument("bucket bounds of histogram " + name_ +
                                  " must be finite and strictly increasing (a last +Inf is implied)");
    }
  }
}

std::vector<std::string> FamilyBase::series_names() const {
  if (type_ != MetricType::kHistogram) return {name_};
  return {name_ + "_bucket", name_ + "_sum", name_ + "_count"};
}

void FamilyBase::write(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_help_escaped(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  write_samples(out);
}

}  // namespace detail

namespace {
template <typename Metric>
constexpr MetricType type_of() {
  if constexpr (std::is_same_v<Metric, Counter>) return MetricType::kCounter;
  if constexpr (std::is_same_v<Metric, Gauge>) return MetricType::kGauge;
  return MetricType::kHistogram;
}
}  // namespace

template <typename Metric>
Family<Metric>::Family(std::string_view name, std::string_view help, LabelNames label_names,
                       std::vector<double> upper_bounds)
    : FamilyBase(name, help, type_of<Metric>(), std::move(label_names), std::move(upper_bounds)) {
  // A label-less metric is exposed from the start (as 0) so that rate() and absent() work before first use.
  if (this->label_names().empty()) with();
}

template <typename Metric>
std::unique_ptr<Metric> Family<Metric>::make_child() const {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::unique_ptr<Histogram>(new Histogram(upper_bounds()));
  } else {
    return std::make_unique<Metric>();
  }
}

template <typename Metric>
Metric& Family<Metric>::with(const LabelValues& label_values) {
  if (label_values.size() != label_names().size()) {
    throw std::invalid_argument("metric " + name() + " has " + std::to_string(label_names().size()) + " labels, but " +
                                std::to_string(label_values.size()) + " values were given");
  }
  if (!std::all_of(label_values.begin(), label_values.end(), [](const std::string& v) { return text::is_valid_utf8(v); })) {
    LabelValues repaired;
    repaired.reserve(label_values.size());
    for (const auto& value : label_values) repaired.push_back(text::replace_invalid_utf8(value));
    return with(repaired);
  }
  {
    std::shared_lock lock(children_mutex_);
    if (auto found = children_.find(label_values); found != children_.end()) return *found->second;
  }
  auto child = make_child();
  std::unique_lock lock(children_mutex_);
  // Another thread may have created it between the two locks; try_emplace then keeps theirs.
  return *children_.try_emplace(label_values, std::move(child)).first->second;
}

template <typename Metric>
void Family<Metric>::write_samples(std::string& out) const {
  std::shared_lock lock(children_mutex_);
  for (const auto& [label_values, child] : children_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      // _count is derived from the same bucket reads, so +Inf and _count always agree even while
      // observe() runs concurrently; only _sum may include an observation the buckets do not yet show.
      const std::vector<std::uint64_t> counts = child->bucket_counts();
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const double le = i < upper_bounds().size() ? upper_bounds()[i] : std::numeric_limits<double>::infinity();
        append_series(out, name(), "_bucket", label_names(), label_values, &le);
        append_integer(out, cumulative);
        out += '\n';
      }
      append_series(out, name(), "_sum", label_names(), label_values);
      append_number(out, child->sum());
      out += '\n';
      append_series(out, name(), "_count", label_names(), label_values);
      append_integer(out, cumulative);
      out += '\n';
    } else {
      append_series(out, name(), "", label_names(), label_values);
      append_number(out, child->value());
      out += '\n';
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

detail::FamilyBase& Registry::add(std::unique_ptr<detail::FamilyBase> candidate) {
  std::lock_guard lock(mutex_);
  if (auto found = families_.find(candidate->name()); found != families_.end()) {
    detail::FamilyBase& existing = *found->second;
    if (!existing.computed_at_exposition() && !candidate->computed_at_exposition() &&
        existing.type() == candidate->type() && existing.label_names() == candidate->label_names() &&
        existing.upper_bounds() == candidate->upper_bounds()) {
      return existing;
    }
    throw std::invalid_argument("metric " + candidate->name() + " is already registered as a " + describe(existing) +
                                (existing.upper_bounds() != candidate->upper_bounds() ? " and other buckets" : "") +
                                "; it cannot be registered again as a " + describe(*candidate));
  }
  std::vector<std::string> names = candidate->series_names();
  names.push_back(candidate->name());
  for (const auto& series : names) {
    if (taken_names_.contains(series)) {
      throw std::invalid_argument("metric " + candidate->name() + " would expose " + series +
                                  ", which another registered metric already exposes; choose another name");
    }
  }
  taken_names_.insert(names.begin(), names.end());
  auto& added = *candidate;
  families_.emplace(candidate->name(), std::move(candidate));
  return added;
}

Family<Counter>& Registry::counter(std::string_view name, std::string_view help, LabelNames label_names) {
  std::unique_ptr<detail::FamilyBase> candidate(new Family<Counter>(name, help, std::move(label_names)));
  return static_cast<Family<Counter>&>(add(std::move(candidate)));
}

Family<Gauge>& Registry::gauge(std::string_view name, std::string_view help, LabelNames label_names) {
  std::unique_ptr<detail::FamilyBase> candidate(new Family<Gauge>(name, help, std::move(label_names)));
  return static_cast<Family<Gauge>&>(add(std::move(candidate)));
}

Family<Histogram>& Registry::histogram(std::string_view name, std::string_view help, LabelNames label_names,
                                       std::span<const double> upper_bounds) {
  std::unique_ptr<detail::FamilyBase> candidate(new Family<Histogram>(
      name, help, std::move(label_names), std::vector<double>(upper_bounds.begin(), upper_bounds.end())));
  return static_cast<Family<Histogram>&>(add(std::move(candidate)));
}

void Registry::gauge_callback(std::string_view name, std::string_view help, std::function<double()> read) {
  add(std::make_unique<CallbackFamily>(name, help, MetricType::kGauge, std::move(read)));
}

void Registry::counter_callback(std::string_view name, std::string_view help, std::function<double()> read) {
  add(std::make_unique<CallbackFamily>(name, help, MetricType::kCounter, std::move(read)));
}

std::string Registry::expose() const {
  // Families are never removed, so the pointers outlive the lock; releasing it before writing lets
  // callbacks run without blocking registration (and without deadlocking if they touch the registry).
  std::vector<const detail::FamilyBase*> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot.reserve(families_.size());
    for (const auto& [name, family] : families_) snapshot.push_back(family.get());
  }
  std::string out;
  for (const auto* family : snapshot) family->write(out);
  return out;
}

}  // namespace intercab::metrics
