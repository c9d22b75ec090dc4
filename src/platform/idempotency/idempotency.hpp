// Idempotency-Key support for POST routes that create something or move money (API-CONVENTIONS "Idempotency"):
// the first request with a key runs and its response is kept for 24 h; a retry with the same key and request gets
// that response again instead of a second effect.
//
// Records live in the table idempotency_keys of the service's own database (migrations() below, applied as
// component "idempotency"). Per caller (scope) and key, with_idempotency():
//   - no Idempotency-Key header: runs the handler, nothing is recorded;
//   - a malformed key (empty, over 255 characters, anything but printable ASCII) or several keys: errors::Invalid
//     on field "Idempotency-Key" (422), the handler does not run;
//   - a new key, or one whose record has expired: claims the key ('in_flight', committed in a transaction of its
//     own), runs the handler, then stores the response ('done') when it is worth replaying (should_store());
//     otherwise, or when the handler throws, removes the claim so that a retry runs again;
//   - the key was used for a different request (method, target or body differ): errors::Invalid (422);
//   - the same request is still running: errors::Conflict with current_state "in_flight" (409);
//   - the same request is done: its stored status, body and Content-Type/Location/ETag, plus
//     `Idempotent-Replayed: true`, without running the handler.
//
// The guarantee, precisely: the claim, the handler's own transactions and the 'done' write are separate
// transactions, so this is at-most-once only while processes do not die. If a process crashes (or cannot reach
// the database) after the handler committed but before 'done' was written, the record stays 'in_flight': retries
// get 409 until it is older than in_flight_timeout, then a retry takes the key over and runs the handler AGAIN.
// (If only the 'done' write fails, the client still gets the handler's response, the claim is removed when
// possible, and a retry runs the handler again at once.)
// A handler that is slower than in_flight_timeout can likewise be run a second time by a retry. Handlers should
// therefore stay naturally idempotent where they can (e.g. a unique client reference in their own table).
// Problems thrown by the handler (the usual way to answer 4xx) are not stored: they are rethrown and a retry runs
// again, which is safe because a rejected request changed nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "platform/db/db.hpp"
#include "platform/db/migrations.hpp"
#include "platform/http/message.hpp"

namespace intercab::idempotency {

inline constexpr std::string_view kKeyHeader = "Idempotency-Key";
inline constexpr std::string_view kReplayedHeader = "Idempotent-Replayed";
inline constexpr std::size_t kMaxKeyLength = 255;
// The migration component under which migrations() is applied in every service database.
inline constexpr std::string_view kMigrationComponent = "idempotency";

using Clock = std::chrono::system_clock;

struct IdempotencyOptions {
  std::chrono::seconds retention{std::chrono::hours(24)};  // how long a key and its response are kept
  // An 'in_flight' record older than this is taken to belong to a crashed process, and the same request with the
  // same key runs again. Keep it well above the route's slowest response.
  std::chrono::seconds in_flight_timeout{60};
  std::function<Clock::time_point()> now = [] { return Clock::now(); };  // injectable for tests
};

// The table idempotency_keys, for db::migrate(store, kMigrationComponent, migrations()).
std::span<const db::MigrationFile> migrations();

// Runs `handler` for `request` under the rules at the top of this file. `scope` identifies the caller (user id, or
// client address for anonymous routes), so one caller's key never replays another caller's response; it must not
// be empty (std::invalid_argument). Throws errors::Invalid / errors::Conflict as described, whatever the handler
// throws, and db::DatabaseUnavailable when the claim cannot be written (the handler then has not run).
http::Response with_idempotency(db::Database& store, const http::Request& request, std::string_view scope,
                                const std::function<http::Response()>& handler, const IdempotencyOptions& options = {});

// Whether a response with this status is stored for replay: 2xx, and 4xx except the "try again" ones
// (408, 409, 425, 429). Server errors (5xx) and anything else are not: a retry should run again.
bool should_store(int status);

// Lower-case hex SHA-256 of the method, the request target (path and query as sent) and the body: what "the same
// request" means.
std::string request_hash(const http::Request& request);

// Deletes the records that expired at or before `now` (housekeeping; expired records are already ignored) and
// returns how many it deleted.
std::size_t purge_expired(db::Database& store, Clock::time_point now = Clock::now());

}  // namespace intercab::idempotency
