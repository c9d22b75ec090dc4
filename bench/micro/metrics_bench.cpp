// Cost of recording one request in the metrics (counter + histogram lookups by labels).
#include <benchmark/benchmark.h>

#include "platform/metrics/metrics.hpp"

namespace {

void BM_RecordRequest(benchmark::State& state) {
  intercab::metrics::Registry registry;
  auto& requests = registry.counter("http_requests_total", "Requests", {"method", "route", "status"});
  auto& duration = registry.histogram("http_request_duration_seconds", "Duration", {"method", "route"});
  for (auto _ : state) {
    requests.with({"GET", "/api/v1/bookings/{id}", "200"}).inc();
    duration.with({"GET", "/api/v1/bookings/{id}"}).observe(0.0042);
  }
}
BENCHMARK(BM_RecordRequest)->Threads(1)->Threads(2);

void BM_Expose(benchmark::State& state) {
  intercab::metrics::Registry registry;
  auto& duration = registry.histogram("http_request_duration_seconds", "Duration", {"method", "route"});
  for (int i = 0; i < 50; ++i) duration.with({"GET", "/route/" + std::to_string(i)}).observe(0.01);
  for (auto _ : state) benchmark::DoNotOptimize(registry.expose());
}
BENCHMARK(BM_Expose);

}  // namespace
