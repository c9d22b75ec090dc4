// The same binary on real infrastructure, switched by environment variables alone: PostgreSQL
// (one database per service, created by `intercab migrate`), NATS JetStream and Redis, each a
// real server started here on a free loopback port. /ready reports store, bus and cache, turns
// false when Redis or NATS goes away and true again when they come back, with no restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json/parse.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "nats_server.hpp"
#include "postgres_server.hpp"
#include "process.hpp"
#include "raw_http.hpp"
#include "redis_server.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class Distributed : public ::testing::Test {
 protected:
  testing::EnvOverrides environment() const {
    return {{"INTERCAB_HOME", home_.path().string()},
            {"DB_CONNECTION", postgres_.url("intercab_{service}")},
            {"EVENTS_URL", nats_.url()},
            {"REDIS_URL", redis_.url()},
            {"BOOKING_PORT", "0"},
            {"NOTIFICATION_PORT", "0"},
            {"USER_PORT", "0"}};
  }

  std::string run(const std::string& arguments, int* status, const testing::EnvOverrides& extra = {}) const {
    std::string command;
    auto env = environment();
    for (const auto& [name, value] : extra) env[name] = value;
    for (const auto& [name, value] : env) command += name + "='" + value + "' ";
    command += testing::required_env("INTERCAB_BINARY") + " " + arguments;
    std::string output;
    *status = testing::run_command(command, &output);
    return output;
  }

  testing::TempDir home_{"intercab-distributed"};
  testing::PostgresServer postgres_;
  testing::NatsServer nats_;
  testing::RedisServer redis_;
};

TEST_F(Distributed, MigrateCreatesOneDatabasePerServiceAndIsIdempotent) {
  int status = -1;
  auto output = run("migrate --target=booking,notification", &status);
  ASSERT_EQ(status, 0) << output;
  EXPECT_THAT(output, HasSubstr("booking (postgresql://postgres@127.0.0.1:"));
  EXPECT_THAT(output, HasSubstr("intercab_booking"));
  EXPECT_THAT(output, HasSubstr("applied 001_event_outbox.postgres.sql 002_event_inbox.sql"));
  EXPECT_THAT(output, HasSubstr("intercab_notification"));
  output = run("migrate --target=booking,notification", &status);
  ASSERT_EQ(status, 0) << output;
  EXPECT_THAT(output, HasSubstr("platform: up to date (2 applied before)"));
}

TEST_F(Distributed, SharedDatabaseForSeveralServicesIsRefused) {
  int status = -1;
  const auto output =
      run("migrate --target=booking,notification", &status, {{"DB_CONNECTION", postgres_.url("intercab")}});
  EXPECT_EQ(status, 2) << output;
  EXPECT_THAT(output, HasSubstr("would share one database"));
  EXPECT_THAT(output, HasSubstr("{service}"));
}

TEST_F(Distributed, ServesOnPostgresNatsAndRedisAndReadinessFollowsTheServers) {
  const auto ports_file = home_.path() / "ports.json";
  testing::ChildProcess process(testing::required_env("INTERCAB_BINARY"),
                                {"serve", "--target=booking,notification,user", "--ports-file", ports_file.string()},
                                environment(), home_.path() / "serve.log");
  ASSERT_TRUE(testing::eventually([&] { return std::filesystem::exists(ports_file) || !process.running(); }, 60s));
  ASSERT_TRUE(std::filesystem::exists(ports_file)) << process.log();
  std::ifstream in(ports_file);
  std::stringstream text;
  text << in.rdbuf();
  const auto port = static_cast<std::uint16_t>(boost::json::parse(text.str()).at("notification").as_int64());
  auto ready = [&] { return testing::request(port, "GET", "/ready"); };

  auto answer = ready();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
  EXPECT_THAT(answer->body, HasSubstr("\"store\":\"ok\""));
  EXPECT_THAT(answer->body, HasSubstr("\"bus\":\"ok\""));
  EXPECT_THAT(answer->body, HasSubstr("\"cache\":\"ok\""));

  // Each server goes away and comes back: /ready says which check failed, then recovers by itself.
  auto readiness_follows = [&](auto stop, auto start, const std::string& failing_check, const std::string& mention) {
    SCOPED_TRACE(failing_check);
    stop();
    EXPECT_TRUE(testing::eventually(
        [&] {
          auto r = ready();
          return r && r->status == 503;
        },
        20s));
    const auto down = ready();
    ASSERT_TRUE(down);
    const auto checks = boost::json::parse(down->body).at("checks").as_object();
    EXPECT_NE(checks.at(failing_check).as_string(), "ok") << down->body;
    EXPECT_THAT(down->body, HasSubstr(mention));
    start();
    EXPECT_TRUE(testing::eventually(
        [&] {
          auto r = ready();
          return r && r->status == 200;
        },
        30s))
        << ready()->body;
  };
  readiness_follows([&] { redis_.stop(); }, [&] { redis_.start(); }, "cache", "\"cache\":\"");
  readiness_follows([&] { nats_.stop(); }, [&] { nats_.start(); }, "bus", "NATS");

  const auto version = testing::request(port, "GET", "/version");
  ASSERT_TRUE(version);
  EXPECT_THAT(version->body, HasSubstr("platform.events"));
  process.signal(SIGTERM);
  EXPECT_EQ(process.wait(30s), 0) << process.log();
}

}  // namespace
}  // namespace intercab
