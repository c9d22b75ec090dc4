// Tests of the JSON-lines logger: line shape, context, levels, hostile input and concurrent writers.
#include "platform/log/log.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <limits>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

namespace intercab::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { init(Options{}); }

  void capture(std::string level = "debug", std::string service = "") {
    Options options;
    options.level = std::move(level);
    options.service = std::move(service);
    options.sink = [this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    };
    init(options);
  }

  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

  // The only captured line, parsed; fails the test unless exactly one line is valid JSON.
  boost::json::object only_line() {
    auto captured = lines();
    EXPECT_EQ(captured.size(), 1U);
    if (captured.empty()) return {};
    boost::system::error_code error;
    auto value = boost::json::parse(captured.back(), error);
    EXPECT_FALSE(error) << error.message() << " in " << captured.back();
    EXPECT_TRUE(value.is_object()) << captured.back();
    return value.is_object() ? value.get_object() : boost::json::object{};
  }

  static std::vector<std::string> keys_of(const boost::json::object& object) {
    std::vector<std::string> keys;
    for (const auto& member : object) keys.emplace_back(member.key());
    return keys;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneJsonObjectWithCoreKeysFirst) {
  capture();
  {
    ScopedLogContext context({"booking", "req-1", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"});
    info("booking created", {{"booking_id", "bk-42"}, {"fare_paise", 123456}, {"round_trip", true}});
  }
  auto line = only_line();
  EXPECT_EQ(keys_of(line), (std::vector<std::string>{"ts", "level", "service", "request_id", "trace_id", "span_id",
                                                     "msg", "booking_id", "fare_paise", "round_trip"}));
  EXPECT_TRUE(std::regex_match(std::string(line["ts"].as_string()),
                               std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")))
      << line["ts"];
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["service"], "booking");
  EXPECT_EQ(line["request_id"], "req-1");
  EXPECT_EQ(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(line["span_id"], "00f067aa0ba902b7");
  EXPECT_EQ(line["msg"], "booking created");
  EXPECT_EQ(line["booking_id"], "bk-42");
  EXPECT_EQ(line["fare_paise"], 123456);
  EXPECT_EQ(line["round_trip"], true);
}

TEST_F(LogTest, TimestampIsCurrentUtc) {
  capture();
  auto before = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  info("tick");
  auto after = std::chrono::system_clock::now();
  std::string ts(only_line()["ts"].as_string());
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millisecond = 0;
  ASSERT_EQ(std::sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &year, &month, &day, &hour, &minute, &second,
                        &millisecond),
            7)
      << ts;
  using namespace std::chrono;
  auto logged = sys_days{year_month_day{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}}} +
                hours{hour} + minutes{minute} + seconds{second} + milliseconds{millisecond};
  EXPECT_GE(logged, before);
  EXPECT_LE(logged, after);
}

TEST_F(LogTest, LeavesOutEmptyContextMembers) {
  capture();
  info("starting");
  EXPECT_EQ(keys_of(only_line()), (std::vector<std::string>{"ts", "level", "msg"}));
}

TEST_F(LogTest, FallsBackToTheConfiguredService) {
  capture("info", "intercab");
  {
    ScopedLogContext context({.service = "", .request_id = "req-9", .trace_id = "", .span_id = ""});
    info("no service in context");
  }
  auto line = only_line();
  EXPECT_EQ(keys_of(line), (std::vector<std::string>{"ts", "level", "service", "request_id", "msg"}));
  EXPECT_EQ(line["service"], "intercab");
}

TEST_F(LogTest, ScopedContextsNestAndRestore) {
  capture();
  EXPECT_EQ(current_context().request_id, "");
  {
    ScopedLogContext outer({"booking", "req-outer", "", ""});
    {
      LogContext inner_context = current_context();
      inner_context.request_id = "req-inner";
      ScopedLogContext inner(inner_context);
      info("inner");
      EXPECT_EQ(current_context().service, "booking");
      EXPECT_EQ(current_context().request_id, "req-inner");
    }
    EXPECT_EQ(current_context().request_id, "req-outer");
    info("outer");
  }
  EXPECT_EQ(current_context().request_id, "");
  EXPECT_EQ(current_context().service, "");
  info("none");

  auto captured = lines();
  ASSERT_EQ(captured.size(), 3U);
  EXPECT_EQ(boost::json::parse(captured[0]).at("request_id"), "req-inner");
  EXPECT_EQ(boost::json::parse(captured[1]).at("request_id"), "req-outer");
  EXPECT_FALSE(boost::json::parse(captured[2]).as_object().contains("request_id"));
}

TEST_F(LogTest, ContextBelongsToOneThread) {
  capture();
  ScopedLogContext context({"booking", "req-main", "", ""});
  std::string seen_by_other_thread = "unset";
  std::thread other([&] {
    seen_by_other_thread = current_context().request_id;
    ScopedLogContext own({"payment", "req-other", "", ""});
    info("from other thread");
  });
  other.join();
  EXPECT_EQ(seen_by_other_thread, "");
  EXPECT_EQ(current_context().request_id, "req-main");
  EXPECT_EQ(only_line()["request_id"], "req-other");
}

TEST_F(LogTest, FiltersByLevel) {
  capture("warn");
  EXPECT_FALSE(enabled(Level::debug));
  EXPECT_FALSE(enabled(Level::info));
  EXPECT_TRUE(enabled(Level::warn));
  EXPECT_TRUE(enabled(Level::error));
  debug("hidden");
  info("hidden");
  warn("shown", {{"n", 1}});
  error("shown", {{"n", 2}});
  auto captured = lines();
  ASSERT_EQ(captured.size(), 2U);
  EXPECT_EQ(boost::json::parse(captured[0]).at("level"), "warn");
  EXPECT_EQ(boost::json::parse(captured[1]).at("level"), "error");
}

TEST_F(LogTest, DebugLevelWritesEverything) {
  capture("debug");
  debug("a");
  info("b");
  warn("c");
  error("d");
  auto captured = lines();
  ASSERT_EQ(captured.size(), 4U);
  EXPECT_EQ(boost::json::parse(captured[0]).at("level"), "debug");
}

TEST_F(LogTest, UnknownLevelIsRejectedByName) {
  capture("info");
  Options options;
  options.level = "verbose";
  try {
    init(options);
    FAIL() << "init accepted level 'verbose'";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("'verbose'"), std::string::npos) << error.what();
  }
  EXPECT_THROW(parse_level("INFO"), std::invalid_argument);
  EXPECT_THROW(parse_level(""), std::invalid_argument);
  // The previous configuration stays in force.
  info("still captured");
  EXPECT_EQ(lines().size(), 1U);
}

TEST_F(LogTest, LevelNamesRoundTrip) {
  for (auto level : {Level::debug, Level::info, Level::warn, Level::error}) {
    EXPECT_EQ(parse_level(to_string(level)), level);
  }
}

TEST_F(LogTest, EscapesHostileMessagesIntoValidJson) {
  capture();
  std::string hostile = std::string("quote\" backslash\\ newline\n cr\r tab\t nul") + '\0' + " end";
  info(hostile, {{"payload", hostile}});
  auto captured = lines();
  ASSERT_EQ(captured.size(), 1U);
  EXPECT_EQ(captured[0].find('\n'), std::string::npos);
  EXPECT_EQ(captured[0].find('\0'), std::string::npos);
  auto line = only_line();
  EXPECT_EQ(line["msg"].as_string(), hostile);
  EXPECT_EQ(line["payload"].as_string(), hostile);
}

TEST_F(LogTest, ReplacesInvalidUtf8) {
  capture();
  // Lone continuation, truncated sequence, overlong, surrogate, beyond U+10FFFF, then valid multi-byte text.
  std::string bad =
      "a\x80"
      "b\xE2\x82"
      "c\xC0\xAF"
      "d\xED\xA0\x80"
      "e\xF4\x90\x80\x80"
      "f \xE2\x82\xB9\xF0\x9F\x9A\x95";
  std::string bad_key = "k\xFF";
  boost::json::object nested{{"list", boost::json::array{"x\xFE", 1}}, {bad_key, "y"}};
  info(bad, {{bad_key, bad}, {"nested", nested}});
  auto line = only_line();  // boost::json::parse rejects invalid UTF-8, so this alone proves the line is clean
  std::string expected =
      "a\uFFFD"
      "b\uFFFD"
      "c\uFFFD\uFFFD"
      "d\uFFFD\uFFFD\uFFFD"
      "e\uFFFD\uFFFD\uFFFD\uFFFD"
      "f \u20B9\U0001F695";
  EXPECT_EQ(line["msg"].as_string(), expected);
  EXPECT_EQ(line["k\uFFFD"].as_string(), expected);
  EXPECT_EQ(line["nested"].at("list").at(0), "x\uFFFD");
  EXPECT_EQ(line["nested"].at("k\uFFFD"), "y");
}

TEST_F(LogTest, WritesNonFiniteNumbersAsStrings) {
  capture();
  info("numbers", {{"nan", std::numeric_limits<double>::quiet_NaN()},
                   {"inf", std::numeric_limits<double>::infinity()},
                   {"minus_inf", -std::numeric_limits<double>::infinity()},
                   {"half", 0.5}});
  auto line = only_line();
  EXPECT_EQ(line["nan"], "NaN");
  EXPECT_EQ(line["inf"], "Infinity");
  EXPECT_EQ(line["minus_inf"], "-Infinity");
  EXPECT_EQ(line["half"], 0.5);
}

TEST_F(LogTest, FieldsCannotHideCoreKeys) {
  capture();
  ScopedLogContext context({"booking", "", "", ""});
  info("real message", {{"msg", "fake"}, {"level", "fake"}, {"request_id", "fake"}});
  auto line = only_line();
  EXPECT_EQ(line["msg"], "real message");
  EXPECT_EQ(line["level"], "info");
  EXPECT_FALSE(line.contains("request_id"));
  EXPECT_EQ(line["_msg"], "fake");
  EXPECT_EQ(line["_level"], "fake");
  EXPECT_EQ(line["_request_id"], "fake");
}

TEST_F(LogTest, AcceptsAPrebuiltObject) {
  capture();
  boost::json::object fields{{"city_id", 1277333}, {"names", boost::json::array{"Pune", "Mumbai"}}};
  warn("prebuilt", fields);
  auto line = only_line();
  EXPECT_EQ(line["city_id"], 1277333);
  EXPECT_EQ(line["names"].at(1), "Mumbai");
}

TEST_F(LogTest, AccessLineNamesTheRouteTemplate) {
  capture();
  ScopedLogContext context({"booking", "req-7", "", ""});
  access("GET", "/api/v1/bookings/{id}", 200, 12.3456789, {{"bytes", 512}, {"status", "clash"}});
  auto line = only_line();
  EXPECT_EQ(keys_of(line), (std::vector<std::string>{"ts", "level", "service", "request_id", "msg", "method", "route",
                                                     "status", "duration_ms", "bytes", "_status"}));
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["msg"], "request");
  EXPECT_EQ(line["method"], "GET");
  EXPECT_EQ(line["route"], "/api/v1/bookings/{id}");
  EXPECT_EQ(line["status"], 200);
  EXPECT_DOUBLE_EQ(line["duration_ms"].as_double(), 12.346);
  EXPECT_EQ(line["bytes"], 512);
}

