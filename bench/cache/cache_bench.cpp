// Throughput and latency of the cache port's get and set, for the memory adapter and for the Redis
// adapter over loopback: a fixed number of operations split over 1 or 2 threads, each timed.
//
//   cache_bench [--redis-url redis://127.0.0.1:PORT] [--threads 1,2] [--memory-ops N] [--redis-ops N] [--tsv]
// Without --redis-url it starts its own redis-server on a free loopback port and stops it at exit.
// bench/cache/run passes the Redis it also measures with redis-benchmark, and reads the --tsv output.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "platform/cache/cache.hpp"
#include "redis_server.hpp"

namespace {

using namespace intercab;
using Clock = std::chrono::steady_clock;

// Like redis-benchmark's defaults: 3-byte values. 1000 keys rather than its single one, so that the
// memory adapter's shards are exercised as in real use.
constexpr int kKeys = 1000;
const std::string kValue = "xxx";

struct Result {
  std::string adapter;
  std::string operation;
  int threads = 0;
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

double percentile_us(std::vector<std::uint32_t>& sorted_ns, double fraction) {
  if (sorted_ns.empty()) return 0;
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(sorted_ns.size() - 1));
  return sorted_ns[index] / 1000.0;
}

Result measure(cache::Cache& cache, const std::string& operation, int threads, long operations,
               const std::vector<std::string>& keys) {
  std::vector<std::vector<std::uint32_t>> latencies(threads);
  std::vector<std::thread> workers;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  const long per_thread = operations / threads;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& mine = latencies[t];
      mine.reserve(per_thread);
      ++ready;
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (long i = 0; i < per_thread; ++i) {
        const auto& key = keys[static_cast<std::size_t>((i * 7 + t * 13) % kKeys)];
        const auto before = Clock::now();
        if (operation == "set") {
          cache.set(key, kValue);
        } else if (!cache.get(key)) {
          std::abort();  // every key was written before the gets
        }
        mine.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - before).count(), UINT32_MAX)));
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& worker : workers) worker.join();
  const std::chrono::duration<double> elapsed = Clock::now() - start;

  std::vector<std::uint32_t> all;
  for (auto& mine : latencies) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  return Result{std::string(cache.adapter_name()),
                operation,
                threads,
                static_cast<double>(per_thread * threads) / elapsed.count(),
                percentile_us(all, 0.50),
                percentile_us(all, 0.99)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Throughput and latency of the cache adapters' get and set"};
  std::string redis_url;
  std::vector<int> thread_counts{2, 1};
  long memory_ops = 2'000'000;
  long redis_ops = 200'000;
  bool tsv = false;
  app.add_option("--redis-url", redis_url, "Redis to measure (default: start a redis-server on a free port)");
  app.add_option("--threads", thread_counts, "thread counts to measure")->delimiter(',');
  app.add_option("--memory-ops", memory_ops, "operations per memory measurement")->check(CLI::PositiveNumber);
  app.add_option("--redis-ops", redis_ops, "operations per Redis measurement")->check(CLI::PositiveNumber);
  app.add_flag("--tsv", tsv, "print tab-separated lines: adapter op threads ops_per_s p50_us p99_us");
  CLI11_PARSE(app, argc, argv);

  try {
    std::unique_ptr<testing::RedisServer> own_redis;
    if (redis_url.empty()) {
      own_redis = std::make_unique<testing::RedisServer>();
      redis_url = own_redis->url();
    }
    std::vector<std::string> keys;
    for (int i = 0; i < kKeys; ++i) keys.push_back("bench:key:" + std::to_string(i));

    std::vector<Result> results;
    for (const auto& [url, operations] : {std::pair<std::string, long>{"mem://", memory_ops}, {redis_url, redis_ops}}) {
      const auto max_threads = *std::max_element(thread_counts.begin(), thread_counts.end());
      auto cache = cache::open_cache(url, cache::CacheOptions{.redis_pool_size = std::max(max_threads, 1)});
      if (auto reason = cache->unavailable_reason()) throw std::runtime_error(*reason);
      for (const auto& key : keys) cache->set(key, kValue);  // also warms the connection pool
      for (const char* operation : {"set", "get"}) {
        for (int threads : thread_counts) results.push_back(measure(*cache, operation, threads, operations, keys));
      }
    }

    if (!tsv) std::printf("%-8s %-4s %7s %12s %9s %9s\n", "adapter", "op", "threads", "ops/s", "p50 us", "p99 us");
    for (const auto& r : results) {
      std::printf(tsv ? "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\n" : "%-8s %-4s %7d %12.0f %9.2f %9.2f\n", r.adapter.c_str(),
                  r.operation.c_str(), r.threads, r.ops_per_s, r.p50_us, r.p99_us);
    }
  } catch (const std::exception& error) {
    std::cerr << "cache_bench: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
