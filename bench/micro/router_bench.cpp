// Route matching cost for a realistic table (static, parameter and nested routes).
#include <benchmark/benchmark.h>

#include "platform/http/router.hpp"

namespace {

intercab::http::Router make_router() {
  intercab::http::Router router;
  auto handler = [](intercab::http::Request&) { return intercab::http::Response::empty(204); };
  for (const char* resource : {"bookings", "quotes", "drivers", "vehicles", "payments", "wallets", "cities"}) {
    const std::string base = std::string("/api/v1/") + resource;
    router.add("GET", base, handler);
    router.add("POST", base, handler);
    router.add("GET", base + "/{id}", handler);
    router.add("PATCH", base + "/{id}", handler);
    router.add("POST", base + "/{id}/cancel", handler);
  }
  router.add("GET", "/health", handler);
  return router;
}

void BM_MatchHealth(benchmark::State& state) {
  auto router = make_router();
  for (auto _ : state) benchmark::DoNotOptimize(router.match("GET", "/health"));
}
BENCHMARK(BM_MatchHealth);

void BM_MatchParameterRoute(benchmark::State& state) {
  auto router = make_router();
  for (auto _ : state) benchmark::DoNotOptimize(router.match("POST", "/api/v1/bookings/bkg_01J9ZX/cancel"));
}
BENCHMARK(BM_MatchParameterRoute);

void BM_NotFound(benchmark::State& state) {
  auto router = make_router();
  for (auto _ : state) benchmark::DoNotOptimize(router.match("GET", "/api/v1/unknown/thing"));
}
BENCHMARK(BM_NotFound);

}  // namespace
