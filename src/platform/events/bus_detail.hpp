// What both bus adapters share: a worker loop woken on demand, the bus metrics, and applying an
// event exactly once (handler + inbox row in one transaction of the consumer's database).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "platform/events/bus.hpp"

namespace intercab::events::detail {

// A thread that runs `step` until stopped: again at once while it finds work, otherwise after
// `idle_wait` or when woken. `pause` sleeps inside a step but returns early on stop.
class WorkerLoop {
 public:
  WorkerLoop(std::chrono::milliseconds idle_wait, std::function<bool()> step);
  ~WorkerLoop();
  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  void start();
  void stop();
  void wake();
  bool pause(std::chrono::milliseconds duration);  // false when stopping
  bool running() const { return running_.load(); }

 private:
  void run();

  std::chrono::milliseconds idle_wait_;
  std::function<bool()> step_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool woken_ = false;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

// In one process, the relay that published to a topic wakes that topic's embedded consumers at
// once instead of letting them find the events at their next poll.
void notify_topic(const std::string& topic);
void watch_topic(const std::string& topic, WorkerLoop* loop);
void unwatch_topic(const std::string& topic, WorkerLoop* loop);

// A transaction with outbox rows committed in this process: relays look at once instead of at
// their next poll (they check their own outbox; another database's commit costs one read).
void notify_outbox_committed();
void watch_outbox(WorkerLoop* relay);
void unwatch_outbox(WorkerLoop* relay);

struct BusMetrics {
  explicit BusMetrics(metrics::Registry& registry);
  metrics::Family<metrics::Counter>& published;         // topic
  metrics::Family<metrics::Counter>& publish_failures;  // topic
  metrics::Family<metrics::Counter>& consumed;          // topic, consumer
  metrics::Family<metrics::Counter>& duplicates;        // topic, consumer
  metrics::Family<metrics::Counter>& failures;          // topic, consumer
  metrics::Family<metrics::Counter>& redeliveries;      // topic, consumer
  metrics::Family<metrics::Counter>& dead_lettered;     // topic, consumer
  metrics::Family<metrics::Histogram>& latency;         // topic, consumer: event time -> effect committed
};

// Runs the handler and records the event in the inbox in one transaction of `store`, unless the
// inbox already has it. `also` runs in the same transaction either way (the embedded bus moves
// its read position there). Returns false for a duplicate. The handler runs with the event's
// trace as the current trace and in the consumer's log context.
bool apply_once(db::Database& store, const std::string& consumer, const std::string& topic, const Event& event,
                const Handler& handler, const std::function<void(db::Tx&)>& also = {});

// Seconds from the event's time (RFC 3339, UTC) until now; 0 when the time does not parse.
double seconds_since(const std::string& rfc3339_time);

// The delay before delivery attempt `attempt` + 1: base * 2^(attempt-1), capped at a minute.
std::chrono::milliseconds redelivery_delay(std::chrono::milliseconds base, int attempt);

}  // namespace intercab::events::detail
