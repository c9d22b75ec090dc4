// The event bus contract, run against both adapters: the embedded bus (the producer's outbox is
// the log) and NATS JetStream (a real nats-server on a free loopback port). Stores are SQLite
// files; a producer "booking" writes state and events in one transaction, consumers
// "notification" and "analytics" apply them to their own databases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "nats_server.hpp"
#include "platform/events/bus.hpp"
#include "platform/events/bus_detail.hpp"
#include "platform/events/outbox.hpp"
#include "platform/jetstream/jetstream.hpp"
#include "platform/trace/current.hpp"
#include "platform/trace/trace.hpp"
#include "process.hpp"

namespace intercab::events {
namespace {

using namespace std::chrono_literals;

enum class Adapter { kEmbedded, kNats };

std::string adapter_name(const ::testing::TestParamInfo<Adapter>& info) {
  return info.param == Adapter::kEmbedded ? "Embedded" : "Nats";
}

// A service's database with the platform tables and a table for the test's own rows.
std::unique_ptr<db::Database> open_store(const std::filesystem::path& file) {
  auto store = db::Database::open("sqlite://" + file.string());
  apply_platform_migrations(*store);
  store->transact([](db::Tx& tx) {
    tx.sql() << "CREATE TABLE IF NOT EXISTS trips (id TEXT PRIMARY KEY, state TEXT NOT NULL)";
    // No unique constraint on purpose: an event applied twice would show up as two rows.
    tx.sql() << "CREATE TABLE IF NOT EXISTS effects (event_id TEXT NOT NULL, subject TEXT NOT NULL, "
                "sequence INTEGER NOT NULL, trace_id TEXT NOT NULL)";
  });
  return store;
}

long long count(db::Database& store, const std::string& sql) {
  return store.with_session([&](soci::session& session) {
    long long n = 0;
    session << sql, soci::into(n);
    return n;
  });
}

class BusContract : public ::testing::TestWithParam<Adapter> {
 protected:
  void SetUp() override {
    if (GetParam() == Adapter::kNats) {
      nats_ = std::make_unique<testing::NatsServer>();
      url_ = nats_->url();
    } else {
      url_ = "mem://";
    }
    for (const char* service : {"booking", "notification", "analytics"}) {
      stores_[service] = open_store(dir_.path() / (std::string(service) + ".db"));
    }
  }

  void TearDown() override {
    for (auto& [name, bus] : buses_) bus->stop();
    buses_.clear();
  }

  BusSettings settings(const std::string& service) {
    BusSettings settings;
    settings.service = service;
    settings.store = stores_.at(service).get();
    settings.events.relay_poll_ms = 50;
    settings.events.redelivery_backoff_ms = 50;
    settings.events.max_deliveries = 3;
    settings.events.publish_timeout_ms = 2000;
    settings.store_of = [this](const std::string& name) -> db::Database& { return *stores_.at(name); };
    return settings;
  }

  // Starts (or restarts) the bus of `service` with the given subscriptions.
  EventBus& start_bus(const std::string& service, std::vector<Subscription> subscriptions = {},
                      std::function<void(const Event&)> after_commit = {}) {
    if (auto it = buses_.find(service); it != buses_.end()) {
      it->second->stop();
      buses_.erase(it);
    }
    auto options = settings(service);
    options.after_commit = std::move(after_commit);
    auto bus = open_bus(url_, std::move(options));
    for (auto& subscription : subscriptions) bus->subscribe(std::move(subscription));
    bus->start();
    return *buses_.emplace(service, std::move(bus)).first->second;
  }

  // A handler that records the effect in the consumer's database.
  static Subscription recording(const std::string& topic = "booking.events") {
    return Subscription{topic, [](const Event& event, db::Tx& tx) {
                          const auto sequence = event.data.as_object().at("sequence").to_number<long long>();
                          const auto* trace = trace::current();
                          const std::string trace_id = trace ? trace->trace_id_hex() : "";
                          tx.sql() << "INSERT INTO effects (event_id, subject, sequence, trace_id) "
                                      "VALUES (:id, :subject, :sequence, :trace)",
                              soci::use(event.id), soci::use(event.subject), soci::use(sequence), soci::use(trace_id);
                        }};
  }

  // Commits `count` trips with one event each, the state row and the event in one transaction.
  void produce(int count, int first_sequence = 1, const std::string& subject_prefix = "trip-") {
    auto& store = *stores_.at("booking");
    for (int i = 0; i < count; ++i) {
      const int sequence = first_sequence + i;
      const auto subject = subject_prefix + std::to_string(sequence % 5);
      const std::string id = "t" + std::to_string(sequence);
      store.transact([&](db::Tx& tx) {
        tx.sql() << "INSERT INTO trips (id, state) VALUES (:id, 'requested')", soci::use(id);
        publish(tx, "booking.events",
                make_event("booking", "booking.created", subject, boost::json::object{{"sequence", sequence}}));
      });
    }
    if (auto it = buses_.find("booking"); it != buses_.end()) it->second->wake();
  }

