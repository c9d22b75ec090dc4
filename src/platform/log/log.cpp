// Structured JSON-lines logging (one object per line on stderr) with a per-thread request context.
#include "platform/log/log.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "platform/text/text.hpp"

namespace intercab::log {

namespace detail {
std::atomic<Level> minimum_level{Level::info};
}  // namespace detail

namespace {

constexpr std::array<std::string_view, 7> kCoreKeys = {"ts",       "level",   "service", "request_id",
                                                       "trace_id", "span_id", "msg"};

// Hands each formatted line to a callback; base_sink's mutex serialises the calls.
class CallbackSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit CallbackSink(std::function<void(std::string_view)> callback) : callback_(std::move(callback)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    callback_(std::string_view(message.payload.data(), message.payload.size()));
  }
  void flush_() override {}

 private:
  std::function<void(std::string_view)> callback_;
};

struct Output {
  std::shared_ptr<spdlog::logger> logger;
  std::string default_service;
};

std::shared_ptr<const Output> make_output(const Options& options) {
  spdlog::sink_ptr sink;
  if (options.sink) {
    sink = std::make_shared<CallbackSink>(options.sink);
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("intercab", std::move(sink));
  logger->set_pattern("%v");                // the payload is the finished JSON object
  logger->set_level(spdlog::level::trace);  // filtering happens before a line is built, in enabled()
  return std::make_shared<const Output>(Output{std::move(logger), options.service});
}

// Never destroyed, so that code running in static destructors can still log.
std::atomic<std::shared_ptr<const Output>>& current_output() {
  static auto* output = new std::atomic<std::shared_ptr<const Output>>(make_output(Options{}));
  return *output;
}

thread_local LogContext thread_context;

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warn:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
  }
  return spdlog::level::err;
}

std::string rfc3339_utc_now() {
  using namespace std::chrono;
  auto now = floor<milliseconds>(system_clock::now());
  auto day = floor<days>(now);
  year_month_day date{day};
  hh_mm_ss time{now - day};
  char text[64];
  int length = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
                             static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                             static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                             static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
  return std::string(text, static_cast<std::size_t>(length));
}

// Makes any value serialisable as strict JSON: UTF-8 everywhere, and non-finite numbers (which Boost.JSON prints
// as the non-JSON tokens Infinity and NaN) as strings.
void make_strict_json(boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::string: {
      auto& string = value.get_string();
      if (!text::is_valid_utf8(string)) string = text::replace_invalid_utf8(string);
      break;
    }
    case boost::json::kind::double_: {
      double number = value.get_double();
      if (std::isnan(number)) value = "NaN";
      if (std::isinf(number)) value = number > 0 ? "Infinity" : "-Infinity";
      break;
    }
    case boost::json::kind::array:
      for (auto& element : value.get_array()) make_strict_json(element);
      break;
    case boost::json::kind::object: {
      auto& object = value.get_object();
      bool keys_valid = std::all_of(object.begin(), object.end(), [](const boost::json::key_value_pair& member) {
        return text::is_valid_utf8(member.key());
      });
      if (!keys_valid) {
        boost::json::object rebuilt(object.storage());
        rebuilt.reserve(object.size());
        for (auto& member : object)
          rebuilt.emplace(text::replace_invalid_utf8(member.key()), std::move(member.value()));
        object = std::move(rebuilt);
      }
      for (auto& member : object) make_strict_json(member.value());
      break;
    }
    default:
      break;
  }
}

bool is_core_key(std::string_view key) { return std::find(kCoreKeys.begin(), kCoreKeys.end(), key) != kCoreKeys.end(); }

void add_field(boost::json::object& line, std::string_view key, const boost::json::value& value) {
  if (is_core_key(key) || line.contains(key)) {
    // Built by appending: GCC 12 at -O3 misreads `"_" + std::string(key)` as an overlapping copy
    // (-Wrestrict), which breaks Release builds under -Werror.
    std::string prefixed;
    prefixed.reserve(key.size() + 1);
    prefixed += '_';
    prefixed += key;
    line.emplace(prefixed, value);
  } else {
    line.emplace(key, value);
  }
}

void add_context(boost::json::object& line, std::string_view key, std::string_view value) {
  if (!value.empty()) line.emplace(key, value);
}

void emit(Level level, std::string_view message, const boost::json::object& own_fields,
          const boost::json::object& fields) {
  auto output = current_output().load();
  const LogContext& context = thread_context;

  boost::json::value line_value(boost::json::object_kind);
  auto& line = line_value.get_object();
  line.reserve(kCoreKeys.size() + own_fields.size() + fields.size());
  line.emplace("ts", rfc3339_utc_now());
  line.emplace("level", to_string(level));
  add_context(line, "service", context.service.empty() ? output->default_service : context.service);
  add_context(line, "request_id", context.request_id);
  add_context(line, "trace_id", context.trace_id);
  add_context(line, "span_id", context.span_id);
  line.emplace("msg", message);
  for (const auto& member : own_fields) add_field(line, member.key(), member.value());
  for (const auto& member : fields) add_field(line, member.key(), member.value());
  make_strict_json(line_value);

  std::string text = boost::json::serialize(line_value);
  output->logger->log(spdlog::source_loc{}, to_spdlog(level), spdlog::string_view_t(text.data(), text.size()));
}

}  // namespace

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn") return Level::warn;
  if (name == "error") return Level::error;
  throw std::invalid_argument("unknown log level '" + std::string(name) + "'; use debug, info, warn or error");
}

std::string_view to_string(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "error";
}

void init(const Options& options) {
  Level level = parse_level(options.level);  // throws before anything changes
  current_output().store(make_output(options));
  detail::minimum_level.store(level, std::memory_order_relaxed);
}

const LogContext& current_context() { return thread_context; }

ScopedLogContext::ScopedLogContext(LogContext context) : previous_(std::exchange(thread_context, std::move(context))) {}

ScopedLogContext::~ScopedLogContext() { thread_context = std::move(previous_); }

namespace detail {

void write(Level level, std::string_view message, const boost::json::object& fields) {
  emit(level, message, {}, fields);
}

void write(Level level, std::string_view message, Fields fields) {
  emit(level, message, {}, boost::json::object(fields));
}

}  // namespace detail

void access(std::string_view method, std::string_view route_template, int status, double duration_ms, Fields fields) {
  Level level = status >= 500 ? Level::error : Level::info;
  if (!enabled(level)) return;
  // Microsecond resolution is all a request duration needs; more digits are noise in every line.
  double rounded_ms = std::round(duration_ms * 1000.0) / 1000.0;
  boost::json::object own_fields{
      {"method", method}, {"route", route_template}, {"status", status}, {"duration_ms", rounded_ms}};
  emit(level, "request", own_fields, boost::json::object(fields));
}

}  // namespace intercab::log
