#include "platform/metrics/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "platform/metrics/process_metrics.hpp"

namespace intercab::metrics {
namespace {

using ::testing::HasSubstr;

// The value of the sample whose series (name and labels) is exactly `series`; fails when absent.
double sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  ADD_FAILURE() << "no sample " << series << " in:\n" << exposition;
  return std::numeric_limits<double>::quiet_NaN();
}

// The message of the std::invalid_argument that `register_metric` throws.
template <typename Function>
std::string invalid_argument_from(Function register_metric) {
  try {
    register_metric();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected std::invalid_argument";
  return {};
}

TEST(Counter, CountsPerLabelValues) {
  Registry registry;
  auto& requests =
      registry.counter("http_requests_total", "Requests handled.", {"service", "method", "route", "status"});
  requests.with({"user", "GET", "/health", "200"}).inc();
  requests.with({"user", "GET", "/health", "200"}).inc(2.5);
  requests.with({"user", "POST", "/api/v1/users", "201"}).inc();

  EXPECT_EQ(requests.with({"user", "GET", "/health", "200"}).value(), 3.5);
  const std::string text = registry.expose();
  EXPECT_THAT(text, HasSubstr("# HELP http_requests_total Requests handled.\n# TYPE http_requests_total counter\n"));
  EXPECT_EQ(sample(text, R"(http_requests_total{service="user",method="GET",route="/health",status="200"})"), 3.5);
  EXPECT_EQ(sample(text, R"(http_requests_total{service="user",method="POST",route="/api/v1/users",status="201"})"), 1);
}

TEST(Counter, RefusesToGoDown) {
  Registry registry;
  auto& counter = registry.counter("jobs_total", "Jobs run.").with();
  EXPECT_THROW(counter.inc(-1), std::invalid_argument);
  EXPECT_THROW(counter.inc(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
  EXPECT_EQ(counter.value(), 0);
}

TEST(Counter, LabelLessIsExposedAtZeroBeforeFirstUse) {
  Registry registry;
  registry.counter("outbox_relayed_total", "Outbox rows relayed.");
  EXPECT_EQ(sample(registry.expose(), "outbox_relayed_total"), 0);
}

TEST(Gauge, SetsIncrementsAndDecrements) {
  Registry registry;
  auto& connections = registry.gauge("db_connections", "Open database connections.", {"pool"}).with({"primary"});
  connections.set(5);
  connections.inc();
  connections.dec(3);
  EXPECT_EQ(connections.value(), 3);
  EXPECT_EQ(sample(registry.expose(), R"(db_connections{pool="primary"})"), 3);
}

TEST(Gauge, CallbackIsReadAtExposition) {
  Registry registry;
  std::atomic<int> depth = 4;
  registry.gauge_callback("dispatch_queue_depth", "Bookings waiting for a driver.", [&] { return depth.load(); });
  EXPECT_EQ(sample(registry.expose(), "dispatch_queue_depth"), 4);
  depth = 9;
  EXPECT_EQ(sample(registry.expose(), "dispatch_queue_depth"), 9);
  EXPECT_THAT(registry.expose(), HasSubstr("# TYPE dispatch_queue_depth gauge\n"));
}

TEST(Histogram, BucketsAreCumulativeAndIncludeInf) {
  Registry registry;
  const std::vector<double> bounds{0.1, 1, 10};
  auto& latency = registry.histogram("rpc_duration_seconds", "RPC latency.", {"peer"}, bounds).with({"pricing"});
  for (double value : {0.05, 0.1, 0.5, 5.0, 50.0}) latency.observe(value);

  EXPECT_EQ(latency.count(), 5U);
  EXPECT_EQ(latency.bucket_counts(), (std::vector<std::uint64_t>{2, 1, 1, 1}));
  const std::string text = registry.expose();
  EXPECT_THAT(text, HasSubstr("# TYPE rpc_duration_seconds histogram\n"
                              "rpc_duration_seconds_bucket{peer=\"pricing\",le=\"0.1\"} 2\n"
                              "rpc_duration_seconds_bucket{peer=\"pricing\",le=\"1\"} 3\n"
                              "rpc_duration_seconds_bucket{peer=\"pricing\",le=\"10\"} 4\n"
                              "rpc_duration_seconds_bucket{peer=\"pricing\",le=\"+Inf\"} 5\n"
                              "rpc_duration_seconds_sum{peer=\"pricing\"} 55.65\n"
                              "rpc_duration_seconds_count{peer=\"pricing\"} 5\n"));
}

TEST(Histogram, DefaultsToHttpLatencyBuckets) {
  Registry registry;
  auto& latency = registry.histogram("http_request_duration_seconds", "Request latency.").with();
  latency.observe(0.003);
  const std::string text = registry.expose();
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{le="0.0025"})"), 0);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{le="0.005"})"), 1);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{le="10"})"), 1);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{le="+Inf"})"), 1);
  EXPECT_EQ(latency.bucket_counts().size(), kHttpLatencyBuckets.size() + 1);
}

