-- Consumers: the ids of events already applied (written in the transaction of the effect, so a
-- redelivered event has no second effect), the embedded bus's read positions, and events that
-- failed too often (the embedded bus's dead-letter queue; NATS uses dlq.<topic>).
CREATE TABLE event_inbox (
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  processed_at TEXT NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
CREATE TABLE event_consumer_offsets (
  consumer TEXT NOT NULL,
  topic TEXT NOT NULL,
  position BIGINT NOT NULL,
  PRIMARY KEY (consumer, topic)
);
CREATE TABLE event_dead_letters (
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  envelope TEXT NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  failed_at TEXT NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
