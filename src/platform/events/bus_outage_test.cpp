// Broker outage: nats-server stops while a producer keeps committing events, and comes back on
// the same port and store. Every event must reach each consumer group exactly once, in order per
// aggregate, and /ready's bus check must turn false during the outage and true again after.
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <map>
#include <thread>

#include "nats_server.hpp"
#include "platform/events/bus.hpp"
#include "platform/events/outbox.hpp"
#include "process.hpp"

namespace intercab::events {
namespace {

using namespace std::chrono_literals;

constexpr int kEvents = 300;
constexpr int kAggregates = 7;

std::unique_ptr<db::Database> open_store(const std::filesystem::path& file) {
  auto store = db::Database::open("sqlite://" + file.string());
  apply_platform_migrations(*store);
  store->transact([](db::Tx& tx) {
    tx.sql() << "CREATE TABLE IF NOT EXISTS effects (event_id TEXT NOT NULL, subject TEXT NOT NULL, "
                "sequence INTEGER NOT NULL)";
  });
  return store;
}

TEST(BusOutage, NatsRestartLosesNothingDuplicatesNothingAndKeepsOrderPerAggregate) {
  testing::NatsServer nats;
  testing::TempDir dir("intercab-outage");
  std::map<std::string, std::unique_ptr<db::Database>> stores;
  for (const char* service : {"booking", "notification", "analytics"}) {
    stores[service] = open_store(dir.path() / (std::string(service) + ".db"));
  }
  auto settings_for = [&](const std::string& service) {
    BusSettings settings;
    settings.service = service;
    settings.store = stores.at(service).get();
    settings.events.relay_poll_ms = 50;
    settings.events.publish_timeout_ms = 1000;
    settings.events.redelivery_backoff_ms = 50;
    settings.events.ack_wait_s = 2;
    return settings;
  };
  auto producer = open_bus(nats.url(), settings_for("booking"));
  std::vector<std::unique_ptr<EventBus>> consumers;
  for (const char* service : {"notification", "analytics"}) {
    auto bus = open_bus(nats.url(), settings_for(service));
    bus->subscribe({"booking.events", [](const Event& event, db::Tx& tx) {
                      const auto sequence = event.data.as_object().at("sequence").to_number<long long>();
                      tx.sql() << "INSERT INTO effects (event_id, subject, sequence) VALUES (:id, :subject, :sequence)",
                          soci::use(event.id), soci::use(event.subject), soci::use(sequence);
                    }});
    bus->start();
    consumers.push_back(std::move(bus));
  }
  producer->start();
  ASSERT_TRUE(testing::eventually([&] { return !producer->unavailable_reason(); }, 10s));

  // Producing: one event every ~10 ms for about 3 s, the outage in the middle.
  std::atomic<int> produced{0};
  std::thread writer([&] {
    for (int sequence = 1; sequence <= kEvents; ++sequence) {
      const auto subject = "booking-" + std::to_string(sequence % kAggregates);
      stores.at("booking")->transact([&](db::Tx& tx) {
        publish(tx, "booking.events",
                make_event("booking", "booking.updated", subject, boost::json::object{{"sequence", sequence}}));
      });
      producer->wake();
      produced = sequence;
      std::this_thread::sleep_for(10ms);
    }
  });
  ASSERT_TRUE(testing::eventually([&] { return produced.load() >= kEvents / 3; }, 30s));
  nats.stop();
  EXPECT_TRUE(testing::eventually([&] { return producer->unavailable_reason().has_value(); }, 10s))
      << "the bus should report the lost broker";
  std::this_thread::sleep_for(1s);  // events keep being committed to the outbox meanwhile
  nats.start();
  EXPECT_TRUE(testing::eventually([&] { return !producer->unavailable_reason(); }, 20s))
      << "the bus should recover by itself: " << producer->unavailable_reason().value_or("");
  writer.join();

  for (const char* consumer : {"notification", "analytics"}) {
    auto& store = *stores.at(consumer);
    auto applied = [&] {
      return store.with_session([](soci::session& sql) {
        long long n = 0;
        sql << "SELECT COUNT(*) FROM effects", soci::into(n);
        return n;
      });
    };
    ASSERT_TRUE(testing::eventually([&] { return applied() >= kEvents; }, 60s)) << consumer << " got " << applied();
  }
  std::this_thread::sleep_for(500ms);  // a late duplicate would land now
  for (const char* consumer : {"notification", "analytics"}) {
    auto rows = stores.at(consumer)->with_session([](soci::session& sql) {
      std::vector<std::string> subjects(2 * kEvents);
      std::vector<long long> sequences(2 * kEvents);
      sql << "SELECT subject, sequence FROM effects ORDER BY rowid", soci::into(subjects), soci::into(sequences);
      return std::make_pair(subjects, sequences);
    });
    ASSERT_EQ(rows.second.size(), static_cast<std::size_t>(kEvents)) << consumer << ": each event exactly once";
    std::map<std::string, long long> last_per_aggregate;
    for (std::size_t i = 0; i < rows.first.size(); ++i) {
      auto& last = last_per_aggregate[rows.first[i]];
      EXPECT_GT(rows.second[i], last) << consumer << ": " << rows.first[i] << " out of order";
      last = rows.second[i];
    }
  }
  for (auto& bus : consumers) bus->stop();
  producer->stop();
}

}  // namespace
}  // namespace intercab::events