TEST(Histogram, NanCountsOnlyIntoInf) {
  Registry registry;
  auto& histogram = registry.histogram("payload_size_bytes", "Payload sizes.", {}, std::vector<double>{100}).with();
  histogram.observe(std::numeric_limits<double>::quiet_NaN());
  const std::string text = registry.expose();
  EXPECT_EQ(sample(text, R"(payload_size_bytes_bucket{le="100"})"), 0);
  EXPECT_EQ(sample(text, R"(payload_size_bytes_bucket{le="+Inf"})"), 1);
  EXPECT_THAT(text, HasSubstr("payload_size_bytes_sum NaN\n"));
}

TEST(Histogram, TrailingInfBoundIsNotExposedTwice) {
  Registry registry;
  const std::vector<double> bounds{1, std::numeric_limits<double>::infinity()};
  registry.histogram("batch_size", "Batch sizes.", {}, bounds);
  const std::string text = registry.expose();
  EXPECT_EQ(text.find("le=\"+Inf\""), text.rfind("le=\"+Inf\""));
}

TEST(Exposition, EscapesHelpAndLabelValues) {
  Registry registry;
  registry.gauge("escape_check", "first line\nsecond \\ line \"quoted\"", {"value"})
      .with({"a \"quoted\" back\\slash\nnewline"})
      .set(1);
  const std::string text = registry.expose();
  EXPECT_THAT(text, HasSubstr("# HELP escape_check first line\\nsecond \\\\ line \"quoted\"\n"));
  EXPECT_THAT(text, HasSubstr("escape_check{value=\"a \\\"quoted\\\" back\\\\slash\\nnewline\"} 1\n"));
}

TEST(Exposition, ReplacesInvalidUtf8InLabelValues) {
  Registry registry;
  auto& family = registry.counter("routes_total", "Routes.", {"city"});
  family.with({"Bengal\xFFuru"}).inc();
  EXPECT_EQ(&family.with({"Bengal\xFFuru"}), &family.with({"Bengal\xEF\xBF\xBDuru"}));
  family.with({"मुंबई → पुणे"}).inc();
  const std::string text = registry.expose();
  EXPECT_EQ(sample(text, "routes_total{city=\"Bengal\xEF\xBF\xBDuru\"}"), 1);
  EXPECT_EQ(sample(text, "routes_total{city=\"मुंबई → पुणे\"}"), 1);
}

TEST(Exposition, SortsFamiliesByNameAndChildrenByLabelValues) {
  Registry registry;
  registry.gauge("zeta", "Last.");
  auto& alpha = registry.counter("alpha_total", "First.", {"k"});
  alpha.with({"b"}).inc();
  alpha.with({"a"}).inc();
  registry.gauge_callback("mid", "Middle.", [] { return 1.0; });
  const std::string text = registry.expose();
  EXPECT_LT(text.find("alpha_total{k=\"a\"}"), text.find("alpha_total{k=\"b\"}"));
  EXPECT_LT(text.find("# TYPE alpha_total"), text.find("# TYPE mid"));
  EXPECT_LT(text.find("# TYPE mid"), text.find("# TYPE zeta"));
}

