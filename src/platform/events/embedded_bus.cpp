// The embedded bus (EVENTS_URL=mem://): no broker. The relay numbers this service's outbox rows
// into per-topic logs (position 1, 2, 3...) in the producer's own database; a consumer reads the
// producer's log after its saved position and saves the new position in its own database in the
// transaction of the effect. Works in one process and across processes sharing the databases.
#include <map>
#include <stdexcept>

#include "platform/events/adapters.hpp"
#include "platform/events/bus_detail.hpp"
#include "platform/events/outbox.hpp"
#include "platform/log/log.hpp"

namespace intercab::events {
namespace {

constexpr int kRelayBatch = 500;
constexpr int kReadBatch = 200;
// PostgreSQL: one relay at a time per database, whichever process it runs in, so positions are
// handed out in one sequence with no gaps a reader could skip.
constexpr long long kRelayLockKey = 0x1ca6'0e7e'0001LL;

class EmbeddedBus final : public EventBus {
 public:
  explicit EmbeddedBus(BusSettings settings)
      : settings_(std::move(settings)),
        metrics_(*settings_.metrics),
        relay_(std::chrono::milliseconds(settings_.events.relay_poll_ms), [this] { return relay_step(); }) {}

  ~EmbeddedBus() override { stop(); }

  void subscribe(Subscription subscription) override {
    if (!is_topic(subscription.topic)) {
      throw std::invalid_argument("cannot subscribe to unknown topic '" + subscription.topic + "'");
    }
    auto consumer = std::make_unique<Consumer>();
    consumer->subscription = std::move(subscription);
    auto* raw = consumer.get();
    consumer->loop = std::make_unique<detail::WorkerLoop>(std::chrono::milliseconds(settings_.events.relay_poll_ms),
                                                          [this, raw] { return consume_step(*raw); });
    consumers_.push_back(std::move(consumer));
  }

  void start() override {
    detail::watch_outbox(&relay_);
    relay_.start();
    for (auto& consumer : consumers_) {
      detail::watch_topic(consumer->subscription.topic, consumer->loop.get());
      consumer->loop->start();
    }
  }

  void stop() override {
    for (auto& consumer : consumers_) {
      detail::unwatch_topic(consumer->subscription.topic, consumer->loop.get());
      consumer->loop->stop();
    }
    detail::unwatch_outbox(&relay_);
    relay_.stop();
  }

  void wake() override { relay_.wake(); }

  std::optional<std::string> unavailable_reason() override {
    // The log lives in the databases, whose own readiness checks report them.
    return std::nullopt;
  }

  std::string_view adapter_name() const override { return "embedded"; }

 private:
  struct Consumer {
    Subscription subscription;
    std::unique_ptr<detail::WorkerLoop> loop;
    std::optional<long long> position;  // read once from the consumer's database, then kept here
    int failed_attempts = 0;            // of the event after `position`
  };

  bool relay_step() {
    // A read first: most rounds find nothing, and they need not take SQLite's write lock for that.
    const bool pending =
        settings_.store->with_session([](soci::session& sql) { return !outbox::unpublished(sql, 1).empty(); });
    if (!pending) return false;
    std::map<std::string, long long> published;  // topic -> events numbered this round
    settings_.store->transact([&](db::Tx& tx) {
      published.clear();
      if (tx.dialect() == db::Dialect::kPostgres) tx.sql() << "SELECT pg_advisory_xact_lock(" << kRelayLockKey << ")";
      std::map<std::string, long long> next_position;
      for (const auto& row : outbox::unpublished(tx.sql(), kRelayBatch)) {
        auto [it, added] = next_position.try_emplace(row.topic, 0);
        if (added) it->second = outbox::last_position(tx, row.topic);
        outbox::mark_published(tx, row.seq, ++it->second);
        ++published[row.topic];
      }
    });
    for (const auto& [topic, count] : published) {
      metrics_.published.with({topic}).inc(static_cast<double>(count));
      detail::notify_topic(topic);
    }
    return !published.empty();
  }

  bool consume_step(Consumer& consumer) {
    const auto& topic = consumer.subscription.topic;
    const auto& name = settings_.service;
    if (!consumer.position) {
      consumer.position = settings_.store->transact([&](db::Tx& tx) { return inbox::offset(tx, name, topic); });
    }
    auto& producer = settings_.store_of(producer_of(topic));
    const auto entries = producer.with_session(
        [&](soci::session& sql) { return outbox::read_log(sql, topic, *consumer.position, kReadBatch); });
    for (const auto& entry : entries) {
      if (!consumer.loop->running()) return false;
      const auto advance = [&](db::Tx& tx) { inbox::set_offset(tx, name, topic, entry.position); };
      Event event;
      try {
        event = parse_event(entry.envelope);
      } catch (const InvalidEvent& error) {
        give_up(consumer, entry, "", error.what());
        continue;
      }
      if (consumer.failed_attempts > 0) metrics_.redeliveries.with({topic, name}).inc();
      try {
        const bool applied =
            detail::apply_once(*settings_.store, name, topic, event, consumer.subscription.handler, advance);
        consumer.position = entry.position;
        consumer.failed_attempts = 0;
        if (applied) {
          metrics_.consumed.with({topic, name}).inc();
          metrics_.latency.with({topic, name}).observe(detail::seconds_since(event.time));
        } else {
          metrics_.duplicates.with({topic, name}).inc();
        }
        if (settings_.after_commit) settings_.after_commit(event);
      } catch (const std::exception& error) {
        metrics_.failures.with({topic, name}).inc();
        ++consumer.failed_attempts;
        log::warn("event handler failed", {{"topic", topic},
                                           {"event_id", event.id},
                                           {"type", event.type},
                                           {"attempt", consumer.failed_attempts},
                                           {"error", error.what()}});
        if (consumer.failed_attempts >= settings_.events.max_deliveries) {
          give_up(consumer, entry, event.id, error.what());
          continue;
        }
        // Later events wait for this one: order within the topic is kept.
        consumer.loop->pause(detail::redelivery_delay(std::chrono::milliseconds(settings_.events.redelivery_backoff_ms),
                                                      consumer.failed_attempts));
        return true;
      }
    }
    return entries.size() == static_cast<std::size_t>(kReadBatch);
  }

  // Moves an event that cannot be applied to the dead letters and reads on.
  void give_up(Consumer& consumer, const outbox::LogEntry& entry, const std::string& event_id,
               const std::string& error) {
    const auto& topic = consumer.subscription.topic;
    const auto& name = settings_.service;
    const auto id = event_id.empty() ? "position-" + std::to_string(entry.position) : event_id;
    settings_.store->transact([&](db::Tx& tx) {
      inbox::dead_letter(tx, name, topic, id, entry.envelope, error, std::max(1, consumer.failed_attempts));
      inbox::set_offset(tx, name, topic, entry.position);
    });
    log::error("event dead-lettered", {{"topic", topic}, {"event_id", id}, {"error", error}});
    metrics_.dead_lettered.with({topic, name}).inc();
    consumer.position = entry.position;
    consumer.failed_attempts = 0;
  }

  BusSettings settings_;
  detail::BusMetrics metrics_;
  detail::WorkerLoop relay_;
  std::vector<std::unique_ptr<Consumer>> consumers_;
};

}  // namespace

std::unique_ptr<EventBus> make_embedded_bus(BusSettings settings) {
  return std::make_unique<EmbeddedBus>(std::move(settings));
}

}  // namespace intercab::events
