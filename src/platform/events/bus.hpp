// The event bus port (ARCHITECTURE §2): one per service, with two adapters behind it.
//   mem://             embedded: the producer's outbox table is the log; each consumer keeps its
//                      read position in its own database, so a restart resumes where it stopped.
//   nats://host:port   NATS JetStream: one stream per topic (BOOKING_EVENTS for booking.events),
//                      Nats-Msg-Id = event id, durable pull consumers named after the consuming
//                      service, explicit acks, redelivery with backoff, dlq.<topic> at the end.
// Both deliver at least once, in outbox order per topic; handlers run in a transaction of the
// consumer's database together with its inbox row, so each event has exactly one effect.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "platform/config/config.hpp"
#include "platform/db/db.hpp"
#include "platform/events/event.hpp"
#include "platform/metrics/metrics.hpp"

namespace intercab::events {

// Applies an event's effect inside the consumer's transaction. Throwing rolls the effect back;
// the event is delivered again later (with backoff) and dead-lettered after too many failures.
using Handler = std::function<void(const Event& event, db::Tx& tx)>;

struct Subscription {
  std::string topic;
  Handler handler;
};

struct BusSettings {
  std::string service;                         // this service: the consumer group, and producer of <service>.events
  db::Database* store = nullptr;               // this service's database: its outbox and its inbox
  config::EventsSettings events;               // timings and limits
  std::shared_ptr<metrics::Registry> metrics;  // where the bus figures go; a private one when null
  // Embedded bus: the database of the service producing a topic, whose outbox is the log.
  std::function<db::Database&(const std::string& service)> store_of;
  // Called after an event's effect committed and before it is acknowledged: an observation point
  // for tests and fault injection (the crash test kills the process here).
  std::function<void(const Event&)> after_commit;
};

class EventBus {
 public:
  virtual ~EventBus() = default;

  // Registers a consumer of `subscription.topic`; call before start().
  virtual void subscribe(Subscription subscription) = 0;
  // Starts the relay of this service's outbox and the consumers.
  virtual void start() = 0;
  // Stops and joins every thread; events not yet acknowledged are delivered again later.
  virtual void stop() = 0;
  // Something was committed to the outbox: relay it now instead of at the next poll.
  virtual void wake() = 0;
  // nullopt when the bus works; else what is wrong (for /ready).
  virtual std::optional<std::string> unavailable_reason() = 0;
  virtual std::string_view adapter_name() const = 0;
};

// "mem://" (or empty) -> embedded; "nats://host:port" -> JetStream. Throws std::invalid_argument
// for any other URL, and when `settings.store` is missing.
std::unique_ptr<EventBus> open_bus(const std::string& url, BusSettings settings);

}  // namespace intercab::events