TEST(Exposition, FormatsNumbersForPrometheus) {
  Registry registry;
  auto& value = registry.gauge("number_format", "Numbers.", {"case"});
  value.with({"integer"}).set(1234567);
  value.with({"huge_integer"}).set(1e20);
  value.with({"fraction"}).set(0.1);
  value.with({"negative"}).set(-2.5);
  value.with({"negative_zero"}).set(-0.0);
  value.with({"nan"}).set(std::numeric_limits<double>::quiet_NaN());
  value.with({"plus_inf"}).set(std::numeric_limits<double>::infinity());
  value.with({"minus_inf"}).set(-std::numeric_limits<double>::infinity());
  const std::string text = registry.expose();
  EXPECT_THAT(text, HasSubstr("{case=\"integer\"} 1234567\n"));
  EXPECT_THAT(text, HasSubstr("{case=\"huge_integer\"} 1e+20\n"));
  EXPECT_THAT(text, HasSubstr("{case=\"fraction\"} 0.1\n"));
  EXPECT_THAT(text, HasSubstr("{case=\"negative\"} -2.5\n"));
  EXPECT_THAT(text, HasSubstr("{case=\"negative_zero\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("{case=\"nan\"} NaN\n"));
  EXPECT_THAT(text, HasSubstr("{case=\"plus_inf\"} +Inf\n"));
  EXPECT_THAT(text, HasSubstr("{case=\"minus_inf\"} -Inf\n"));
}

TEST(Registration, RejectsInvalidNamesNamingThem) {
  Registry registry;
  EXPECT_THAT(invalid_argument_from([&] { registry.counter("http-requests_total", "Help."); }),
              HasSubstr("\"http-requests_total\""));
  EXPECT_THAT(invalid_argument_from([&] { registry.counter("1st_total", "Help."); }), HasSubstr("\"1st_total\""));
  EXPECT_THAT(invalid_argument_from([&] { registry.gauge("", "Help."); }), HasSubstr("invalid metric name \"\""));
  EXPECT_THAT(invalid_argument_from([&] { registry.gauge("ok_name", "Help.", {"bad-label"}); }),
              HasSubstr("\"bad-label\""));
  EXPECT_THAT(invalid_argument_from([&] { registry.gauge("ok_name", "Help.", {"__reserved"}); }),
              HasSubstr("\"__reserved\""));
  EXPECT_THAT(invalid_argument_from([&] {
                registry.gauge("ok_name", "Help.", {"city", "city"});
              }),
              HasSubstr("\"city\""));
  EXPECT_THAT(invalid_argument_from([&] { registry.histogram("ok_seconds", "Help.", {"le"}); }), HasSubstr("\"le\""));
  EXPECT_THAT(invalid_argument_from([&] { registry.gauge("ok_name", ""); }), HasSubstr("help"));
  EXPECT_THAT(invalid_argument_from([&] {
                registry.histogram("ok_seconds", "Help.", {}, std::vector<double>{1, 0.5});
              }),
              HasSubstr("strictly increasing"));
  EXPECT_NO_THROW(registry.gauge("namespace:ok_Name_1", "Help.", {"_label_1"}));
}

TEST(Registration, SameShapeReturnsTheExistingFamily) {
  Registry registry;
  auto& first = registry.counter("trips_total", "Trips.", {"city"});
  first.with({"pune"}).inc();
  auto& second = registry.counter("trips_total", "Trips.", {"city"});
  EXPECT_EQ(&first, &second);
  EXPECT_EQ(second.with({"pune"}).value(), 1);
}

TEST(Registration, DifferentShapeThrows) {
  Registry registry;
  registry.counter("trips_total", "Trips.", {"city"});
  EXPECT_THAT(invalid_argument_from([&] { registry.gauge("trips_total", "Trips."); }), HasSubstr("trips_total"));
  EXPECT_THROW(registry.counter("trips_total", "Trips.", {"region"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("trips_total", "Trips."), std::invalid_argument);
  EXPECT_THROW(registry.gauge_callback("trips_total", "Trips.", [] { return 0.0; }), std::invalid_argument);

  registry.histogram("wait_seconds", "Wait.", {}, std::vector<double>{1, 2});
  EXPECT_THROW(registry.histogram("wait_seconds", "Wait.", {}, std::vector<double>{1, 3}), std::invalid_argument);
  registry.gauge_callback("queue_depth", "Depth.", [] { return 0.0; });
  EXPECT_THROW(registry.gauge_callback("queue_depth", "Depth.", [] { return 0.0; }), std::invalid_argument);
}

TEST(Registration, RefusesNamesThatWouldDuplicateSeries) {
  Registry registry;
  registry.histogram("rpc_seconds", "Latency.");
  EXPECT_THAT(invalid_argument_from([&] { registry.gauge("rpc_seconds_count", "Count."); }),
              HasSubstr("rpc_seconds_count"));
  registry.gauge("lag_seconds_sum", "Lag.");
  EXPECT_THROW(registry.histogram("lag_seconds", "Lag."), std::invalid_argument);
}

TEST(Registration, WrongNumberOfLabelValuesThrows) {
  Registry registry;
  auto& family = registry.counter("trips_total", "Trips.", {"city", "class"});
  EXPECT_THAT(invalid_argument_from([&] { family.with({"pune"}); }), HasSubstr("has 2 labels, but 1 values"));
}

TEST(Concurrency, IncrementsFromManyThreadsAreAllCounted) {
  Registry registry;
  auto& family = registry.counter("hits_total", "Hits.", {"route"});
  auto& histogram = registry.histogram("hit_seconds", "Hit latency.").with();
  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 50'000;
  constexpr std::uint64_t kTotal = std::uint64_t{kThreads} * kIncrementsPerThread;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& cached = family.with({"/health"});
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        // Half the threads look the child up each time, to exercise the shared lock path too.
        (t % 2 == 0 ? cached : family.with({"/health"})).inc();
        histogram.observe(0.002);
        if (i % 5'000 == 0) family.with({"/t" + std::to_string(t) + "/" + std::to_string(i)}).inc();
      }
    });
  }
  // Exposing while children are created and updated must be safe (and sanitizer-clean).
  for (int i = 0; i < 20; ++i) EXPECT_THAT(registry.expose(), HasSubstr("hits_total"));
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(family.with({"/health"}).value(), kTotal);
  EXPECT_EQ(histogram.count(), kTotal);
  const std::string text = registry.expose();
  EXPECT_EQ(sample(text, R"(hits_total{route="/health"})"), kTotal);
  EXPECT_EQ(sample(text, R"(hit_seconds_bucket{le="0.0025"})"), kTotal);
}

