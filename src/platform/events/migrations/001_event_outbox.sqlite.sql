-- The transactional outbox: a service inserts its events here in the transaction of the change.
-- The relay assigns each row its place in the topic's log (position) when it publishes it; in the
-- embedded bus consumers read the log from this table by position.
CREATE TABLE event_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  subject TEXT NOT NULL,
  type TEXT NOT NULL,
  envelope TEXT NOT NULL,
  created_at TEXT NOT NULL,
  position BIGINT,
  published_at TEXT
);
CREATE INDEX event_outbox_unpublished ON event_outbox (seq) WHERE published_at IS NULL;
CREATE UNIQUE INDEX event_outbox_log ON event_outbox (topic, position);
