// Starts `intercab serve --target=all` on free ports and drives it over HTTP: common endpoints
// of every service, problem+json errors, limits, promtool-valid metrics, graceful shutdown,
// and start-up refusal on bad configuration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "platform/db/db.hpp"
#include "process.hpp"
#include "raw_http.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const std::vector<std::string> kServices = {"gateway", "user",         "booking", "location",  "driver",
                                            "payment", "notification", "ai",      "analytics", "admin"};

testing::EnvOverrides free_port_environment(const std::filesystem::path& home) {
  testing::EnvOverrides env{{"INTERCAB_HOME", home.string()}, {"LOG_LEVEL", "info"}};
  for (const auto& name : kServices) {
    std::string upper = name;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env[upper + "_PORT"] = "0";
  }
  return env;
}

class ServeAll : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new testing::TempDir("intercab-serve-all");
    auto ports_file = home_->path() / "ports.json";
    auto env = free_port_environment(home_->path());
    process_ = new testing::ChildProcess(testing::required_env("INTERCAB_BINARY"),
                                         {"serve", "--target=all", "--ports-file", ports_file.string()}, env,
                                         home_->path() / "serve.log");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!std::filesystem::exists(ports_file) && std::chrono::steady_clock::now() < deadline && process_->running()) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(std::filesystem::exists(ports_file)) << "no ports file; log:\n" << process_->log();
    std::ifstream in(ports_file);
    std::stringstream text;
    text << in.rdbuf();
    const auto document = boost::json::parse(text.str());
    for (const auto& [name, port] : document.as_object()) {
      ports_[std::string(name)] = static_cast<std::uint16_t>(port.as_int64());
    }
  }
  static void TearDownTestSuite() {
    delete process_;
    delete home_;
  }

  static std::optional<testing::RawResponse> get(const std::string& service, const std::string& target) {
    return testing::request(ports_.at(service), "GET", target);
  }

  static testing::TempDir* home_;
  static testing::ChildProcess* process_;
  static std::map<std::string, std::uint16_t> ports_;
};

testing::TempDir* ServeAll::home_ = nullptr;
testing::ChildProcess* ServeAll::process_ = nullptr;
std::map<std::string, std::uint16_t> ServeAll::ports_;

TEST_F(ServeAll, PortsFileListsEveryServiceOnDistinctPorts) {
  ASSERT_EQ(ports_.size(), kServices.size());
  std::set<std::uint16_t> distinct;
  for (const auto& name : kServices) {
    ASSERT_TRUE(ports_.contains(name)) << name;
    EXPECT_GT(ports_.at(name), 0);
    distinct.insert(ports_.at(name));
  }
  EXPECT_EQ(distinct.size(), kServices.size());
}

TEST_F(ServeAll, EveryServiceAnswersTheCommonEndpoints) {
  for (const auto& name : kServices) {
    SCOPED_TRACE(name);
    auto health = get(name, "/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, R"({"status":"ok"})");

    auto ready = get(name, "/ready");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200) << ready->body;
    auto ready_body = boost::json::parse(ready->body).as_object();
    EXPECT_EQ(ready_body.at("status").as_string(), "ready");
    for (const auto& [check, result] : ready_body.at("checks").as_object()) {
      EXPECT_EQ(result.as_string(), "ok") << check;
    }

    auto version = boost::json::parse(get(name, "/version")->body).as_object();
    EXPECT_EQ(version.at("service").as_string(), name);
    for (const char* key : {"version", "git_sha", "build_type", "build_time"}) {
      EXPECT_FALSE(version.at(key).as_string().empty()) << key;
    }
    EXPECT_TRUE(version.at("capabilities").is_array());

    auto openapi = get(name, "/openapi.json");
    EXPECT_EQ(openapi->header("content-type"), "application/json");
    auto document = boost::json::parse(openapi->body).as_object();
    EXPECT_EQ(document.at("openapi").as_string(), "3.1.0");
    EXPECT_THAT(std::string(document.at("info").at("title").as_string()), HasSubstr(name));
    for (const char* path : {"/health", "/ready", "/metrics", "/version", "/openapi.json"}) {
      EXPECT_TRUE(document.at("paths").as_object().contains(path)) << path;
    }
  }
}