  bool wait_for_effects(const std::string& consumer, long long expected, std::chrono::seconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(*stores_.at(consumer), "SELECT COUNT(*) FROM effects") >= expected) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // The sequences applied by `consumer`, in the order they were applied.
  std::vector<long long> applied_sequences(const std::string& consumer) {
    return stores_.at(consumer)->with_session([](soci::session& session) {
      std::vector<long long> sequences(100000);
      session << "SELECT sequence FROM effects ORDER BY rowid", soci::into(sequences);
      return sequences;
    });
  }

  testing::TempDir dir_{"intercab-bus"};
  std::unique_ptr<testing::NatsServer> nats_;
  std::string url_;
  std::map<std::string, std::unique_ptr<db::Database>> stores_;
  std::map<std::string, std::unique_ptr<EventBus>> buses_;
};

TEST_P(BusContract, EveryCommittedEventReachesEveryConsumerOnceAndInOrder) {
  start_bus("booking");
  start_bus("notification", {recording()});
  start_bus("analytics", {recording()});
  produce(120);
  ASSERT_TRUE(wait_for_effects("notification", 120));
  ASSERT_TRUE(wait_for_effects("analytics", 120));
  std::this_thread::sleep_for(300ms);  // anything extra would arrive now
  for (const char* consumer : {"notification", "analytics"}) {
    const auto sequences = applied_sequences(consumer);
    ASSERT_EQ(sequences.size(), 120U) << consumer;
    for (std::size_t i = 0; i < sequences.size(); ++i) EXPECT_EQ(sequences[i], static_cast<long long>(i + 1));
  }
  EXPECT_EQ(count(*stores_.at("booking"), "SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL"), 0);
}

TEST_P(BusContract, RolledBackTransactionsPublishNothing) {
  start_bus("booking");
  start_bus("notification", {recording()});
  auto& store = *stores_.at("booking");
  EXPECT_THROW(store.transact([&](db::Tx& tx) {
    publish(tx, "booking.events", make_event("booking", "booking.created", "x", boost::json::object{{"sequence", 0}}));
    throw std::runtime_error("the booking could not be saved");
  }),
               std::runtime_error);
  produce(1, 1);
  ASSERT_TRUE(wait_for_effects("notification", 1));
  std::this_thread::sleep_for(300ms);
  EXPECT_THAT(applied_sequences("notification"), ::testing::ElementsAre(1));
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM event_outbox"), 1);
}

TEST_P(BusContract, UnknownTopicIsRefusedInsideTheTransaction) {
  auto& store = *stores_.at("booking");
  EXPECT_THROW(
      store.transact([](db::Tx& tx) { publish(tx, "orders.events", make_event("booking", "x", "y", nullptr)); }),
      std::invalid_argument);
  EXPECT_EQ(count(store, "SELECT COUNT(*) FROM event_outbox"), 0);
}

TEST_P(BusContract, FailingHandlerIsRetriedAndAppliedOnce) {
  std::atomic<int> calls{0};
  Subscription flaky = recording();
  auto record = flaky.handler;
  flaky.handler = [&calls, record](const Event& event, db::Tx& tx) {
    record(event, tx);  // written, then rolled back by the throw below
    if (++calls <= 2) throw std::runtime_error("the mail server is down");
  };
  start_bus("booking");
  start_bus("notification", {flaky});
  produce(3);
  ASSERT_TRUE(wait_for_effects("notification", 3));
  std::this_thread::sleep_for(300ms);
  EXPECT_THAT(applied_sequences("notification"), ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(calls.load(), 5);
}

TEST_P(BusContract, PoisonEventIsDeadLetteredAndLaterEventsFlow) {
  Subscription picky = recording();
  auto record = picky.handler;
  picky.handler = [record](const Event& event, db::Tx& tx) {
    if (event.data.as_object().at("sequence").to_number<long long>() == 2) throw std::runtime_error("cannot apply 2");
    record(event, tx);
  };
  start_bus("booking");
  start_bus("notification", {picky});
  produce(4);
  ASSERT_TRUE(wait_for_effects("notification", 3));
  std::this_thread::sleep_for(300ms);
  EXPECT_THAT(applied_sequences("notification"), ::testing::ElementsAre(1, 3, 4));
  if (GetParam() == Adapter::kEmbedded) {
    auto& store = *stores_.at("notification");
    EXPECT_EQ(store.with_session([](soci::session& s) { return inbox::dead_letter_count(s, "notification"); }), 1);
  } else {
    std::string output;
    // The dead letter is in the DEAD_LETTERS stream under dlq.booking.events.
    jetstream::Connection connection({.url = url_, .name = "test"});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::uint64_t messages = 0;
    while (std::chrono::steady_clock::now() < deadline && messages == 0) {
      try {
        messages = connection.stream_info("DEAD_LETTERS").messages;
      } catch (const jetstream::JetStreamError&) {
      }
      if (messages == 0) std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(messages, 1U);
  }
}

TEST_P(BusContract, ConsumerResumesAfterRestartWithoutDuplicates) {
  start_bus("booking");
  start_bus("notification", {recording()});
  produce(10);
  ASSERT_TRUE(wait_for_effects("notification", 10));
  buses_.at("notification")->stop();
  produce(10, 11);
  start_bus("notification", {recording()});
  ASSERT_TRUE(wait_for_effects("notification", 20));
  std::this_thread::sleep_for(300ms);
  const auto sequences = applied_sequences("notification");
  ASSERT_EQ(sequences.size(), 20U);
  for (std::size_t i = 0; i < sequences.size(); ++i) EXPECT_EQ(sequences[i], static_cast<long long>(i + 1));
}

TEST_P(BusContract, EventsWrittenWhileTheProducerWasDownArePublishedWhenItStarts) {
  start_bus("notification", {recording()});
  produce(5);  // no relay running yet
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(count(*stores_.at("notification"), "SELECT COUNT(*) FROM effects"), 0);
  start_bus("booking");
  ASSERT_TRUE(wait_for_effects("notification", 5));
}

// The commit itself wakes the relay: nothing waits for the next poll (10 s here).
TEST_P(BusContract, CommittedEventsAreRelayedAtOnceWithoutPolling) {
  auto producer_settings = settings("booking");
  producer_settings.events.relay_poll_ms = 10'000;
  auto producer = open_bus(url_, producer_settings);
  producer->start();
  start_bus("notification", {recording()});
  std::this_thread::sleep_for(200ms);  // the relay's first round has run and it sleeps now
  const auto committed = std::chrono::steady_clock::now();
  stores_.at("booking")->transact([](db::Tx& tx) {
    publish(tx, "booking.events", make_event("booking", "booking.created", "t", boost::json::object{{"sequence", 1}}));
  });
  EXPECT_TRUE(wait_for_effects("notification", 1, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - committed, 5s);
  producer->stop();
}

TEST_P(BusContract, TraceContextFlowsFromProducerToConsumer) {
  start_bus("booking");
  start_bus("notification", {recording()});
  const auto trace = trace::new_root();
  {
    trace::ScopedTrace scoped(trace);
    produce(1);
  }
  ASSERT_TRUE(wait_for_effects("notification", 1));
  const auto trace_id = stores_.at("notification")->with_session([](soci::session& s) {
    std::string id;
    s << "SELECT trace_id FROM effects", soci::into(id);
    return id;
  });
  EXPECT_EQ(trace_id, trace.trace_id_hex());
}

TEST_P(BusContract, ConsumerMetricsAreExposed) {
  auto registry = std::make_shared<metrics::Registry>();
  start_bus("booking");
  auto options = settings("notification");
  options.metrics = registry;
  auto bus = open_bus(url_, options);
  bus->subscribe(recording());
  bus->start();
  produce(2);
  ASSERT_TRUE(wait_for_effects("notification", 2));
  bus->stop();
  const auto text = registry->expose();
  EXPECT_THAT(text,
              ::testing::HasSubstr("events_consumed_total{topic=\"booking.events\",consumer=\"notification\"} 2"));
  EXPECT_THAT(text, ::testing::HasSubstr("events_end_to_end_seconds_bucket"));
}

INSTANTIATE_TEST_SUITE_P(Adapters, BusContract, ::testing::Values(Adapter::kEmbedded, Adapter::kNats), adapter_name);

TEST(Inbox, ApplyingTheSameEventTwiceHasOneEffect) {
  testing::TempDir dir("intercab-inbox");
  auto store = open_store(dir.path() / "consumer.db");
  const auto event = make_event("booking", "booking.created", "t", boost::json::object{{"sequence", 1}});
  int calls = 0;
  const Handler handler = [&calls](const Event&, db::Tx& tx) {
    ++calls;
    tx.sql() << "INSERT INTO effects (event_id, subject, sequence, trace_id) VALUES ('e', 's', 1, '')";
  };
  EXPECT_TRUE(detail::apply_once(*store, "notification", "booking.events", event, handler));
  EXPECT_FALSE(detail::apply_once(*store, "notification", "booking.events", event, handler));
  EXPECT_TRUE(detail::apply_once(*store, "analytics", "booking.events", event, handler));  // another consumer
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(count(*store, "SELECT COUNT(*) FROM effects"), 2);
}

}  // namespace
}  // namespace intercab::events
