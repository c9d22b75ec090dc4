// The NATS JetStream bus (EVENTS_URL=nats://host:port). One stream per topic (BOOKING_EVENTS
// captures booking.events), file storage, retention and duplicate window from config. The relay
// publishes outbox rows in order with Nats-Msg-Id = event id and marks a row published only once
// JetStream acknowledged it; after a crash between the two, the republished event is dropped by
// the stream's duplicate window. Consumers are durable pull consumers named after the consuming
// service; an event is acknowledged after its effect committed, failures are redelivered with
// growing delays, and after events.max_deliveries attempts the event goes to dlq.<topic>.
// Durability note: JetStream fsyncs its files periodically (not per message) by default.
#include <map>
#include <set>
#include <stdexcept>

#include "platform/events/adapters.hpp"
#include "platform/events/bus_detail.hpp"
#include "platform/events/outbox.hpp"
#include "platform/jetstream/jetstream.hpp"
#include "platform/log/log.hpp"

namespace intercab::events {
namespace {

constexpr int kRelayBatch = 256;
constexpr auto kFetchWait = std::chrono::milliseconds(500);
const std::string kDeadLetterStream = "DEAD_LETTERS";

std::string stream_for(const std::string& topic) {
  std::string name;
  for (char c : topic) name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

class NatsBus final : public EventBus {
 public:
  NatsBus(const std::string& url, BusSettings settings)
      : settings_(std::move(settings)),
        metrics_(*settings_.metrics),
        connection_(jetstream::ConnectionOptions{.url = url, .name = "intercab-" + settings_.service}),
        relay_(std::chrono::milliseconds(settings_.events.relay_poll_ms), [this] { return relay_step(); }) {}

  ~NatsBus() override { stop(); }

  void subscribe(Subscription subscription) override {
    if (!is_topic(subscription.topic)) {
      throw std::invalid_argument("cannot subscribe to unknown topic '" + subscription.topic + "'");
    }
    auto consumer = std::make_unique<Consumer>();
    consumer->subscription = std::move(subscription);
    auto* raw = consumer.get();
    // Fetch waits for messages itself, so the loop needs no idle wait of its own.
    consumer->loop =
        std::make_unique<detail::WorkerLoop>(std::chrono::milliseconds(1), [this, raw] { return consume_step(*raw); });
    consumers_.push_back(std::move(consumer));
  }

  void start() override {
    detail::watch_outbox(&relay_);
    relay_.start();
    for (auto& consumer : consumers_) consumer->loop->start();
  }

  void stop() override {
    for (auto& consumer : consumers_) consumer->loop->stop();
    detail::unwatch_outbox(&relay_);
    relay_.stop();
  }

  void wake() override { relay_.wake(); }

  std::optional<std::string> unavailable_reason() override {
    if (auto reason = connection_.unavailable_reason()) return "NATS: " + *reason;
    return std::nullopt;
  }

  std::string_view adapter_name() const override { return "nats"; }

 private:
  struct Consumer {
    Subscription subscription;
    std::unique_ptr<detail::WorkerLoop> loop;
    std::optional<jetstream::PullConsumer> pull;
  };

  void ensure_stream(const std::string& topic) {
    {
      std::lock_guard lock(streams_mutex_);
      if (streams_ready_.contains(topic)) return;
    }
    jetstream::StreamSettings stream;
    stream.name = topic == "dlq.>" ? kDeadLetterStream : stream_for(topic);
    stream.subjects = {topic};
    stream.max_age = std::chrono::hours(24) * settings_.events.retention_days;
    stream.duplicate_window = std::chrono::seconds(settings_.events.duplicate_window_s);
    connection_.ensure_stream(stream);
    std::lock_guard lock(streams_mutex_);
    streams_ready_.insert(topic);
  }

  void forget_streams() {
    std::lock_guard lock(streams_mutex_);
    streams_ready_.clear();
  }

  bool relay_step() {
    const auto rows =
        settings_.store->with_session([](soci::session& sql) { return outbox::unpublished(sql, kRelayBatch); });
    if (rows.empty()) return false;
    std::vector<std::pair<long long, long long>> acknowledged;  // outbox seq -> stream sequence
    std::map<std::string, long long> published;
    std::optional<std::string> failure;
    for (const auto& row : rows) {
      try {
        ensure_stream(row.topic);
        const jetstream::Headers headers{{"Ce-Type", row.type}, {"Ce-Id", row.event_id}};
        const auto ack =
            connection_.publish(row.topic, row.envelope, row.event_id, headers,
                                std::chrono::milliseconds(settings_.events.publish_timeout_ms), stream_for(row.topic));
        acknowledged.emplace_back(row.seq, static_cast<long long>(ack.sequence));
        ++published[row.topic];
      } catch (const jetstream::JetStreamError& error) {
        // Later rows wait for this one: the stream keeps the outbox order.
        metrics_.publish_failures.with({row.topic}).inc();
        failure = error.what();
        forget_streams();  // the stream may have been lost with a server's store: ensure it again
        break;
      }
    }
    if (!acknowledged.empty()) {
      settings_.store->transact([&](db::Tx& tx) {
        for (const auto& [seq, sequence] : acknowledged) outbox::mark_published(tx, seq, sequence);
      });
    }
    for (const auto& [topic, count] : published) metrics_.published.with({topic}).inc(static_cast<double>(count));
    if (failure) {
      warn_throttled("cannot publish events to NATS; they stay in the outbox and are sent when it is back", *failure);
      return false;  // the loop waits relay_poll_ms before trying again
    }
    return rows.size() == static_cast<std::size_t>(kRelayBatch) || !acknowledged.empty();
  }

  bool consume_step(Consumer& consumer) {
    const auto& topic = consumer.subscription.topic;
    const auto& name = settings_.service;
    std::vector<jetstream::Message> messages;
    try {
      if (!consumer.pull) {
        ensure_stream(topic);
        jetstream::ConsumerSettings settings;
        settings.stream = stream_for(topic);
        settings.durable_name = name;
        settings.filter_subject = topic;
        settings.ack_wait = std::chrono::seconds(settings_.events.ack_wait_s);
        // One event in flight per consumer: the next is delivered only after this one is
        // acknowledged, so the topic's order holds even when a consumer dies mid-batch (its
        // unacknowledged events would otherwise come back after ack_wait, behind newer ones).
        settings.max_ack_pending = 1;
        consumer.pull.emplace(connection_.pull_consumer(settings));
      }
      messages = consumer.pull->fetch(1, kFetchWait);
    } catch (const jetstream::JetStreamError& error) {
      forget_streams();
      warn_throttled("cannot fetch events from NATS; retrying", error.what());
      consumer.loop->pause(std::chrono::milliseconds(settings_.events.relay_poll_ms));
      return false;
    }
    for (std::size_t i = 0; i < messages.size(); ++i) {
      auto& message = messages[i];
      const auto attempt = static_cast<int>(message.delivery_count());
      if (attempt > 1) metrics_.redeliveries.with({topic, name}).inc();
      Event event;
      try {
        event = parse_event(message.data());
      } catch (const InvalidEvent& error) {
        dead_letter(topic, message, error.what(), attempt);
        continue;
      }
      try {
        const bool applied = detail::apply_once(*settings_.store, name, topic, event, consumer.subscription.handler);
        if (applied) {
          metrics_.consumed.with({topic, name}).inc();
          metrics_.latency.with({topic, name}).observe(detail::seconds_since(event.time));
        } else {
          metrics_.duplicates.with({topic, name}).inc();
        }
        if (settings_.after_commit) settings_.after_commit(event);
        message.ack();
      } catch (const std::exception& error) {
        metrics_.failures.with({topic, name}).inc();
        log::warn("event handler failed", {{"topic", topic},
                                           {"event_id", event.id},
                                           {"type", event.type},
                                           {"attempt", attempt},
                                           {"error", error.what()}});
        if (attempt >= settings_.events.max_deliveries) {
          dead_letter(topic, message, error.what(), attempt);
          continue;
        }
        // Delivered again after a growing delay; with one event in flight nothing overtakes it.
        const auto delay =
            detail::redelivery_delay(std::chrono::milliseconds(settings_.events.redelivery_backoff_ms), attempt);
        for (std::size_t j = i; j < messages.size(); ++j) messages[j].nak(delay);
        consumer.loop->pause(delay);
        return false;
      }
    }
    return !messages.empty();
  }

  // Publishes the event to dlq.<topic> (stream DEAD_LETTERS) with the error, then terminates it.
  void dead_letter(const std::string& topic, jetstream::Message& message, const std::string& error, int attempts) {
    const auto& name = settings_.service;
    const auto id = message.header("Ce-Id").value_or("sequence-" + std::to_string(message.stream_sequence()));
    try {
      ensure_stream("dlq.>");
      connection_.publish("dlq." + topic, message.data(), name + ":" + id,
                          {{"Ce-Type", message.header("Ce-Type").value_or("")},
                           {"Intercab-Consumer", name},
                           {"Intercab-Error", error.substr(0, 1024)},
                           {"Intercab-Attempts", std::to_string(attempts)}},
                          std::chrono::milliseconds(settings_.events.publish_timeout_ms));
    } catch (const jetstream::JetStreamError& publish_error) {
      // Not terminated: it stays pending and is tried again, rather than being lost.
      warn_throttled("cannot move a failed event to the dead-letter queue", publish_error.what());
      message.nak(std::chrono::milliseconds(settings_.events.redelivery_backoff_ms));
      return;
    }
    message.term();
    metrics_.dead_lettered.with({topic, name}).inc();
    log::error("event dead-lettered", {{"topic", topic}, {"event_id", id}, {"error", error}});
  }

  // One line per problem every few seconds, not one per retry.
  void warn_throttled(const std::string& message, const std::string& error) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(warn_mutex_);
    if (now - last_warning_ < std::chrono::seconds(5)) return;
    last_warning_ = now;
    log::warn(message, {{"error", error}});
  }

  BusSettings settings_;
  detail::BusMetrics metrics_;
  jetstream::Connection connection_;
  std::mutex streams_mutex_;
  std::set<std::string> streams_ready_;
  std::mutex warn_mutex_;
  std::chrono::steady_clock::time_point last_warning_{};
  detail::WorkerLoop relay_;
  std::vector<std::unique_ptr<Consumer>> consumers_;
};

}  // namespace

std::unique_ptr<EventBus> make_nats_bus(const std::string& url, BusSettings settings) {
  return std::make_unique<NatsBus>(url, std::move(settings));
}

}  // namespace intercab::events