TEST_F(ServeAll, ReadinessChecksTheDependencies) {
  auto body = boost::json::parse(get("booking", "/ready")->body).as_object();
  auto& checks = body.at("checks").as_object();
  for (const char* dependency : {"dependency.user", "dependency.location", "dependency.driver", "dependency.payment"}) {
    EXPECT_TRUE(checks.contains(dependency)) << dependency;
  }
}

// With no settings every domain service runs on the embedded adapters: a SQLite file of its own
// under $INTERCAB_HOME/var, the in-process bus and the memory cache, each checked by /ready.
TEST_F(ServeAll, DomainServicesHaveTheirOwnStoreBusAndCache) {
  for (const auto& name : kServices) {
    if (name == "gateway") continue;
    SCOPED_TRACE(name);
    auto body = boost::json::parse(get(name, "/ready")->body).as_object();
    auto& checks = body.at("checks").as_object();
    for (const char* check : {"store", "bus", "cache"}) {
      ASSERT_TRUE(checks.contains(check)) << check;
      EXPECT_EQ(checks.at(check).as_string(), "ok") << check;
    }
    EXPECT_TRUE(std::filesystem::exists(home_->path() / "var" / (name + ".db")));
    auto version = boost::json::parse(get(name, "/version")->body).as_object();
    const auto capabilities = boost::json::serialize(version.at("capabilities"));
    EXPECT_THAT(capabilities, HasSubstr("platform.store"));
    EXPECT_THAT(capabilities, HasSubstr("platform.events"));
  }
  EXPECT_FALSE(std::filesystem::exists(home_->path() / "var" / "gateway.db")) << "the gateway has no database";
}

TEST_F(ServeAll, EveryMetricsEndpointPassesPromtool) {
  std::string promtool_output;
  ASSERT_EQ(testing::run_command("command -v promtool", &promtool_output), 0)
      << "promtool not found: install the Debian package 'prometheus' (scripts/bootstrap does)";
  for (const auto& name : kServices) {
    SCOPED_TRACE(name);
    get(name, "/health");
    get(name, "/nope");
    auto metrics = get(name, "/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_THAT(metrics->header("content-type"), HasSubstr("text/plain; version=0.0.4"));
    EXPECT_THAT(metrics->body, HasSubstr("http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}"));
    EXPECT_THAT(metrics->body, HasSubstr("process_start_time_seconds"));
    auto file = home_->path() / ("metrics-" + name + ".txt");
    std::ofstream(file) << metrics->body;
    std::string output;
    EXPECT_EQ(testing::run_command("promtool check metrics < " + file.string(), &output), 0) << output;
    EXPECT_EQ(output, "") << "promtool lint findings";
  }
}

TEST_F(ServeAll, UnknownRouteIsProblemJson) {
  for (const auto& name : kServices) {
    if (name == "gateway") continue;  // the gateway's 404 comes from its route table (gateway_test)
    auto response = get(name, "/api/v1/does-not-exist");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 404);
    EXPECT_EQ(response->header("content-type"), "application/problem+json");
    auto body = boost::json::parse(response->body).as_object();
    EXPECT_EQ(body.at("status").as_int64(), 404);
    EXPECT_EQ(body.at("instance").as_string(), "/api/v1/does-not-exist");
    EXPECT_EQ(body.at("request_id").as_string(), response->header("x-request-id"));
  }
}

TEST_F(ServeAll, WrongMethodIs405WithAllow) {
  auto response = testing::request(ports_.at("user"), "DELETE", "/health");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("allow"), "GET, HEAD");
  EXPECT_EQ(response->header("content-type"), "application/problem+json");
}

