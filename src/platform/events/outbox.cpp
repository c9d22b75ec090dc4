// Outbox and inbox rows. Plain SQL that both SQLite and PostgreSQL accept; the only dialect
// difference (the identity column) lives in the migrations.
#include "platform/events/outbox.hpp"

#include <soci/soci.h>

#include <stdexcept>

#include "platform/events/bus_detail.hpp"

namespace intercab::embedded {
std::span<const db::MigrationFile> events_platform_migrations();
}

namespace intercab::events {

std::span<const db::MigrationFile> platform_migrations() { return embedded::events_platform_migrations(); }

void apply_platform_migrations(db::Database& store) { db::migrate(store, "platform", platform_migrations()); }

void publish(db::Tx& tx, std::string_view topic, const Event& event) {
  if (!is_topic(topic)) throw std::invalid_argument("unknown event topic '" + std::string(topic) + "'");
  const std::string topic_text(topic);
  const std::string envelope = to_json(event);
  const std::string created_at = utc_now_rfc3339();
  tx.sql() << "INSERT INTO event_outbox (event_id, topic, subject, type, envelope, created_at) "
              "VALUES (:event_id, :topic, :subject, :type, :envelope, :created_at)",
      soci::use(event.id), soci::use(topic_text), soci::use(event.subject), soci::use(event.type), soci::use(envelope),
      soci::use(created_at);
  tx.after_commit(detail::notify_outbox_committed);
}

namespace outbox {

// Row by row through one prepared statement: each fetch converts into the C++ types asked for,
// where soci::row would insist on the column's own type (int for SQLite INTEGER, long long for
// BIGINT). (Bulk fetches into vectors are avoided: SOCI 4.0's SQLite backend drops the row of a
// one-element vector.)
std::vector<Row> unpublished(soci::session& sql, int limit) {
  std::vector<Row> rows;
  Row row;
  soci::statement statement =
      (sql.prepare << "SELECT seq, event_id, topic, type, envelope FROM event_outbox WHERE published_at IS NULL "
                      "ORDER BY seq LIMIT :limit",
       soci::into(row.seq), soci::into(row.event_id), soci::into(row.topic), soci::into(row.type),
       soci::into(row.envelope), soci::use(limit));
  statement.execute();
  while (statement.fetch()) rows.push_back(row);
  return rows;
}

void mark_published(db::Tx& tx, long long seq, long long position) {
  const std::string now = utc_now_rfc3339();
  tx.sql() << "UPDATE event_outbox SET position = :position, published_at = :now WHERE seq = :seq", soci::use(position),
      soci::use(now), soci::use(seq);
}

long long last_position(db::Tx& tx, std::string_view topic) {
  const std::string topic_text(topic);
  long long position = 0;
  soci::indicator indicator = soci::i_null;
  tx.sql() << "SELECT MAX(position) FROM event_outbox WHERE topic = :topic", soci::into(position, indicator),
      soci::use(topic_text);
  return indicator == soci::i_ok ? position : 0;
}

std::vector<LogEntry> read_log(soci::session& sql, std::string_view topic, long long after_position, int limit) {
  const std::string topic_text(topic);
  std::vector<LogEntry> entries;
  LogEntry entry;
  soci::statement statement =
      (sql.prepare << "SELECT position, envelope FROM event_outbox WHERE topic = :topic AND position > :after "
                      "ORDER BY position LIMIT :limit",
       soci::into(entry.position), soci::into(entry.envelope), soci::use(topic_text), soci::use(after_position),
       soci::use(limit));
  statement.execute();
  while (statement.fetch()) entries.push_back(entry);
  return entries;
}

long long backlog(soci::session& sql) {
  long long count = 0;
  sql << "SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL", soci::into(count);
  return count;
}

}  // namespace outbox

namespace inbox {

bool contains(db::Tx& tx, std::string_view consumer, std::string_view event_id) {
  const std::string consumer_text(consumer);
  const std::string id(event_id);
  long long count = 0;
  tx.sql() << "SELECT COUNT(*) FROM event_inbox WHERE consumer = :consumer AND event_id = :event_id", soci::into(count),
      soci::use(consumer_text), soci::use(id);
  return count > 0;
}

void record(db::Tx& tx, std::string_view consumer, std::string_view topic, std::string_view event_id) {
  const std::string consumer_text(consumer);
  const std::string topic_text(topic);
  const std::string id(event_id);
  const std::string now = utc_now_rfc3339();
  tx.sql() << "INSERT INTO event_inbox (consumer, event_id, topic, processed_at) "
              "VALUES (:consumer, :event_id, :topic, :now)",
      soci::use(consumer_text), soci::use(id), soci::use(topic_text), soci::use(now);
}

long long offset(db::Tx& tx, std::string_view consumer, std::string_view topic) {
  const std::string consumer_text(consumer);
  const std::string topic_text(topic);
  long long position = 0;
  soci::indicator indicator = soci::i_null;
  tx.sql() << "SELECT position FROM event_consumer_offsets WHERE consumer = :consumer AND topic = :topic",
      soci::into(position, indicator), soci::use(consumer_text), soci::use(topic_text);
  return tx.sql().got_data() && indicator == soci::i_ok ? position : 0;
}

void set_offset(db::Tx& tx, std::string_view consumer, std::string_view topic, long long position) {
  const std::string consumer_text(consumer);
  const std::string topic_text(topic);
  // An upsert both SQLite (3.24+) and PostgreSQL understand.
  tx.sql() << "INSERT INTO event_consumer_offsets (consumer, topic, position) VALUES (:consumer, :topic, :position) "
              "ON CONFLICT (consumer, topic) DO UPDATE SET position = excluded.position",
      soci::use(consumer_text), soci::use(topic_text), soci::use(position);
}

void dead_letter(db::Tx& tx, std::string_view consumer, std::string_view topic, std::string_view event_id,
                 std::string_view envelope, std::string_view error, int attempts) {
  const std::string consumer_text(consumer);
  const std::string topic_text(topic);
  const std::string id(event_id);
  const std::string envelope_text(envelope);
  const std::string error_text(error);
  const std::string now = utc_now_rfc3339();
  tx.sql() << "INSERT INTO event_dead_letters (consumer, event_id, topic, envelope, error, attempts, failed_at) "
              "VALUES (:consumer, :event_id, :topic, :envelope, :error, :attempts, :now) "
              "ON CONFLICT (consumer, event_id) DO NOTHING",
      soci::use(consumer_text), soci::use(id), soci::use(topic_text), soci::use(envelope_text), soci::use(error_text),
      soci::use(attempts), soci::use(now);
}

long long dead_letter_count(soci::session& sql, std::string_view consumer) {
  const std::string consumer_text(consumer);
  long long count = 0;
  sql << "SELECT COUNT(*) FROM event_dead_letters WHERE consumer = :consumer", soci::into(count),
      soci::use(consumer_text);
  return count;
}

}  // namespace inbox

}  // namespace intercab::events