TEST(ProcessMetrics, ArePresentAndPlausible) {
  Registry registry;
  register_process_metrics(registry);
  const std::string text = registry.expose();
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

  EXPECT_GT(sample(text, "process_resident_memory_bytes"), 0);
  EXPECT_GT(sample(text, "process_virtual_memory_bytes"), sample(text, "process_resident_memory_bytes"));
  EXPECT_GE(sample(text, "process_cpu_seconds_total"), 0);
  EXPECT_GT(sample(text, "process_open_fds"), 0);
  EXPECT_GE(sample(text, "process_max_fds"), sample(text, "process_open_fds"));
  const double start_time = sample(text, "process_start_time_seconds");
  EXPECT_LE(start_time, now + 1);  // btime is whole seconds, so allow for rounding
  EXPECT_GT(start_time, now - 24 * 3600);
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_THROW(register_process_metrics(registry), std::invalid_argument);
}

TEST(ProcessMetrics, OpenFdsFollowsOpenFiles) {
  Registry registry;
  register_process_metrics(registry);
  const double before = sample(registry.expose(), "process_open_fds");
  std::ifstream extra("/proc/self/stat");
  ASSERT_TRUE(extra.is_open());
  EXPECT_EQ(sample(registry.expose(), "process_open_fds"), before + 1);
}

// A registry exercising everything the exposition can contain, as a service would expose it.
std::string tricky_exposition() {
  Registry registry;
  register_process_metrics(registry);
  auto& requests =
      registry.counter("http_requests_total", "Requests handled, by route template.", {"service", "route", "status"});
  requests.with({"user", "/api/v1/users/{id}", "200"}).inc(3);
  requests.with({"user", "quote\"back\\slash\nnewline", "500"}).inc();
  requests.with({"booking", "मुंबई → पुणे ✓", "201"}).inc();
  requests.with({"booking", "bad\xC3utf8", "400"}).inc();
  registry.gauge("bookings_in_flight", "Bookings between quote and completion.\nSecond line with \\ backslash.")
      .with()
      .set(-3);
  auto& gauges = registry.gauge("fare_estimate_ratio", "Edge-case values.", {"case"});
  gauges.with({"nan"}).set(std::numeric_limits<double>::quiet_NaN());
  gauges.with({"inf"}).set(std::numeric_limits<double>::infinity());
  gauges.with({"tiny"}).set(1e-300);
  gauges.with({"huge"}).set(1e300);
  auto& latency = registry.histogram("http_request_duration_seconds", "Request latency.", {"route"});
  for (double value : {0.0005, 0.003, 0.2, 3.0, 99.0}) latency.with({"/health"}).observe(value);
  latency.with({"a\"b"});
  registry.histogram("dispatch_round_drivers", "Drivers offered per dispatch round.", {}, std::vector<double>{1, 2, 5})
      .with()
      .observe(3);
  registry.gauge_callback("outbox_pending_rows", "Outbox rows not yet relayed.", [] { return 42.0; });
  return registry.expose();
}

TEST(Exposition, PromtoolAcceptsItWithoutLintWarnings) {
  const std::filesystem::path promtool = "/usr/bin/promtool";
  ASSERT_TRUE(std::filesystem::exists(promtool))
      << promtool << " not found: install the Debian package prometheus (apt-get install prometheus), "
      << "which provides promtool; this test checks the exposition format with it";

  const std::filesystem::path file =
      std::filesystem::path(::testing::TempDir()) / ("metrics_test_" + std::to_string(getpid()) + ".prom");
  const std::string text = tricky_exposition();
  {
    std::ofstream out(file, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << "cannot write " << file;
  }
  const std::string command = promtool.string() + " check metrics < '" + file.string() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << "cannot run " << command;
  std::string output;
  std::array<char, 4096> buffer{};
  for (std::size_t read = 0; (read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) {
    output.append(buffer.data(), read);
  }
  const int status = pclose(pipe);
  std::filesystem::remove(file);

  ASSERT_TRUE(WIFEXITED(status)) << command << " did not exit normally";
  EXPECT_EQ(WEXITSTATUS(status), 0) << output << "\nexposition:\n" << text;
  EXPECT_EQ(output, "") << "exposition:\n" << text;
}

}  // namespace
}  // namespace intercab::metrics