TEST_F(ServeAll, BodyOverTheLimitIs413) {
  auto response = testing::request(ports_.at("booking"), "POST", "/health", std::string(1024 * 1024 + 1, 'x'));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->header("content-type"), "application/problem+json");
}

// Runs last (gtest keeps declaration order): SIGTERM while a request is in flight.
TEST_F(ServeAll, ZShutdownDrainsTheRequestInFlight) {
  testing::RawConnection in_flight(ports_.at("payment"));
  // Head sent, body still arriving: the request is in flight when the signal comes.
  ASSERT_TRUE(in_flight.send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234"));
  std::this_thread::sleep_for(200ms);
  process_->signal(SIGTERM);
  bool refused = false;  // listeners stop accepting as soon as the signal is handled
  for (int i = 0; i < 300 && !refused; ++i) {
    try {
      testing::RawConnection probe(ports_.at("user"));
      std::this_thread::sleep_for(10ms);
    } catch (const std::runtime_error&) {
      refused = true;
    }
  }
  EXPECT_TRUE(refused) << "new connections were still accepted 3 s after SIGTERM";
  ASSERT_TRUE(in_flight.send("56789"));
  auto response = in_flight.read_response(5s);
  ASSERT_TRUE(response) << "the in-flight request was cut";
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("connection"), "close");
  auto status = process_->wait(15s);
  ASSERT_TRUE(status) << "did not exit after SIGTERM";
  EXPECT_EQ(*status, 0) << process_->log();
  EXPECT_THAT(process_->log(), HasSubstr("\"msg\":\"stopped\""));
}

class BadStart : public ::testing::Test {
 protected:
  std::pair<int, std::string> run(const std::vector<std::string>& args, testing::EnvOverrides extra) {
    testing::TempDir home("intercab-bad-start");
    auto env = free_port_environment(home.path());
    for (auto& [name, value] : extra) env[name] = value;
    testing::ChildProcess process(testing::required_env("INTERCAB_BINARY"), args, env, home.path() / "out.log");
    auto status = process.wait(20s);
    return {status.value_or(-1), process.log()};
  }
};

TEST_F(BadStart, BadPortStopsStartUpNamingTheKey) {
  auto [status, output] = run({"serve"}, {{"USER_PORT", "eighty"}});
  EXPECT_EQ(status, 2);
  EXPECT_THAT(output, HasSubstr("USER_PORT"));
  EXPECT_THAT(output, HasSubstr("services.user.port"));
}

TEST_F(BadStart, KafkaIsRefused) {
  auto [status, output] = run({"serve"}, {{"KAFKA_BROKERS", "k:9092"}});
  EXPECT_EQ(status, 2);
  EXPECT_THAT(output, HasSubstr("EVENTS_URL=nats://"));
}

TEST_F(BadStart, UnknownTargetListsValidOnes) {
  auto [status, output] = run({"serve", "--target=user,bookings"}, {});
  EXPECT_EQ(status, 2);
  EXPECT_THAT(output, HasSubstr("unknown target 'bookings'"));
  EXPECT_THAT(output, HasSubstr("valid targets: all, gateway, user"));
}

TEST_F(BadStart, PortInUseFailsClearly) {
  testing::TempDir home("intercab-port-in-use");
  auto env = free_port_environment(home.path());
  testing::ChildProcess first(testing::required_env("INTERCAB_BINARY"),
                              {"serve", "--target=user", "--ports-file", (home.path() / "p.json").string()}, env,
                              home.path() / "first.log");
  for (int i = 0; i < 1000 && !std::filesystem::exists(home.path() / "p.json"); ++i) std::this_thread::sleep_for(10ms);
  std::ifstream in(home.path() / "p.json");
  std::stringstream text;
  text << in.rdbuf();
  const auto ports = boost::json::parse(text.str());
  auto port = ports.at("user").as_int64();
  auto [status, output] = run({"serve", "--target=user"}, {{"USER_PORT", std::to_string(port)}});
  EXPECT_EQ(status, 1);
  EXPECT_THAT(output, HasSubstr("cannot listen"));
}

