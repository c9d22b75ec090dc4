// Worker loops, topic wake-ups, bus metrics and exactly-once application of an event.
#include "platform/events/bus_detail.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "platform/events/outbox.hpp"
#include "platform/log/log.hpp"
#include "platform/trace/current.hpp"
#include "platform/trace/trace.hpp"

namespace intercab::events::detail {

WorkerLoop::WorkerLoop(std::chrono::milliseconds idle_wait, std::function<bool()> step)
    : idle_wait_(idle_wait), step_(std::move(step)) {}

WorkerLoop::~WorkerLoop() { stop(); }

void WorkerLoop::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void WorkerLoop::stop() {
  if (!running_.exchange(false)) return;
  wake();
  if (thread_.joinable()) thread_.join();
}

void WorkerLoop::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  changed_.notify_all();
}

bool WorkerLoop::pause(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, duration, [this] { return !running_.load(); });
  return running_.load();
}

void WorkerLoop::run() {
  while (running_.load()) {
    bool busy = false;
    try {
      busy = step_();
    } catch (const std::exception& error) {
      // A step failing (database or broker unreachable) is retried at the next round; the
      // adapters log the specifics, this only keeps the thread alive.
      log::warn("event bus step failed", {{"error", error.what()}});
    }
    if (busy) continue;
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, idle_wait_, [this] { return woken_ || !running_.load(); });
    woken_ = false;
  }
}

namespace {

struct TopicWatchers {
  std::mutex mutex;
  std::map<std::string, std::set<WorkerLoop*>> loops;
};

TopicWatchers& watchers() {
  static TopicWatchers instance;
  return instance;
}

}  // namespace

void notify_topic(const std::string& topic) {
  auto& all = watchers();
  std::lock_guard lock(all.mutex);
  if (auto it = all.loops.find(topic); it != all.loops.end()) {
    for (auto* loop : it->second) loop->wake();
  }
}

void watch_topic(const std::string& topic, WorkerLoop* loop) {
  auto& all = watchers();
  std::lock_guard lock(all.mutex);
  all.loops[topic].insert(loop);
}

void unwatch_topic(const std::string& topic, WorkerLoop* loop) {
  auto& all = watchers();
  std::lock_guard lock(all.mutex);
  all.loops[topic].erase(loop);
}

namespace {
constexpr double kLatencyBuckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}  // namespace

namespace {
const std::string kOutboxKey = "\x01outbox";  // cannot collide with a topic name
}  // namespace

void notify_outbox_committed() { notify_topic(kOutboxKey); }
void watch_outbox(WorkerLoop* relay) { watch_topic(kOutboxKey, relay); }
void unwatch_outbox(WorkerLoop* relay) { unwatch_topic(kOutboxKey, relay); }

BusMetrics::BusMetrics(metrics::Registry& registry)
    : published(registry.counter("events_published_total", "Events handed to the bus by the outbox relay", {"topic"})),
      publish_failures(registry.counter("events_publish_failures_total",
                                        "Outbox relay attempts that the bus did not acknowledge", {"topic"})),
      consumed(registry.counter("events_consumed_total", "Events whose effect this consumer committed",
                                {"topic", "consumer"})),
      duplicates(registry.counter("events_duplicates_total",
                                  "Events delivered again after their effect was committed (skipped by the inbox)",
                                  {"topic", "consumer"})),
      failures(registry.counter("events_handler_failures_total", "Handler attempts that failed and were rolled back",
                                {"topic", "consumer"})),
      redeliveries(registry.counter("events_redeliveries_total", "Deliveries after the first one of an event",
                                    {"topic", "consumer"})),
      dead_lettered(registry.counter("events_dead_lettered_total",
                                     "Events given up after too many failed attempts (dlq.<topic>)",
                                     {"topic", "consumer"})),
      latency(registry.histogram("events_end_to_end_seconds", "From the event's time to its effect committed",
                                 {"topic", "consumer"}, kLatencyBuckets)) {}

bool apply_once(db::Database& store, const std::string& consumer, const std::string& topic, const Event& event,
                const Handler& handler, const std::function<void(db::Tx&)>& also) {
  std::optional<trace::TraceContext> trace;
  if (auto parent = trace::parse_traceparent(event.traceparent)) trace = trace::child_of(*parent);
  if (!trace) trace = trace::new_root();
  trace::ScopedTrace scoped_trace(*trace);
  log::ScopedLogContext log_context({log::current_context().service, "", trace->trace_id_hex(), trace->span_id_hex()});
  return store.transact([&](db::Tx& tx) {
    if (inbox::contains(tx, consumer, event.id)) {
      if (also) also(tx);
      return false;
    }
    handler(event, tx);
    inbox::record(tx, consumer, topic, event.id);
    if (also) also(tx);
    return true;
  });
}

double seconds_since(const std::string& rfc3339_time) {
  std::tm utc{};
  int millis = 0;
  if (std::sscanf(rfc3339_time.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                  &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &millis) < 6) {
    return 0;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  const auto then = std::chrono::system_clock::from_time_t(timegm(&utc)) + std::chrono::milliseconds(millis);
  return std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now() - then).count());
}

std::chrono::milliseconds redelivery_delay(std::chrono::milliseconds base, int attempt) {
  const int doublings = std::clamp(attempt - 1, 0, 16);
  return std::min<std::chrono::milliseconds>(base * (1LL << doublings), std::chrono::milliseconds(60'000));
}

}  // namespace intercab::events::detail
