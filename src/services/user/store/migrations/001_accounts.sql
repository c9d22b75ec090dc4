-- Accounts of the user service. Times are Unix seconds (BIGINT) so that the same SQL runs on SQLite
-- and PostgreSQL; secrets (passwords, codes, refresh and reset tokens, API keys) are stored hashed.

CREATE TABLE users (
  id                  TEXT PRIMARY KEY,            -- UUIDv7
  name                TEXT NOT NULL,
  email               TEXT,                        -- as given
  email_normalized    TEXT UNIQUE,                 -- lower case: uniqueness ignores case
  email_verified      INTEGER NOT NULL DEFAULT 0,
  phone               TEXT UNIQUE,                 -- E.164 (+91...)
  phone_verified      INTEGER NOT NULL DEFAULT 0,
  password_hash       TEXT,                        -- argon2id; NULL for accounts created by OAuth only
  roles               TEXT NOT NULL,               -- sorted comma list: "driver,rider"
  preferred_language  TEXT,
  emergency_contacts  TEXT NOT NULL DEFAULT '[]',  -- JSON array
  saved_places        TEXT NOT NULL DEFAULT '[]',  -- JSON array
  status              TEXT NOT NULL DEFAULT 'active',  -- active | deactivated
  version             BIGINT NOT NULL DEFAULT 1,   -- ETag of the profile
  created_at          BIGINT NOT NULL,
  updated_at          BIGINT NOT NULL,
  deactivated_at      BIGINT
);

-- One pending code per account and channel; a new request replaces it.
CREATE TABLE verification_codes (
  user_id          TEXT NOT NULL REFERENCES users(id),
  channel          TEXT NOT NULL,                  -- email | phone
  destination      TEXT NOT NULL,                  -- the address or number the code was sent to
  code_hash        TEXT NOT NULL,
  expires_at       BIGINT NOT NULL,
  failed_attempts  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, channel)
);

-- A session is one refresh token family: created at login, continued by every rotation, ended by
-- logout, logout-all, a password change, deactivation, or reuse of a rotated token.
CREATE TABLE sessions (
  id             TEXT PRIMARY KEY,
  user_id        TEXT NOT NULL REFERENCES users(id),
  client_id      TEXT NOT NULL,
  ip             TEXT NOT NULL,
  user_agent     TEXT NOT NULL,
  created_at     BIGINT NOT NULL,
  last_used_at   BIGINT NOT NULL,
  expires_at     BIGINT NOT NULL,
  revoked_at     BIGINT,
  revoke_reason  TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
  token_hash  TEXT PRIMARY KEY,
  session_id  TEXT NOT NULL REFERENCES sessions(id),
  issued_at   BIGINT NOT NULL,
  used_at     BIGINT                                -- set when rotated; presenting it again is reuse
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE password_reset_tokens (
  token_hash  TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL REFERENCES users(id),
  expires_at  BIGINT NOT NULL,
  used_at     BIGINT
);
CREATE INDEX password_reset_tokens_by_user ON password_reset_tokens (user_id);

-- Accounts signed in through an OpenID provider: (provider, subject) -> our user.
CREATE TABLE oauth_identities (
  provider    TEXT NOT NULL,
  subject     TEXT NOT NULL,
  user_id     TEXT NOT NULL REFERENCES users(id),
  email       TEXT,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_by_user ON oauth_identities (user_id);

-- API keys of machine clients: created by an admin for an owner, shown once, scoped to roles.
CREATE TABLE api_keys (
  id             TEXT PRIMARY KEY,                  -- the public key id, part of the key text
  name           TEXT NOT NULL,
  owner_user_id  TEXT NOT NULL REFERENCES users(id),
  roles          TEXT NOT NULL,                     -- sorted comma list, a subset of the owner's roles
  key_hash       TEXT NOT NULL,
  created_by     TEXT NOT NULL,
  created_at     BIGINT NOT NULL,
  last_used_at   BIGINT,
  revoked_at     BIGINT
);
CREATE INDEX api_keys_by_owner ON api_keys (owner_user_id);