TEST(Migrate, CreatesEveryServiceDatabaseOnceAndAnEditedMigrationStopsStartUp) {
  testing::TempDir home("intercab-migrate");
  const auto env = free_port_environment(home.path());
  const auto binary = testing::required_env("INTERCAB_BINARY");
  auto migrate = [&]() {
    testing::ChildProcess process(binary, {"migrate"}, env, home.path() / "migrate.log");
    const int exit_status = process.wait(60s).value_or(-1);
    return std::make_pair(exit_status, process.log());
  };
  auto [status, output] = migrate();
  ASSERT_EQ(status, 0) << output;
  for (const auto& name : kServices) {
    if (name == "gateway") continue;
    EXPECT_THAT(output, HasSubstr(name + " (sqlite://" + (home.path() / "var" / (name + ".db")).string() +
                                  ") platform: applied 001_event_outbox.sqlite.sql 002_event_inbox.sql"));
  }
  std::tie(status, output) = migrate();
  ASSERT_EQ(status, 0) << output;
  EXPECT_THAT(output, HasSubstr("user (sqlite://"));
  EXPECT_THAT(output, HasSubstr("platform: up to date (2 applied before)"));

  // An operator edits an applied migration (here: its recorded checksum no longer matches).
  auto store = db::Database::open("sqlite://" + (home.path() / "var" / "user.db").string());
  store->transact([](db::Tx& tx) {
    tx.sql() << "UPDATE schema_migrations SET checksum = 'edited' WHERE component = 'platform' AND version = 2";
  });
  testing::ChildProcess serve(binary, {"serve", "--target=user"}, env, home.path() / "serve.log");
  const auto serve_status = serve.wait(30s);
  EXPECT_EQ(serve_status.value_or(-1), 1) << serve.log();
  EXPECT_THAT(serve.log(), HasSubstr("002_event_inbox.sql"));
  EXPECT_THAT(serve.log(), HasSubstr("checksum"));
}

TEST_F(BadStart, PrintConfigMasksSecrets) {
  auto [status, output] = run({"--print-config"}, {{"JWT_SECRET", std::string(40, 'q')}});
  EXPECT_EQ(status, 0);
  EXPECT_THAT(output, HasSubstr("jwt_secret: \"********\""));
  EXPECT_EQ(output.find(std::string(40, 'q')), std::string::npos);
}

TEST_F(BadStart, SingleServiceHonoursServiceNameAndPort) {
  testing::TempDir home("intercab-single");
  auto env = free_port_environment(home.path());
  env["SERVICE_NAME"] = "location";
  env["SERVICE_PORT"] = "0";
  testing::ChildProcess process(testing::required_env("INTERCAB_BINARY"),
                                {"serve", "--ports-file", (home.path() / "p.json").string()}, env,
                                home.path() / "single.log");
  for (int i = 0; i < 1000 && !std::filesystem::exists(home.path() / "p.json"); ++i) std::this_thread::sleep_for(10ms);
  std::ifstream in(home.path() / "p.json");
  std::stringstream text;
  text << in.rdbuf();
  const auto document = boost::json::parse(text.str());
  const auto& ports = document.as_object();
  ASSERT_EQ(ports.size(), 1U) << text.str();
  auto port = static_cast<std::uint16_t>(ports.at("location").as_int64());
  auto version = testing::request(port, "GET", "/version");
  ASSERT_TRUE(version);
  EXPECT_THAT(version->body, HasSubstr("\"service\":\"location\""));
  process.signal(SIGINT);
  EXPECT_EQ(process.wait(10s).value_or(-1), 0);
}

}  // namespace
}  // namespace intercab
