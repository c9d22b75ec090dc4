// Structured JSON-lines logging (one object per line on stderr) with a per-thread request context.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/value_ref.hpp>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace intercab::log {

enum class Level { debug, info, warn, error };

// "debug", "info", "warn" or "error"; anything else throws std::invalid_argument naming the bad value.
Level parse_level(std::string_view name);
std::string_view to_string(Level level);

struct Options {
  std::string level = "info";
  // Written as `service` when the thread's LogContext names none (start-up, background work).
  std::string service;
  // Receives each line without its newline instead of stderr; for tests. Called under the logger's lock, so it
  // must not log.
  std::function<void(std::string_view line)> sink;
};

// Replaces the level, service and sink for every thread. Safe to call while other threads log.
void init(const Options& options);

// What every line written by the current thread carries; empty members are left out of the line.
struct LogContext {
  std::string service;
  std::string request_id;
  std::string trace_id;
  std::string span_id;
};

const LogContext& current_context();

// Sets the current thread's context for its lifetime and then restores the one before, so scopes nest. It replaces
// the whole context: to change one member, copy current_context() and edit the copy. Destroy it on the thread that
// created it.
class ScopedLogContext {
 public:
  explicit ScopedLogContext(LogContext context);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  LogContext previous_;
};

// Extra structured fields: `{{"booking_id", id}, {"attempt", 3}}`. value_ref only refers to its arguments, so
// nothing is copied or allocated unless the line is written. A field named like a core key (ts, level, msg...) is
// written as "_<name>" so it can never hide the real one.
using Fields = std::initializer_list<std::pair<boost::json::string_view, boost::json::value_ref>>;

namespace detail {
extern std::atomic<Level> minimum_level;
void write(Level level, std::string_view message, const boost::json::object& fields);
void write(Level level, std::string_view message, Fields fields);
}  // namespace detail

inline bool enabled(Level level) { return level >= detail::minimum_level.load(std::memory_order_relaxed); }

// The level is checked before anything else happens, so a disabled line costs one relaxed atomic load.
inline void write(Level level, std::string_view message, Fields fields = {}) {
  if (enabled(level)) detail::write(level, message, fields);
}
inline void write(Level level, std::string_view message, const boost::json::object& fields) {
  if (enabled(level)) detail::write(level, message, fields);
}

inline void debug(std::string_view message, Fields fields = {}) { write(Level::debug, message, fields); }
inline void info(std::string_view message, Fields fields = {}) { write(Level::info, message, fields); }
inline void warn(std::string_view message, Fields fields = {}) { write(Level::warn, message, fields); }
inline void error(std::string_view message, Fields fields = {}) { write(Level::error, message, fields); }
inline void debug(std::string_view message, const boost::json::object& fields) { write(Level::debug, message, fields); }
inline void info(std::string_view message, const boost::json::object& fields) { write(Level::info, message, fields); }
inline void warn(std::string_view message, const boost::json::object& fields) { write(Level::warn, message, fields); }
inline void error(std::string_view message, const boost::json::object& fields) { write(Level::error, message, fields); }

// One line per HTTP request: msg "request" with method, route, status and duration_ms. `route_template` is the
// matched route (`/api/v1/bookings/{id}`), never the raw path, so lines group by endpoint and carry no ids or query
// strings. 5xx responses are logged at error so that they survive a warn-level configuration.
void access(std::string_view method, std::string_view route_template, int status, double duration_ms,
            Fields fields = {});

}  // namespace intercab::log
