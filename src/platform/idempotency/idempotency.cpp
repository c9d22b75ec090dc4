// Idempotency-Key records in the service's database: claim, complete or release, replay. Plain SQL that both
// SQLite and PostgreSQL accept; every SOCI binding is made inline in its statement (see outbox.cpp).
#include "platform/idempotency/idempotency.hpp"

#include <soci/soci.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "platform/errors/errors.hpp"
#include "platform/log/log.hpp"

namespace intercab::embedded {
std::span<const db::MigrationFile> idempotency_migrations();
}

namespace intercab::idempotency {

namespace {

// The response headers a replay needs to mean the same as the original; the rest (Date, X-Request-Id, trace
// headers) describe the request being answered and are set afresh.
constexpr std::array<std::string_view, 3> kReplayedResponseHeaders = {"Content-Type", "Location", "ETag"};

constexpr std::string_view kFieldReasonExample = "; a UUID makes a good key";

long long unix_seconds(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

// The request's key, or an empty string when it sent none. Throws errors::Invalid for a malformed one.
std::string key_of(const http::Request& request) {
  const std::string field(kKeyHeader);
  const std::size_t count = request.headers.count(kKeyHeader);
  if (count == 0) return {};
  if (count > 1) {
    throw errors::Invalid(field, "send one Idempotency-Key header, not " + std::to_string(count));
  }
  const std::string_view key = request.header(kKeyHeader);
  if (key.empty() || key.size() > kMaxKeyLength) {
    throw errors::Invalid(field, "must be 1 to " + std::to_string(kMaxKeyLength) + " characters long, not " +
                                     std::to_string(key.size()) + std::string(kFieldReasonExample));
  }
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e) {
      throw errors::Invalid(field, "may contain only printable ASCII characters, no control characters" +
                                       std::string(kFieldReasonExample));
    }
  }
  return std::string(key);
}

// Identifies one claim of a key, so that a process whose claim was taken over (it outlived in_flight_timeout)
// cannot complete or release the new owner's claim. Unique, not secret.
std::string new_owner_token() {
  static thread_local std::random_device device;
  std::string token;
  for (int i = 0; i < 4; ++i) {
    char part[9];
    std::snprintf(part, sizeof part, "%08x", static_cast<unsigned>(device()));
    token += part;
  }
  return token;
}

struct StoredRecord {
  std::string state;  // "in_flight" or "done"
  std::string request_hash;
  int status = 0;
  std::string response_headers;  // JSON object of kReplayedResponseHeaders
  std::string response_body;
  long long created_at = 0;
  long long expires_at = 0;
};

enum class ClaimOutcome { kClaimed, kDifferentRequest, kInFlight, kDone };

struct Claim {
  ClaimOutcome outcome = ClaimOutcome::kClaimed;
  StoredRecord record;  // the existing record, unless claimed
};

// The record's key is (scope, key); in one serialisable transaction: read it, then insert or take it over.
Claim try_claim(db::Database& store, const std::string& scope, const std::string& key, const std::string& hash,
                const std::string& owner, const IdempotencyOptions& options) {
  const long long now = unix_seconds(options.now());
  const long long expires_at = now + options.retention.count();
  return store.transact([&](db::Tx& tx) -> Claim {
    StoredRecord record;
    tx.sql() << "SELECT state, request_hash, status, response_headers, response_body, created_at, expires_at "
                "FROM idempotency_keys WHERE scope = :scope AND idempotency_key = :key",
        soci::into(record.state), soci::into(record.request_hash), soci::into(record.status),
        soci::into(record.response_headers), soci::into(record.response_body), soci::into(record.created_at),
        soci::into(record.expires_at), soci::use(scope), soci::use(key);
    if (!tx.sql().got_data()) {
      tx.sql() << "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, owner, created_at, "
                  "expires_at) VALUES (:scope, :key, :hash, 'in_flight', :owner, :now, :expires_at)",
          soci::use(scope), soci::use(key), soci::use(hash), soci::use(owner), soci::use(now), soci::use(expires_at);
      return {ClaimOutcome::kClaimed, {}};
    }

    // An expired record no longer exists as far as clients can tell. Until then the key belongs to its request,
    // even when that request's process died: a different request is refused, the same one may take over.
    const bool expired = record.expires_at <= now;
    if (!expired && record.request_hash != hash) return {ClaimOutcome::kDifferentRequest, std::move(record)};
    const bool abandoned = record.state == "in_flight" && now - record.created_at > options.in_flight_timeout.count();
    if (!expired && !abandoned) {
      return {record.state == "done" ? ClaimOutcome::kDone : ClaimOutcome::kInFlight, std::move(record)};
    }
    tx.sql() << "UPDATE idempotency_keys SET request_hash = :hash, state = 'in_flight', owner = :owner, status = 0, "
                "response_headers = '', response_body = '', created_at = :now, expires_at = :expires_at "
                "WHERE scope = :scope AND idempotency_key = :key",
        soci::use(hash), soci::use(owner), soci::use(now), soci::use(expires_at), soci::use(scope), soci::use(key);
    return {ClaimOutcome::kClaimed, {}};
  });
}

Claim claim(db::Database& store, const std::string& scope, const std::string& key, const std::string& hash,
            const std::string& owner, const IdempotencyOptions& options) {
  // Two first uses of a key racing: in practice SQLite serialises them (BEGIN IMMEDIATE) and PostgreSQL reports the
  // loser as a serialisation failure, which transact() retries; ConcurrentFirstUsesRunTheHandlerOnce covers both.
  // Should a database report the race as a primary-key violation instead, reading again finds the winner's record.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    try {
      return try_claim(store, scope, key, hash, owner, options);
    } catch (const std::exception& error) {
      if (attempt >= kAttempts || !db::is_unique_violation(error)) throw;
    }
  }
}

