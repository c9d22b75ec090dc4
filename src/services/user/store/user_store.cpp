// The user service's SQL; see user_store.hpp. Nullable columns go through SOCI indicators (SOCI 4.0
// has no std::optional binding); rows are read through prepared statements one fetch at a time.
#include "services/user/store/user_store.hpp"

#include <soci/soci.h>

#include <cctype>
#include <limits>

namespace intercab::embedded {
std::span<const db::MigrationFile> user_migrations();
}

namespace intercab::services::user::store {
namespace {

// A nullable value bound for writing: keeps the value and its indicator alive for the statement. Bind
// it with soci::use(n.value_, n.indicator_) in the statement itself: a use element returned from a
// helper function makes SOCI 4.0 terminate the process when the statement fails.
template <typename T>
struct Nullable {
  explicit Nullable(const std::optional<T>& value)
      : value_(value.value_or(T{})), indicator_(value ? soci::i_ok : soci::i_null) {}
  T value_;
  soci::indicator indicator_;
};

// A nullable column read into an optional after the fetch.
template <typename T>
struct NullableInto {
  T value{};
  soci::indicator indicator = soci::i_null;
  std::optional<T> get() const { return indicator == soci::i_ok ? std::optional<T>(value) : std::nullopt; }
};

constexpr const char* kUserColumns =
    "id, name, email, email_verified, phone, phone_verified, password_hash, roles, preferred_language, "
    "emergency_contacts, saved_places, status, version, created_at, updated_at";

std::optional<UserRow> select_user(db::Tx& tx, const std::string& where, const std::string& value) {
  UserRow row;
  NullableInto<std::string> email, phone, password_hash, language;
  int email_verified = 0;
  int phone_verified = 0;
  soci::indicator found = soci::i_null;
  tx.sql() << "SELECT " << kUserColumns << " FROM users WHERE " << where << " = :value", soci::into(row.id, found),
      soci::into(row.name), soci::into(email.value, email.indicator), soci::into(email_verified),
      soci::into(phone.value, phone.indicator), soci::into(phone_verified),
      soci::into(password_hash.value, password_hash.indicator), soci::into(row.roles),
      soci::into(language.value, language.indicator), soci::into(row.emergency_contacts), soci::into(row.saved_places),
      soci::into(row.status), soci::into(row.version), soci::into(row.created_at), soci::into(row.updated_at),
      soci::use(value);
  if (!tx.sql().got_data()) return std::nullopt;
  row.email = email.get();
  row.phone = phone.get();
  row.password_hash = password_hash.get();
  row.preferred_language = language.get();
  row.email_verified = email_verified != 0;
  row.phone_verified = phone_verified != 0;
  return row;
}

// Emails are unique ignoring case (domain::normalize_email, repeated here to keep SQL and domain apart).
std::optional<std::string> normalized(const std::optional<std::string>& email) {
  if (!email) return std::nullopt;
  std::string lower = *email;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

}  // namespace

std::span<const db::MigrationFile> migrations() { return embedded::user_migrations(); }

void insert_user(db::Tx& tx, const UserRow& user) {
  Nullable<std::string> email(user.email), email_normalized(normalized(user.email)), phone(user.phone),
      password_hash(user.password_hash), language(user.preferred_language);
  const int email_verified = user.email_verified ? 1 : 0;
  const int phone_verified = user.phone_verified ? 1 : 0;
  tx.sql() << "INSERT INTO users (id, name, email, email_normalized, email_verified, phone, phone_verified, "
              "password_hash, roles, preferred_language, emergency_contacts, saved_places, status, version, "
              "created_at, updated_at) VALUES (:id, :name, :email, :email_normalized, :email_verified, :phone, "
              ":phone_verified, :password_hash, :roles, :language, :contacts, :places, :status, :version, "
              ":created_at, :updated_at)",
      soci::use(user.id), soci::use(user.name), soci::use(email.value_, email.indicator_),
      soci::use(email_normalized.value_, email_normalized.indicator_), soci::use(email_verified),
      soci::use(phone.value_, phone.indicator_), soci::use(phone_verified),
      soci::use(password_hash.value_, password_hash.indicator_), soci::use(user.roles),
      soci::use(language.value_, language.indicator_), soci::use(user.emergency_contacts), soci::use(user.saved_places),
      soci::use(user.status), soci::use(user.version), soci::use(user.created_at), soci::use(user.updated_at);
}

bool update_user(db::Tx& tx, const UserRow& user, long long expected_version) {
  Nullable<std::string> email(user.email), email_normalized(normalized(user.email)), phone(user.phone),
      password_hash(user.password_hash), language(user.preferred_language);
  const int email_verified = user.email_verified ? 1 : 0;
  const int phone_verified = user.phone_verified ? 1 : 0;
  soci::statement statement =
      (tx.sql().prepare << "UPDATE users SET name = :name, email = :email, email_normalized = :email_normalized, "
                           "email_verified = :email_verified, phone = :phone, phone_verified = :phone_verified, "
                           "password_hash = :password_hash, roles = :roles, preferred_language = :language, "
                           "emergency_contacts = :contacts, saved_places = :places, status = :status, "
                           "version = version + 1, updated_at = :updated_at WHERE id = :id AND version = :expected",
       soci::use(user.name), soci::use(email.value_, email.indicator_),
       soci::use(email_normalized.value_, email_normalized.indicator_), soci::use(email_verified),
       soci::use(phone.value_, phone.indicator_), soci::use(phone_verified),
       soci::use(password_hash.value_, password_hash.indicator_), soci::use(user.roles),
       soci::use(language.value_, language.indicator_), soci::use(user.emergency_contacts),
       soci::use(user.saved_places), soci::use(user.status), soci::use(user.updated_at), soci::use(user.id),
       soci::use(expected_version));
  statement.execute(true);
  return statement.get_affected_rows() == 1;
}

std::optional<UserRow> find_user(db::Tx& tx, const std::string& id) { return select_user(tx, "id", id); }

void mark_deactivated(db::Tx& tx, const std::string& id, long long now) {
  tx.sql() << "UPDATE users SET deactivated_at = :now WHERE id = :id", soci::use(now), soci::use(id);
}

std::optional<UserRow> find_user_by_email(db::Tx& tx, const std::string& normalized_email) {
  return select_user(tx, "email_normalized", normalized_email);
}

std::optional<UserRow> find_user_by_phone(db::Tx& tx, const std::string& phone) {
  return select_user(tx, "phone", phone);
}

long long count_users_with_role(db::Tx& tx, const std::string& role) {
  // roles is a sorted comma list: match the whole name, not a part of another.
  const std::string exact = role, first = role + ",%", middle = "%," + role + ",%", last = "%," + role;
  long long count = 0;
  tx.sql() << "SELECT COUNT(*) FROM users WHERE status = 'active' AND (roles = :exact OR roles LIKE :first OR "
              "roles LIKE :middle OR roles LIKE :last)",
      soci::into(count), soci::use(exact), soci::use(first), soci::use(middle), soci::use(last);
  return count;
}

void replace_code(db::Tx& tx, const CodeRow& code) {
  delete_codes(tx, code.user_id, code.channel);
  tx.sql() << "INSERT INTO verification_codes (user_id, channel, destination, code_hash, expires_at, failed_attempts) "
              "VALUES (:user_id, :channel, :destination, :code_hash, :expires_at, 0)",
      soci::use(code.user_id), soci::use(code.channel), soci::use(code.destination), soci::use(code.code_hash),
      soci::use(code.expires_at);
}

std::optional<CodeRow> find_code(db::Tx& tx, const std::string& user_id, const std::string& channel) {
  CodeRow row;
  soci::indicator found = soci::i_null;
  tx.sql() << "SELECT user_id, channel, destination, code_hash, expires_at, failed_attempts FROM verification_codes "
              "WHERE user_id = :user_id AND channel = :channel",
      soci::into(row.user_id, found), soci::into(row.channel), soci::into(row.destination), soci::into(row.code_hash),
      soci::into(row.expires_at), soci::into(row.failed_attempts), soci::use(user_id), soci::use(channel);
  if (!tx.sql().got_data()) return std::nullopt;
  return row;
}

void count_failed_code_attempt(db::Tx& tx, const std::string& user_id, const std::string& channel) {
  tx.sql() << "UPDATE verification_codes SET failed_attempts = failed_attempts + 1 WHERE user_id = :user_id AND "
              "channel = :channel",
      soci::use(user_id), soci::use(channel);
}

void delete_codes(db::Tx& tx, const std::string& user_id, const std::optional<std::string>& channel) {
  if (channel) {
    tx.sql() << "DELETE FROM verification_codes WHERE user_id = :user_id AND channel = :channel", soci::use(user_id),
        soci::use(*channel);
  } else {
    tx.sql() << "DELETE FROM verification_codes WHERE user_id = :user_id", soci::use(user_id);
  }
}

void insert_session(db::Tx& tx, const SessionRow& session) {
  tx.sql() << "INSERT INTO sessions (id, user_id, client_id, ip, user_agent, created_at, last_used_at, expires_at) "
              "VALUES (:id, :user_id, :client_id, :ip, :user_agent, :created_at, :last_used_at, :expires_at)",
      soci::use(session.id), soci::use(session.user_id), soci::use(session.client_id), soci::use(session.ip),
      soci::use(session.user_agent), soci::use(session.created_at), soci::use(session.last_used_at),
      soci::use(session.expires_at);
}

namespace {
constexpr const char* kSessionColumns =
    "id, user_id, client_id, ip, user_agent, created_at, last_used_at, expires_at, revoked_at";
}

std::optional<SessionRow> find_session(db::Tx& tx, const std::string& id) {
  SessionRow row;
  NullableInto<long long> revoked_at;
  tx.sql() << "SELECT " << kSessionColumns << " FROM sessions WHERE id = :id", soci::into(row.id),
      soci::into(row.user_id), soci::into(row.client_id), soci::into(row.ip), soci::into(row.user_agent),
      soci::into(row.created_at), soci::into(row.last_used_at), soci::into(row.expires_at),
      soci::into(revoked_at.value, revoked_at.indicator), soci::use(id);
  if (!tx.sql().got_data()) return std::nullopt;
  row.revoked_at = revoked_at.get();
  return row;
}

std::vector<SessionRow> list_active_sessions(db::Tx& tx, const std::string& user_id, long long now, int limit,
                                             std::optional<std::pair<long long, std::string>> after) {
  // Newest first; the cursor is the (created_at, id) of the last row of the previous page.
  const long long cursor_time = after ? after->first : std::numeric_limits<long long>::max();
  const std::string cursor_id = after ? after->second : std::string("\x7f");
  std::vector<SessionRow> rows;
  SessionRow row;
  NullableInto<long long> revoked_at;
  soci::statement statement =
      (tx.sql().prepare << "SELECT " << kSessionColumns
                        << " FROM sessions WHERE user_id = :user_id AND revoked_at IS NULL AND expires_at > :now "
                           "AND (created_at < :cursor_time OR (created_at = :cursor_time2 AND id < :cursor_id)) "
                           "ORDER BY created_at DESC, id DESC LIMIT :limit",
       soci::into(row.id), soci::into(row.user_id), soci::into(row.client_id), soci::into(row.ip),
       soci::into(row.user_agent), soci::into(row.created_at), soci::into(row.last_used_at), soci::into(row.expires_at),
       soci::into(revoked_at.value, revoked_at.indicator), soci::use(user_id), soci::use(now), soci::use(cursor_time),
       soci::use(cursor_time), soci::use(cursor_id), soci::use(limit));
  statement.execute();
  while (statement.fetch()) {
    row.revoked_at = revoked_at.get();
    rows.push_back(row);
  }
  return rows;
}

void touch_session(db::Tx& tx, const std::string& id, long long now, long long expires_at) {
  tx.sql() << "UPDATE sessions SET last_used_at = :now, expires_at = :expires_at WHERE id = :id", soci::use(now),
      soci::use(expires_at), soci::use(id);
}

bool revoke_session(db::Tx& tx, const std::string& id, long long now, const std::string& reason) {
  soci::statement statement = (tx.sql().prepare << "UPDATE sessions SET revoked_at = :now, revoke_reason = :reason "
                                                   "WHERE id = :id AND revoked_at IS NULL",
                               soci::use(now), soci::use(reason), soci::use(id));
  statement.execute(true);
  return statement.get_affected_rows() == 1;
}

long long revoke_all_sessions(db::Tx& tx, const std::string& user_id, long long now, const std::string& reason) {
  soci::statement statement = (tx.sql().prepare << "UPDATE sessions SET revoked_at = :now, revoke_reason = :reason "
                                                   "WHERE user_id = :user_id AND revoked_at IS NULL",
                               soci::use(now), soci::use(reason), soci::use(user_id));
  statement.execute(true);
  return statement.get_affected_rows();
}

void insert_refresh_token(db::Tx& tx, const RefreshTokenRow& token) {
  tx.sql() << "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (:hash, :session, :issued_at)",
      soci::use(token.token_hash), soci::use(token.session_id), soci::use(token.issued_at);
}

std::optional<RefreshTokenRow> find_refresh_token(db::Tx& tx, const std::string& token_hash) {
  RefreshTokenRow row;
  NullableInto<long long> used_at;
  tx.sql() << "SELECT token_hash, session_id, issued_at, used_at FROM refresh_tokens WHERE token_hash = :hash",
      soci::into(row.token_hash), soci::into(row.session_id), soci::into(row.issued_at),
      soci::into(used_at.value, used_at.indicator), soci::use(token_hash);
  if (!tx.sql().got_data()) return std::nullopt;
  row.used_at = used_at.get();
  return row;
}

void mark_refresh_token_used(db::Tx& tx, const std::string& token_hash, long long now) {
  tx.sql() << "UPDATE refresh_tokens SET used_at = :now WHERE token_hash = :hash", soci::use(now),
      soci::use(token_hash);
}

void insert_reset_token(db::Tx& tx, const ResetTokenRow& token) {
  tx.sql() << "INSERT INTO password_reset_tokens (token_hash, user_id, expires_at) VALUES (:hash, :user_id, :expires)",
      soci::use(token.token_hash), soci::use(token.user_id), soci::use(token.expires_at);
}

std::optional<ResetTokenRow> find_reset_token(db::Tx& tx, const std::string& token_hash) {
  ResetTokenRow row;
  NullableInto<long long> used_at;
  tx.sql() << "SELECT token_hash, user_id, expires_at, used_at FROM password_reset_tokens WHERE token_hash = :hash",
      soci::into(row.token_hash), soci::into(row.user_id), soci::into(row.expires_at),
      soci::into(used_at.value, used_at.indicator), soci::use(token_hash);
  if (!tx.sql().got_data()) return std::nullopt;
  row.used_at = used_at.get();
  return row;
}

void mark_reset_tokens_used(db::Tx& tx, const std::string& user_id, long long now) {
  tx.sql() << "UPDATE password_reset_tokens SET used_at = :now WHERE user_id = :user_id AND used_at IS NULL",
      soci::use(now), soci::use(user_id);
}

void insert_oauth_identity(db::Tx& tx, const OAuthIdentityRow& identity) {
  Nullable<std::string> email(identity.email);
  tx.sql() << "INSERT INTO oauth_identities (provider, subject, user_id, email, created_at) VALUES (:provider, "
              ":subject, :user_id, :email, :created_at)",
      soci::use(identity.provider), soci::use(identity.subject), soci::use(identity.user_id),
      soci::use(email.value_, email.indicator_), soci::use(identity.created_at);
}

std::optional<OAuthIdentityRow> find_oauth_identity(db::Tx& tx, const std::string& provider,
                                                    const std::string& subject) {
  OAuthIdentityRow row;
  NullableInto<std::string> email;
  tx.sql() << "SELECT provider, subject, user_id, email, created_at FROM oauth_identities WHERE provider = :provider "
              "AND subject = :subject",
      soci::into(row.provider), soci::into(row.subject), soci::into(row.user_id),
      soci::into(email.value, email.indicator), soci::into(row.created_at), soci::use(provider), soci::use(subject);
  if (!tx.sql().got_data()) return std::nullopt;
  row.email = email.get();
  return row;
}

void delete_oauth_identities(db::Tx& tx, const std::string& user_id) {
  tx.sql() << "DELETE FROM oauth_identities WHERE user_id = :user_id", soci::use(user_id);
}

void insert_api_key(db::Tx& tx, const ApiKeyRow& key) {
  tx.sql() << "INSERT INTO api_keys (id, name, owner_user_id, roles, key_hash, created_by, created_at) VALUES (:id, "
              ":name, :owner, :roles, :hash, :created_by, :created_at)",
      soci::use(key.id), soci::use(key.name), soci::use(key.owner_user_id), soci::use(key.roles),
      soci::use(key.key_hash), soci::use(key.created_by), soci::use(key.created_at);
}

namespace {
constexpr const char* kApiKeyColumns =
    "id, name, owner_user_id, roles, key_hash, created_by, created_at, last_used_at, revoked_at";
}

std::optional<ApiKeyRow> find_api_key(db::Tx& tx, const std::string& id) {
  ApiKeyRow row;
  NullableInto<long long> last_used_at, revoked_at;
  tx.sql() << "SELECT " << kApiKeyColumns << " FROM api_keys WHERE id = :id", soci::into(row.id), soci::into(row.name),
      soci::into(row.owner_user_id), soci::into(row.roles), soci::into(row.key_hash), soci::into(row.created_by),
      soci::into(row.created_at), soci::into(last_used_at.value, last_used_at.indicator),
      soci::into(revoked_at.value, revoked_at.indicator), soci::use(id);
  if (!tx.sql().got_data()) return std::nullopt;
  row.last_used_at = last_used_at.get();
  row.revoked_at = revoked_at.get();
  return row;
}

std::vector<ApiKeyRow> list_api_keys(db::Tx& tx, int limit, std::optional<std::pair<long long, std::string>> after) {
  const long long cursor_time = after ? after->first : std::numeric_limits<long long>::min();
  const std::string cursor_id = after ? after->second : std::string();
  std::vector<ApiKeyRow> rows;
  ApiKeyRow row;
  NullableInto<long long> last_used_at, revoked_at;
  soci::statement statement =
      (tx.sql().prepare << "SELECT " << kApiKeyColumns
                        << " FROM api_keys WHERE (created_at > :cursor_time OR (created_at = :cursor_time2 AND id > "
                           ":cursor_id)) ORDER BY created_at, id LIMIT :limit",
       soci::into(row.id), soci::into(row.name), soci::into(row.owner_user_id), soci::into(row.roles),
       soci::into(row.key_hash), soci::into(row.created_by), soci::into(row.created_at),
       soci::into(last_used_at.value, last_used_at.indicator), soci::into(revoked_at.value, revoked_at.indicator),
       soci::use(cursor_time), soci::use(cursor_time), soci::use(cursor_id), soci::use(limit));
  statement.execute();
  while (statement.fetch()) {
    row.last_used_at = last_used_at.get();
    row.revoked_at = revoked_at.get();
    rows.push_back(row);
  }
  return rows;
}

bool revoke_api_key(db::Tx& tx, const std::string& id, long long now) {
  soci::statement statement =
      (tx.sql().prepare << "UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
       soci::use(now), soci::use(id));
  statement.execute(true);
  return statement.get_affected_rows() == 1;
}

void revoke_api_keys_of(db::Tx& tx, const std::string& owner_user_id, long long now) {
  tx.sql() << "UPDATE api_keys SET revoked_at = :now WHERE owner_user_id = :owner AND revoked_at IS NULL",
      soci::use(now), soci::use(owner_user_id);
}

void touch_api_key(db::Tx& tx, const std::string& id, long long now) {
  tx.sql() << "UPDATE api_keys SET last_used_at = :now WHERE id = :id", soci::use(now), soci::use(id);
}

}  // namespace intercab::services::user::store