TEST_F(LogTest, ServerErrorsSurviveAWarnLevel) {
  capture("warn");
  access("POST", "/api/v1/bookings", 201, 3.0);
  access("POST", "/api/v1/bookings", 404, 1.0);
  access("POST", "/api/v1/bookings", 503, 30000.0);
  auto line = only_line();
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["status"], 503);
}

TEST_F(LogTest, ConcurrentWritersProduceWholeLinesInOrder) {
  // The sink appends to one string without a lock of its own: the logger must serialise whole lines.
  std::string output;
  Options options;
  options.level = "info";
  options.sink = [&output](std::string_view line) {
    output.append(line);
    output.push_back('\n');
  };
  init(options);

  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 500;
  const std::string padding(300, 'p');
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &padding] {
      ScopedLogContext context({"svc", "req-" + std::to_string(t), "", ""});
      for (int i = 0; i < kLinesPerThread; ++i) info("line \"" + padding + "\"", {{"thread", t}, {"seq", i}});
    });
  }
  for (auto& thread : threads) thread.join();
  init(Options{});

  std::vector<int> next_seq(kThreads, 0);
  std::istringstream stream(output);
  std::string text;
  int count = 0;
  while (std::getline(stream, text)) {
    boost::system::error_code error;
    auto line = boost::json::parse(text, error);
    ASSERT_FALSE(error) << text;
    auto thread = static_cast<int>(line.at("thread").as_int64());
    EXPECT_EQ(std::string(line.at("request_id").as_string()), "req-" + std::to_string(thread));
    EXPECT_EQ(line.at("seq").as_int64(), next_seq[static_cast<std::size_t>(thread)]++);
    ++count;
  }
  EXPECT_EQ(count, kThreads * kLinesPerThread);
}

}  // namespace
}  // namespace intercab::log