std::string replayed_headers_json(const http::Response& response) {
  boost::json::object headers;
  for (const std::string_view name : kReplayedResponseHeaders) {
    if (response.headers.contains(name)) headers[name] = response.headers.get(name);
  }
  return boost::json::serialize(headers);
}

void complete(db::Database& store, const std::string& scope, const std::string& key, const std::string& owner,
              const http::Response& response, const IdempotencyOptions& options) {
  const std::string headers = replayed_headers_json(response);
  const long long expires_at = unix_seconds(options.now()) + options.retention.count();
  store.transact([&](db::Tx& tx) {
    tx.sql() << "UPDATE idempotency_keys SET state = 'done', status = :status, response_headers = :headers, "
                "response_body = :body, expires_at = :expires_at "
                "WHERE scope = :scope AND idempotency_key = :key AND owner = :owner",
        soci::use(response.status), soci::use(headers), soci::use(response.body), soci::use(expires_at),
        soci::use(scope), soci::use(key), soci::use(owner);
  });
}

void release(db::Database& store, const std::string& scope, const std::string& key, const std::string& owner) {
  store.transact([&](db::Tx& tx) {
    tx.sql() << "DELETE FROM idempotency_keys WHERE scope = :scope AND idempotency_key = :key AND owner = :owner",
        soci::use(scope), soci::use(key), soci::use(owner);
  });
}

// For paths that already have an answer (the handler's response or exception): a failure here must not replace
// it. The claim then stays 'in_flight' until in_flight_timeout, after which a retry runs again.
void release_quietly(db::Database& store, const std::string& scope, const std::string& key, const std::string& owner) {
  try {
    release(store, scope, key, owner);
  } catch (const std::exception& error) {
    log::warn("could not release an Idempotency-Key claim", {{"idempotency_key", key}, {"error", error.what()}});
  }
}

http::Response replay(const StoredRecord& record) {
  http::Response response;
  response.status = record.status;
  const boost::json::value headers = boost::json::parse(record.response_headers);
  for (const auto& [name, value] : headers.as_object()) {
    response.headers.add(std::string(name), std::string(value.as_string()));
  }
  response.body = record.response_body;
  response.headers.set(kReplayedHeader, "true");
  return response;
}

}  // namespace

std::span<const db::MigrationFile> migrations() { return embedded::idempotency_migrations(); }

bool should_store(int status) {
  if (status >= 200 && status <= 299) return true;
  if (status >= 400 && status <= 499) return status != 408 && status != 409 && status != 425 && status != 429;
  return false;
}

std::string request_hash(const http::Request& request) {
  // Method and target hold no '\n', so the fields cannot run into each other.
  return db::sha256_hex(request.method + "\n" + request.target + "\n" + request.body);
}

http::Response with_idempotency(db::Database& store, const http::Request& request, std::string_view scope,
                                const std::function<http::Response()>& handler, const IdempotencyOptions& options) {
  if (scope.empty()) throw std::invalid_argument("with_idempotency needs the caller's scope (user id or address)");
  const std::string key = key_of(request);
  if (key.empty()) return handler();

  const std::string scope_text(scope);
  const std::string owner = new_owner_token();
  const Claim attempt = claim(store, scope_text, key, request_hash(request), owner, options);
  switch (attempt.outcome) {
    case ClaimOutcome::kDifferentRequest:
      throw errors::Invalid(std::string(kKeyHeader),
                            "this key was already used for a different request (method, path, query or body "
                            "differ); send a new key for a new request");
    case ClaimOutcome::kInFlight:
      throw errors::Conflict("a request with this Idempotency-Key is still being processed; retry it shortly",
                             "in_flight");
    case ClaimOutcome::kDone:
      return replay(attempt.record);
    case ClaimOutcome::kClaimed:
      break;
  }

  http::Response response;
  try {
    response = handler();
  } catch (...) {
    release_quietly(store, scope_text, key, owner);
    throw;
  }
  if (!should_store(response.status)) {
    release_quietly(store, scope_text, key, owner);
    return response;
  }
  try {
    complete(store, scope_text, key, owner, response, options);
  } catch (const std::exception& error) {
    // The handler's work is committed and its response is right, so the client gets it. Without the record a
    // retry will run the handler again (see the guarantee in the header).
    log::error("could not store the response for an Idempotency-Key",
               {{"idempotency_key", key}, {"status", response.status}, {"error", error.what()}});
    release_quietly(store, scope_text, key, owner);
  }
  return response;
}

std::size_t purge_expired(db::Database& store, Clock::time_point now) {
  const long long cutoff = unix_seconds(now);
  return store.transact([&](db::Tx& tx) {
    soci::statement statement =
        (tx.sql().prepare << "DELETE FROM idempotency_keys WHERE expires_at <= :cutoff", soci::use(cutoff));
    statement.execute(true);
    return static_cast<std::size_t>(statement.get_affected_rows());
  });
}

}  // namespace intercab::idempotency
