// Event bus throughput and end-to-end latency, embedded bus vs NATS JetStream, in one run.
// A producer commits one event per transaction (SQLite, WAL, synchronous=FULL: every commit is
// flushed to disk); its commit wakes the relay; a consumer applies each event with its inbox row in one
// transaction of its own database. Two measurements per bus:
//   throughput: the producer commits as fast as it can; events per second from the first commit
//               until the consumer committed the last effect (latency then is mostly queueing);
//   latency:    the producer commits 200 events per second; the time of each event from just
//               before its commit to its effect committed (p50, p99).
// Usage: events_bench [EVENTS]   (default 5000; nats-server must be installed: scripts/bootstrap)
#include <soci/soci.h>

#include <algorithm>
#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "nats_server.hpp"
#include "platform/events/bus.hpp"
#include "platform/events/outbox.hpp"
#include "platform/log/log.hpp"
#include "process.hpp"

namespace {

using namespace intercab;
using Clock = std::chrono::steady_clock;

struct Result {
  double events_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

std::unique_ptr<db::Database> open_store(const std::filesystem::path& file) {
  auto store = db::Database::open("sqlite://" + file.string());
  events::apply_platform_migrations(*store);
  store->transact([](db::Tx& tx) { tx.sql() << "CREATE TABLE IF NOT EXISTS effects (event_id TEXT NOT NULL)"; });
  return store;
}

Result run(const std::string& bus_url, int count, int events_per_s) {
  testing::TempDir dir("intercab-events-bench");
  auto producer_store = open_store(dir.path() / "booking.db");
  auto consumer_store = open_store(dir.path() / "notification.db");
  auto settings_for = [&](const std::string& service, db::Database& store) {
    events::BusSettings settings;
    settings.service = service;
    settings.store = &store;
    settings.store_of = [&producer_store](const std::string&) -> db::Database& { return *producer_store; };
    return settings;
  };
  std::mutex mutex;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(count));
  std::atomic<int> consumed{0};
  auto producer = events::open_bus(bus_url, settings_for("booking", *producer_store));
  auto options = settings_for("notification", *consumer_store);
  // Latency is taken when the effect has committed, from the send time the producer put in data.
  options.after_commit = [&](const events::Event& event) {
    const auto sent_ns = event.data.as_object().at("sent_ns").to_number<std::int64_t>();
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    std::lock_guard lock(mutex);
    latencies_ms.push_back(static_cast<double>(now_ns - sent_ns) / 1e6);
    ++consumed;
  };
  auto consumer = events::open_bus(bus_url, std::move(options));
  consumer->subscribe({"booking.events", [](const events::Event& event, db::Tx& tx) {
                         tx.sql() << "INSERT INTO effects (event_id) VALUES (:id)", soci::use(event.id);
                       }});
  producer->start();
  consumer->start();

  const auto started = Clock::now();
  for (int i = 0; i < count; ++i) {
    if (events_per_s > 0)
      std::this_thread::sleep_until(started + i * std::chrono::microseconds(1'000'000 / events_per_s));
    const auto sent_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    producer_store->transact([&](db::Tx& tx) {
      events::publish(tx, "booking.events",
                      events::make_event("booking", "booking.created", "trip-" + std::to_string(i % 64),
                                         boost::json::object{{"sent_ns", sent_ns}}));
    });
  }
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (consumed.load() < count && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  consumer->stop();
  producer->stop();

  Result result;
  std::lock_guard lock(mutex);
  if (latencies_ms.size() < static_cast<std::size_t>(count)) {
    std::cerr << bus_url << ": only " << latencies_ms.size() << " of " << count << " events arrived in time\n";
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  result.events_per_s = static_cast<double>(latencies_ms.size()) / elapsed;
  if (!latencies_ms.empty()) {
    result.p50_ms = latencies_ms[latencies_ms.size() / 2];
    result.p99_ms = latencies_ms[std::min(latencies_ms.size() - 1, latencies_ms.size() * 99 / 100)];
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5000;
  log::init({"warn", "events_bench", {}});
  testing::NatsServer nats;
  std::printf("%d events, one per transaction, producer and consumer on SQLite (WAL)\n", count);
  std::printf("%-10s %-28s %12s %10s %10s\n", "bus", "load", "events/s", "p50 ms", "p99 ms");
  const std::vector<std::pair<std::string, std::string>> buses = {{"embedded", "mem://"}, {"nats", nats.url()}};
  for (int round = 1; round <= 2; ++round) {
    for (const auto& [name, url] : buses) {
      const auto result = run(url, count, 0);
      std::printf("%-10s %-28s %12.0f %10.2f %10.2f\n", name.c_str(), "as fast as possible", result.events_per_s,
                  result.p50_ms, result.p99_ms);
    }
    for (const auto& [name, url] : buses) {
      const auto result = run(url, std::min(count, 1000), 200);
      std::printf("%-10s %-28s %12.0f %10.2f %10.2f\n", name.c_str(), "paced, 200 events/s", result.events_per_s,
                  result.p50_ms, result.p99_ms);
    }
  }
  return 0;
}
