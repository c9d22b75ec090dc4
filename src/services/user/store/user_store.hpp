// The user service's SQL: one function per statement, run inside the caller's transaction. Plain
// SQL accepted by SQLite and PostgreSQL alike; times are Unix seconds.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "platform/db/db.hpp"
#include "platform/db/migrations.hpp"

namespace intercab::services::user::store {

std::span<const db::MigrationFile> migrations();

struct UserRow {
  std::string id;
  std::string name;
  std::optional<std::string> email;
  bool email_verified = false;
  std::optional<std::string> phone;
  bool phone_verified = false;
  std::optional<std::string> password_hash;
  std::string roles;  // comma list
  std::optional<std::string> preferred_language;
  std::string emergency_contacts = "[]";  // JSON text
  std::string saved_places = "[]";        // JSON text
  std::string status = "active";
  long long version = 1;
  long long created_at = 0;
  long long updated_at = 0;
};

// Inserts a new user; throws what db::is_unique_violation recognises when the email or phone is taken.
void insert_user(db::Tx& tx, const UserRow& user);
// Writes every mutable column and bumps version; returns false if `expected_version` is stale.
bool update_user(db::Tx& tx, const UserRow& user, long long expected_version);
std::optional<UserRow> find_user(db::Tx& tx, const std::string& id);
void mark_deactivated(db::Tx& tx, const std::string& id, long long now);
std::optional<UserRow> find_user_by_email(db::Tx& tx, const std::string& normalized_email);
std::optional<UserRow> find_user_by_phone(db::Tx& tx, const std::string& phone);
// Active accounts holding `role` (used by create-admin to tell whether an admin exists).
long long count_users_with_role(db::Tx& tx, const std::string& role);

struct CodeRow {
  std::string user_id;
  std::string channel;
  std::string destination;
  std::string code_hash;
  long long expires_at = 0;
  int failed_attempts = 0;
};
void replace_code(db::Tx& tx, const CodeRow& code);
std::optional<CodeRow> find_code(db::Tx& tx, const std::string& user_id, const std::string& channel);
void count_failed_code_attempt(db::Tx& tx, const std::string& user_id, const std::string& channel);
void delete_codes(db::Tx& tx, const std::string& user_id, const std::optional<std::string>& channel = std::nullopt);

struct SessionRow {
  std::string id;
  std::string user_id;
  std::string client_id;
  std::string ip;
  std::string user_agent;
  long long created_at = 0;
  long long last_used_at = 0;
  long long expires_at = 0;
  std::optional<long long> revoked_at;
};
void insert_session(db::Tx& tx, const SessionRow& session);
std::optional<SessionRow> find_session(db::Tx& tx, const std::string& id);
// The user's sessions that are neither revoked nor expired, newest first, after `before_created_at`
// (cursor: created_at, id) and at most `limit`.
std::vector<SessionRow> list_active_sessions(db::Tx& tx, const std::string& user_id, long long now, int limit,
                                             std::optional<std::pair<long long, std::string>> after);
void touch_session(db::Tx& tx, const std::string& id, long long now, long long expires_at);
// Revokes one session (no-op if already revoked). Returns whether it was active.
bool revoke_session(db::Tx& tx, const std::string& id, long long now, const std::string& reason);
// Revokes every active session of the user; returns how many.
long long revoke_all_sessions(db::Tx& tx, const std::string& user_id, long long now, const std::string& reason);

struct RefreshTokenRow {
  std::string token_hash;
  std::string session_id;
  long long issued_at = 0;
  std::optional<long long> used_at;
};
void insert_refresh_token(db::Tx& tx, const RefreshTokenRow& token);
std::optional<RefreshTokenRow> find_refresh_token(db::Tx& tx, const std::string& token_hash);
void mark_refresh_token_used(db::Tx& tx, const std::string& token_hash, long long now);

struct ResetTokenRow {
  std::string token_hash;
  std::string user_id;
  long long expires_at = 0;
  std::optional<long long> used_at;
};
void insert_reset_token(db::Tx& tx, const ResetTokenRow& token);
std::optional<ResetTokenRow> find_reset_token(db::Tx& tx, const std::string& token_hash);
void mark_reset_tokens_used(db::Tx& tx, const std::string& user_id, long long now);

struct OAuthIdentityRow {
  std::string provider;
  std::string subject;
  std::string user_id;
  std::optional<std::string> email;
  long long created_at = 0;
};
void insert_oauth_identity(db::Tx& tx, const OAuthIdentityRow& identity);
std::optional<OAuthIdentityRow> find_oauth_identity(db::Tx& tx, const std::string& provider,
                                                    const std::string& subject);
void delete_oauth_identities(db::Tx& tx, const std::string& user_id);

struct ApiKeyRow {
  std::string id;  // the key's public id prefix ("ick_...")
  std::string name;
  std::string owner_user_id;
  std::string roles;
  std::string key_hash;
  std::string created_by;
  long long created_at = 0;
  std::optional<long long> last_used_at;
  std::optional<long long> revoked_at;
};
void insert_api_key(db::Tx& tx, const ApiKeyRow& key);
std::optional<ApiKeyRow> find_api_key(db::Tx& tx, const std::string& id);
// Keys ordered by created_at then id, after the cursor, at most `limit`; revoked ones included.
std::vector<ApiKeyRow> list_api_keys(db::Tx& tx, int limit, std::optional<std::pair<long long, std::string>> after);
bool revoke_api_key(db::Tx& tx, const std::string& id, long long now);
void revoke_api_keys_of(db::Tx& tx, const std::string& owner_user_id, long long now);
void touch_api_key(db::Tx& tx, const std::string& id, long long now);

}  // namespace intercab::services::user::store
