// The transactional outbox and inbox (ARCHITECTURE §4 "Events"). A service writes its state
// change and its events in ONE transaction (publish()); a relay later hands the rows to the bus
// in order. A consumer records each event id it applied in its inbox in the transaction of the
// effect, so an event delivered twice has one effect.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/db/db.hpp"
#include "platform/db/migrations.hpp"
#include "platform/events/event.hpp"

namespace intercab::events {

// The platform's tables in every service database (event_outbox, event_inbox,
// event_consumer_offsets, event_dead_letters), applied as component "platform".
std::span<const db::MigrationFile> platform_migrations();
void apply_platform_migrations(db::Database& store);

// Adds `event` to the outbox in the caller's transaction: it is published if and only if the
// transaction commits. Throws std::invalid_argument for an unknown topic.
void publish(db::Tx& tx, std::string_view topic, const Event& event);

namespace outbox {

struct Row {
  long long seq = 0;
  std::string event_id;
  std::string topic;
  std::string type;
  std::string envelope;  // CloudEvents JSON
};

// Rows not yet published, oldest first.
std::vector<Row> unpublished(soci::session& sql, int limit);

// Marks a row published at `position` of its topic's log (the embedded bus's own numbering,
// or the JetStream stream sequence).
void mark_published(db::Tx& tx, long long seq, long long position);

// The last position given out in `topic`'s log by this database's relay (0 when none).
long long last_position(db::Tx& tx, std::string_view topic);

struct LogEntry {
  long long position = 0;
  std::string envelope;
};

// The embedded bus's log: published rows of `topic` after `position`, in order.
std::vector<LogEntry> read_log(soci::session& sql, std::string_view topic, long long after_position, int limit);

// Rows written but not yet published, for the outbox backlog gauge.
long long backlog(soci::session& sql);

}  // namespace outbox

namespace inbox {

// Whether `consumer` already applied the event.
bool contains(db::Tx& tx, std::string_view consumer, std::string_view event_id);
void record(db::Tx& tx, std::string_view consumer, std::string_view topic, std::string_view event_id);

// The embedded bus's read position of `consumer` in `topic` (0 before the first event).
long long offset(db::Tx& tx, std::string_view consumer, std::string_view topic);
void set_offset(db::Tx& tx, std::string_view consumer, std::string_view topic, long long position);

// The embedded bus's dead-letter queue: events a consumer failed to apply too often.
void dead_letter(db::Tx& tx, std::string_view consumer, std::string_view topic, std::string_view event_id,
                 std::string_view envelope, std::string_view error, int attempts);
long long dead_letter_count(soci::session& sql, std::string_view consumer);

}  // namespace inbox

}  // namespace intercab::events
