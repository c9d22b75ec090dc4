// A small program the crash test runs and kills: it plays a producer service ("booking") or a
// consumer service ("notification") on SQLite databases in a directory, over the bus of
// EVENTS_URL-style argument. Modes:
//   events_probe produce DIR BUS COUNT         commit COUNT state changes with one event each, print
//                                              "committed", then wait to be killed (no relay runs)
//   events_probe relay DIR BUS                 run booking's outbox relay until killed
//   events_probe consume DIR BUS EXPECTED [DIE_AFTER]
//                                              apply events to notification's database; with DIE_AFTER,
//                                              SIGKILL itself right after the DIE_AFTER-th effect committed
//                                              (before the event is acknowledged); otherwise exit 0 once
//                                              EXPECTED effects exist, printing "duplicates N"
#include <signal.h>
#include <soci/soci.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "platform/events/bus.hpp"
#include "platform/events/outbox.hpp"

namespace {

using namespace intercab;
using namespace std::chrono_literals;

std::unique_ptr<db::Database> open_store(const std::filesystem::path& dir, const std::string& service) {
  auto store = db::Database::open("sqlite://" + (dir / (service + ".db")).string());
  events::apply_platform_migrations(*store);
  store->transact([](db::Tx& tx) {
    tx.sql() << "CREATE TABLE IF NOT EXISTS trips (id TEXT PRIMARY KEY)";
    tx.sql() << "CREATE TABLE IF NOT EXISTS effects (event_id TEXT NOT NULL, sequence INTEGER NOT NULL)";
  });
  return store;
}

long long effects(db::Database& store) {
  return store.with_session([](soci::session& sql) {
    long long n = 0;
    sql << "SELECT COUNT(*) FROM effects", soci::into(n);
    return n;
  });
}

events::BusSettings settings(const std::string& service, db::Database& store, db::Database& producer) {
  events::BusSettings settings;
  settings.service = service;
  settings.store = &store;
  settings.events.relay_poll_ms = 50;
  settings.events.redelivery_backoff_ms = 50;
  settings.events.ack_wait_s = 2;  // a killed consumer's unacknowledged event comes back soon
  settings.store_of = [&producer](const std::string&) -> db::Database& { return producer; };
  return settings;
}

int produce(const std::filesystem::path& dir, int count) {
  auto store = open_store(dir, "booking");
  for (int i = 1; i <= count; ++i) {
    const std::string id = "trip-" + std::to_string(i);
    store->transact([&](db::Tx& tx) {
      tx.sql() << "INSERT INTO trips (id) VALUES (:id)", soci::use(id);
      events::publish(tx, "booking.events",
                      events::make_event("booking", "booking.created", id, boost::json::object{{"sequence", i}}));
    });
  }
  std::cout << "committed" << std::endl;
  for (;;) pause();
}

int relay(const std::filesystem::path& dir, const std::string& bus_url) {
  auto store = open_store(dir, "booking");
  auto bus = events::open_bus(bus_url, settings("booking", *store, *store));
  bus->start();
  std::cout << "relaying" << std::endl;
  for (;;) pause();
}

int consume(const std::filesystem::path& dir, const std::string& bus_url, long long expected, long long die_after) {
  auto producer = open_store(dir, "booking");
  auto store = open_store(dir, "notification");
  std::atomic<long long> committed{0};
  auto options = settings("notification", *store, *producer);
  auto registry = std::make_shared<metrics::Registry>();
  options.metrics = registry;
  options.after_commit = [&committed, die_after](const events::Event&) {
    if (++committed == die_after) ::kill(::getpid(), SIGKILL);  // effect committed, not yet acknowledged
  };
  auto bus = events::open_bus(bus_url, std::move(options));
  bus->subscribe({"booking.events", [](const events::Event& event, db::Tx& tx) {
                    const auto sequence = event.data.as_object().at("sequence").to_number<long long>();
                    tx.sql() << "INSERT INTO effects (event_id, sequence) VALUES (:id, :sequence)", soci::use(event.id),
                        soci::use(sequence);
                  }});
  bus->start();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (effects(*store) < expected && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  // An event delivered to the killed consumer and never acknowledged comes back after ack_wait
  // (2 s), possibly after the later ones: give it time to arrive and be skipped.
  std::this_thread::sleep_for(3s);
  bus->stop();
  const auto text = registry->expose();
  const std::string key = "events_duplicates_total{topic=\"booking.events\",consumer=\"notification\"} ";
  const auto at = text.find(key);
  std::cout << "duplicates "
            << (at == std::string::npos ? "0" : text.substr(at + key.size(), text.find('\n', at) - at - key.size()))
            << std::endl;
  return effects(*store) >= expected ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: events_probe produce|relay|consume DIR BUS_URL [COUNT|EXPECTED [DIE_AFTER]]\n";
    return 2;
  }
  const std::string mode = argv[1];
  const std::filesystem::path dir = argv[2];
  const std::string bus_url = argv[3];
  try {
    if (mode == "produce" && argc == 5) return produce(dir, std::stoi(argv[4]));
    if (mode == "relay") return relay(dir, bus_url);
    if (mode == "consume" && argc >= 5)
      return consume(dir, bus_url, std::stoll(argv[4]), argc > 5 ? std::stoll(argv[5]) : -1);
  } catch (const std::exception& error) {
    std::cerr << "events_probe: " << error.what() << "\n";
    return 1;
  }
  std::cerr << "events_probe: bad arguments\n";
  return 2;
}
