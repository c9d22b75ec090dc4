-- Idempotency-Key records (API-CONVENTIONS "Idempotency"): one row per caller (scope) and key, claimed
-- 'in_flight' while the handler runs and 'done' with the response to replay once it has answered.
-- status, response_headers and response_body are 0 / '' until the row is done. Times are Unix seconds.
-- owner is a random token of the claim, so a process that lost its claim to a takeover cannot touch the row.
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
  owner TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  response_headers TEXT NOT NULL DEFAULT '',
  response_body TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
