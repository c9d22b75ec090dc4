// Starts `intercab serve --target=gateway` on a free port in front of fake service instances
// (in this test process) and checks routing of every prefix, load balancing and ejection,
// retries, rate limits, CORS, 502/504, header hygiene, per-route authentication (Bearer access
// tokens, roles), streaming of a 50 MB upload without memory growth, metrics, and the
// malformed-HTTP corpus including request smuggling.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "platform/auth/base64url.hpp"
#include "platform/auth/jwt.hpp"
#include "platform/http/server.hpp"
#include "process.hpp"
#include "raw_http.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const std::vector<std::pair<std::string, std::string>> kPrefixes = {{"/api/v1/auth", "user"},
                                                                    {"/api/v1/users", "user"},
                                                                    {"/.well-known/jwks.json", "user"},
                                                                    {"/api/v1/quotes", "booking"},
                                                                    {"/api/v1/bookings", "booking"},
                                                                    {"/api/v1/cities", "location"},
                                                                    {"/api/v1/geocode", "location"},
                                                                    {"/api/v1/routes", "location"},
                                                                    {"/api/v1/locations", "location"},
                                                                    {"/api/v1/drivers", "driver"},
                                                                    {"/api/v1/vehicles", "driver"},
                                                                    {"/api/v1/payments", "payment"},
                                                                    {"/api/v1/wallets", "payment"},
                                                                    {"/api/v1/refunds", "payment"},
                                                                    {"/api/v1/invoices", "payment"},
                                                                    {"/api/v1/notifications", "notification"},
                                                                    {"/api/v1/ai", "ai"},
                                                                    {"/api/v1/analytics", "analytics"},
                                                                    {"/api/v1/admin", "admin"}};

// The gateway under test runs with this JWT_SECRET; the tests mint their tokens with it.
const std::string kJwtSecret = "gateway-test-secret-of-at-least-32-bytes-0123456789";

struct TokenOptions {
  std::string secret = kJwtSecret;
  std::string audience = "intercab-api";
  auth::Clock clock = auth::system_clock();
};

std::string access_token(const std::string& user_id, std::vector<std::string> roles, const TokenOptions& options = {}) {
  auto keys = std::make_shared<const auth::KeySet>(auth::SigningKey::hs256(options.secret));
  auth::AccessTokenIssuer issuer(keys, {"intercab", options.audience}, options.clock);
  return issuer.issue({user_id, "web", std::move(roles), true}).token;
}

std::string bearer(const std::string& token) { return "Bearer " + token; }

// The token of the fixture's calls: a rider who is also an admin, so that every route lets it in.
const std::string& default_token() {
  static const std::string token = access_token("user-1", {"rider", "admin"});
  return token;
}

std::map<std::string, std::string> with_token(std::map<std::string, std::string> headers = {}) {
  headers.emplace("Authorization", bearer(default_token()));
  return headers;
}

// A stand-in for one instance of a service: echoes what it received as JSON (method, target,
// headers), counts requests, and can be told to fail with 503.
class FakeInstance {
 public:
  FakeInstance(http::Runtime& runtime, std::string service, int instance) : service_(std::move(service)) {
    http::Router router;
    router.add(
        "POST", "/api/v1/payments/upload",
        [this](http::Request& r) {
          ++requests_;
          return http::Response::text(std::to_string(r.body.size()), "text/plain");
        },
        http::RouteOptions{64 * 1024 * 1024});
    // Complete requests only (the handler runs once the whole body has arrived), for the
    // smuggling checks: a request cut off mid-body is never handled.
    for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
      router.add(method, "/api/v1/admin/echo", [this](http::Request& r) {
        ++completed_;
        return http::Response::text(r.method + " " + std::to_string(r.body.size()), "text/plain");
      });
    }
    router.add("GET", "/openapi.json", [this](http::Request&) {
      return http::Response::json(boost::json::object{
          {"openapi", "3.1.0"},
          {"info", {{"title", service_}, {"version", "0.1.0"}, {"description", "the " + service_ + " service"}}},
          {"paths",
           {{"/api/v1/" + service_ + "-things",
             {{"get", {{"operationId", "list"}, {"responses", {{"200", {{"description", "ok"}}}}}}}}}}}});
    });
    router.add("GET", "/api/v1/ai/slow", [this](http::Request&) {
      ++requests_;
      std::this_thread::sleep_for(3s);
      return http::Response::text("late", "text/plain");
    });
    server_ = std::make_unique<http::Server>(runtime, std::move(router), http::ServerLimits{});
    server_->set_forwarder([this, instance](http::Request& head) {
      ++requests_;
      boost::json::object headers;
      for (const auto& [name, value] : head.headers.fields()) headers[name] = value;
      http::ForwardPlan plan;
      plan.respond = http::Response::json(boost::json::object{{"service", service_},
                                                              {"instance", instance},
                                                              {"method", head.method},
                                                              {"target", head.target},
                                                              {"headers", headers}},
                                          failing_ ? 503 : 200);
      return plan;
    });
    port_ = server_->listen("127.0.0.1", 0);
  }
  ~FakeInstance() { server_->start_drain(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }
  int completed() const { return completed_.load(); }
  void set_failing(bool failing) { failing_ = failing; }

 private:
  std::string service_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> completed_{0};
  std::atomic<bool> failing_{false};
};

// A server-sent-events upstream on a raw socket: answers each connection with `events` chunks,
// `gap` apart, after `pause` before the first; closes after the last.
class SseUpstream {
 public:
  SseUpstream(int events, std::chrono::milliseconds gap, std::chrono::milliseconds pause)
      : events_(events), gap_(gap), pause_(pause) {
    const auto listener = testing::listen_on_loopback();
    listener_ = listener.fd;
    port_ = listener.port;
    thread_ = std::thread([this] { serve(); });
  }
  ~SseUpstream() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void serve() {
    while (true) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      char buffer[4096];
      std::string head;
      while (head.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        head.append(buffer, static_cast<std::size_t>(n));
      }
      auto send_all = [client](const std::string& bytes) {
        return ::send(client, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
      };
      bool open = send_all("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
      std::this_thread::sleep_for(pause_);
      for (int i = 0; open && i < events_; ++i) {
        if (i > 0) std::this_thread::sleep_for(gap_);
        const std::string event = "data: event " + std::to_string(i) + "\n\n";
        char size[16];
        std::snprintf(size, sizeof(size), "%zx\r\n", event.size());
        open = send_all(size + event + "\r\n");
      }
      if (open) send_all("0\r\n\r\n");
      ::close(client);
    }
  }

  int events_;
  std::chrono::milliseconds gap_;
  std::chrono::milliseconds pause_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Peak resident memory of a process, in kB.
long peak_rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class Gateway : public ::testing::Test {
 protected:
  struct Running {
    std::unique_ptr<testing::TempDir> home;
    std::unique_ptr<testing::ChildProcess> process;
    std::uint16_t port = 0;
  };

  static void SetUpTestSuite() {
    runtime_ = new http::Runtime(2, 8);
    for (const char* service :
         {"user", "booking", "location", "driver", "payment", "notification", "ai", "analytics", "admin"}) {
      fakes_[service].push_back(std::make_unique<FakeInstance>(*runtime_, service, 0));
    }
    fakes_["booking"].push_back(std::make_unique<FakeInstance>(*runtime_, "booking", 1));
    main_ = new Running(start_gateway({}));
  }

  static void TearDownTestSuite() {
    delete main_;
    fakes_.clear();
    runtime_->stop();
    delete runtime_;
  }

  // The gateway in front of the fakes, with the shipped routes except that /api/v1/ai times out
  // after 1 s; `extra_env` may override upstreams (<SERVICE>_UPSTREAMS) and limits.
  static Running start_gateway(const testing::EnvOverrides& extra_env) {
    Running running;
    running.home = std::make_unique<testing::TempDir>("intercab-gateway");
    std::filesystem::create_directories(running.home->path() / "config");
    std::string routes;
    for (const auto& [prefix, service] : kPrefixes) {
      routes += "    - {prefix: \"" + prefix + "\", service: " + service + (service == "ai" ? ", timeout_s: 1" : "") +
                (service == "admin" ? ", roles: [admin]" : "") + "}\n";
    }
    // Public, so that the malformed-request corpus reaches the HTTP parsers of gateway and upstream
    // rather than stopping at the 401 of a request without a token.
    routes += "    - {prefix: /api/v1/admin/echo, service: admin, auth: public}\n";
    // A streaming route whose total timeout (1 s) is shorter than its streams: only the idle
    // timeout (1 s without a byte) may end them.
    routes +=
        "    - {prefix: /api/v1/notifications/stream, service: notification, streaming: true, timeout_s: 1, "
        "idle_timeout_s: 1}\n";
    std::string upstreams;
    for (const auto& [service, instances] : fakes_) {
      upstreams += "    " + service + ": [";
      for (std::size_t i = 0; i < instances.size(); ++i) upstreams += (i ? ", \"" : "\"") + instances[i]->url() + "\"";
      upstreams += "]\n";
    }
    std::ofstream(running.home->path() / "config" / "intercab.yaml")
        << "gateway:\n  routes:\n"
        << routes << "  upstreams:\n"
        << upstreams
        << "  eject_after_failures: 2\n  eject_for_s: 30\n"
           "  rate_limit: {requests_per_s: 1000, burst: 100000}\n"
           "  cors: {allowed_origins: [\"https://app.intercab.in\"]}\n";
    testing::EnvOverrides env{{"INTERCAB_HOME", running.home->path().string()},
                              {"GATEWAY_PORT", "0"},
                              {"LOG_LEVEL", "warn"},
                              {"JWT_SECRET", kJwtSecret}};
    for (const auto& [service, instances] : fakes_) {
      std::string upper = service;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      env[upper + "_URL"] = instances.front()->url();
    }
    // Under AddressSanitizer, freed memory sits in a quarantine that would count as growth.
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1:quarantine_size_mb=0";
    for (const auto& [name, value] : extra_env) env[name] = value;
    const auto ports_file = running.home->path() / "ports.json";
    running.process = std::make_unique<testing::ChildProcess>(
        testing::required_env("INTERCAB_BINARY"),
        std::vector<std::string>{"serve", "--target=gateway", "--ports-file", ports_file.string()}, env,
        running.home->path() / "gateway.log");
    for (int i = 0; i < 2000 && !std::filesystem::exists(ports_file) && running.process->running(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    if (!std::filesystem::exists(ports_file)) {
      ADD_FAILURE() << "gateway did not start:\n" << running.process->log();
      return running;
    }
    const auto document = boost::json::parse(read_file(ports_file));
    running.port = static_cast<std::uint16_t>(document.at("gateway").as_int64());
    return running;
  }

  // With the default token unless `headers` carry an Authorization of their own.
  static std::optional<testing::RawResponse> call(const std::string& method, const std::string& target,
                                                  const std::map<std::string, std::string>& headers = {},
                                                  const std::string& body = {}) {
    return testing::request(main_->port, method, target, body, with_token(headers));
  }

  // Without any Authorization header.
  static std::optional<testing::RawResponse> anonymous(const std::string& method, const std::string& target,
                                                       const std::map<std::string, std::string>& headers = {}) {
    return testing::request(main_->port, method, target, {}, headers);
  }

  // The headers an upstream received, from the fake's echo.
  static std::string seen_header(const testing::RawResponse& response, const std::string& name) {
    const auto body = echo(response);
    for (const auto& [key, value] : body.at("headers").as_object()) {
      if (http::iequals(key, name)) return std::string(value.as_string());
    }
    return "";
  }

  static boost::json::object echo(const testing::RawResponse& response) {
    return boost::json::parse(response.body).as_object();
  }

  static http::Runtime* runtime_;
  static std::map<std::string, std::vector<std::unique_ptr<FakeInstance>>> fakes_;
  static Running* main_;
};

http::Runtime* Gateway::runtime_ = nullptr;
std::map<std::string, std::vector<std::unique_ptr<FakeInstance>>> Gateway::fakes_;
Gateway::Running* Gateway::main_ = nullptr;

TEST_F(Gateway, EveryRoutePrefixReachesItsService) {
  for (const auto& [prefix, service] : kPrefixes) {
    SCOPED_TRACE(prefix);
    const auto target = prefix + (prefix.find('.') == std::string::npos ? "/x?limit=5" : "");
    auto response = call("GET", target);
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    auto body = echo(*response);
    EXPECT_EQ(body.at("service").as_string(), service);
    EXPECT_EQ(body.at("target").as_string(), target);
  }
  auto unknown = call("GET", "/api/v1/nothing-here");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(unknown->header("content-type"), "application/problem+json");
  EXPECT_EQ(call("GET", "/api/v1/usersx")->status, 404) << "prefixes match whole segments";
}

TEST_F(Gateway, AddsTracingAndForwardingHeadersAndStripsSpoofedOnes) {
  auto response = call("GET", "/api/v1/users/me",
                       {{"X-User-Id", "admin"},
                        {"X-User-Roles", "admin"},
                        {"X-Internal-Token", "forged"},
                        {"X-Forwarded-For", "6.6.6.6"},
                        {"X-Request-Id", "client-req-1"},
                        {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  ASSERT_TRUE(response);
  auto headers = echo(*response).at("headers").as_object();
  auto seen = [&](const std::string& name) -> std::string {
    for (const auto& [key, value] : headers) {
      if (http::iequals(key, name)) return std::string(value.as_string());
    }
    return "";
  };
  EXPECT_EQ(seen("X-User-Id"), "user-1") << "the verified subject, not the client's";
  EXPECT_EQ(seen("X-User-Roles"), "rider,admin");
  EXPECT_EQ(seen("X-Internal-Token"), "");
  EXPECT_EQ(seen("X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(seen("X-Forwarded-Proto"), "http");
  EXPECT_EQ(seen("X-Request-Id"), "client-req-1");
  EXPECT_EQ(response->header("x-request-id"), "client-req-1");
  EXPECT_THAT(seen("traceparent"), ::testing::StartsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
  EXPECT_THAT(seen("traceparent"), ::testing::Not(HasSubstr("00f067aa0ba902b7"))) << "the gateway's own span";
}

TEST_F(Gateway, BalancesAcrossInstances) {
  std::set<std::int64_t> instances;
  for (int i = 0; i < 6; ++i) {
    auto response = call("GET", "/api/v1/bookings");
    ASSERT_TRUE(response);
    instances.insert(echo(*response).at("instance").as_int64());
  }
  EXPECT_EQ(instances, (std::set<std::int64_t>{0, 1}));
}

TEST_F(Gateway, RetriesIdempotentRequestsOnAnotherInstanceOnly) {
  // location: a healthy instance, then one that is down; a fresh gateway starts round robin at
  // the first, so the requests below alternate 0, 1, 0, 1.
  auto& healthy = *fakes_["location"][0];
  auto gateway = start_gateway({{"LOCATION_UPSTREAMS", healthy.url() + ",http://127.0.0.1:1"}});
  ASSERT_NE(gateway.port, 0);
  const int before = healthy.requests();
  auto post = [&] { return testing::request(gateway.port, "POST", "/api/v1/locations", "{}", with_token()); };
  EXPECT_EQ(post()->status, 200);
  EXPECT_EQ(post()->status, 502) << "a POST that met the down instance is not retried";
  EXPECT_EQ(healthy.requests() - before, 1);
  EXPECT_EQ(testing::request(gateway.port, "GET", "/api/v1/cities", {}, with_token())->status, 200);
  auto retried = testing::request(gateway.port, "GET", "/api/v1/cities", {}, with_token());
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, 200) << "a GET that met the down instance was retried on the healthy one";
  EXPECT_EQ(healthy.requests() - before, 3);
}

TEST_F(Gateway, EjectsAFailingInstance) {
  auto& failing = *fakes_["booking"][1];
  failing.set_failing(true);
  for (int i = 0; i < 8; ++i) call("GET", "/api/v1/quotes");
  const int failing_before = failing.requests();
  for (int i = 0; i < 6; ++i) {
    auto response = call("GET", "/api/v1/quotes");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200) << "retried on, then routed only to, the healthy instance";
  }
  EXPECT_EQ(failing.requests(), failing_before) << "an ejected instance gets no traffic";
  auto metrics = call("GET", "/metrics");
  EXPECT_THAT(metrics->body,
              HasSubstr("gateway_upstream_ejected{service=\"booking\",upstream=\"" + failing.url() + "\"} 1"));
  failing.set_failing(false);
}

TEST_F(Gateway, CorsPreflightForAllowedAndRefusedOrigins) {
  auto allowed = call("OPTIONS", "/api/v1/bookings",
                      {{"Origin", "https://app.intercab.in"},
                       {"Access-Control-Request-Method", "POST"},
                       {"Access-Control-Request-Headers", "content-type, idempotency-key"}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 204);
  EXPECT_EQ(allowed->header("access-control-allow-origin"), "https://app.intercab.in");
  EXPECT_THAT(allowed->header("access-control-allow-methods"), HasSubstr("POST"));
  auto refused = call("OPTIONS", "/api/v1/bookings",
                      {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->header("access-control-allow-origin"), "");
  auto actual = call("GET", "/api/v1/bookings", {{"Origin", "https://app.intercab.in"}});
  EXPECT_EQ(actual->header("access-control-allow-origin"), "https://app.intercab.in");
  auto foreign = call("GET", "/api/v1/bookings", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(foreign->header("access-control-allow-origin"), "");
}

TEST_F(Gateway, UpstreamDownIs502AndSlowIs504InTime) {
  auto down = start_gateway({{"AI_UPSTREAMS", "http://127.0.0.1:1"}});
  ASSERT_NE(down.port, 0);
  const auto begin = std::chrono::steady_clock::now();
  auto refused = testing::request(down.port, "GET", "/api/v1/ai/chat", {}, with_token());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 502);
  EXPECT_EQ(refused->header("content-type"), "application/problem+json");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);

  const auto slow_begin = std::chrono::steady_clock::now();
  auto slow = call("GET", "/api/v1/ai/slow");
  const auto elapsed = std::chrono::steady_clock::now() - slow_begin;
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 504);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 2500ms) << "the route's 1 s timeout, not the upstream's 3 s";
}

TEST_F(Gateway, RateLimitAnswers429WithRetryAfterAndRateLimitHeaders) {
  auto limited = start_gateway({{"GATEWAY_RATE_LIMIT_PER_S", "0.5"}, {"GATEWAY_RATE_LIMIT_BURST", "3"}});
  ASSERT_NE(limited.port, 0);
  for (int i = 0; i < 3; ++i) {
    auto response = testing::request(limited.port, "GET", "/api/v1/bookings", {}, with_token());
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->header("ratelimit-limit"), "3");
    EXPECT_EQ(response->header("ratelimit-remaining"), std::to_string(2 - i));
  }
  auto refused = testing::request(limited.port, "GET", "/api/v1/bookings", {}, with_token());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(refused->header("content-type"), "application/problem+json");
  EXPECT_EQ(refused->header("retry-after"), "2");
  EXPECT_EQ(refused->header("ratelimit-remaining"), "0");
  EXPECT_FALSE(refused->header("ratelimit-reset").empty());
}

TEST_F(Gateway, StreamsA50MegabyteUploadWithoutBuffering) {
  const auto pid = main_->process->pid();
  const long before_kb = peak_rss_kb(pid);
  ASSERT_GT(before_kb, 0);
  const std::size_t size = 50 * 1024 * 1024;
  testing::RawConnection connection(main_->port);
  ASSERT_TRUE(connection.send(
      "POST /api/v1/payments/upload HTTP/1.1\r\nHost: x\r\nAuthorization: " + bearer(default_token()) +
      "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n"));
  const std::string chunk(1024 * 1024, 'p');
  for (std::size_t sent = 0; sent < size; sent += chunk.size()) ASSERT_TRUE(connection.send(chunk));
  auto response = connection.read_response(30s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, std::to_string(size));
  const long growth_kb = peak_rss_kb(pid) - before_kb;
  std::cout << "gateway peak RSS " << before_kb << " kB before, +" << growth_kb << " kB after a 50 MB upload\n";
  EXPECT_LT(growth_kb, 8 * 1024) << "the gateway's peak memory grew by " << growth_kb << " kB for a 50 MB upload";
}

TEST_F(Gateway, MetricsShowRoutesAndUpstreamsAndPassPromtool) {
  call("GET", "/api/v1/bookings");
  auto metrics = call("GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("gateway_requests_total{route=\"/api/v1/bookings\",service=\"booking\""));
  EXPECT_THAT(metrics->body, HasSubstr("gateway_upstream_attempts_total{service=\"booking\""));
  EXPECT_THAT(metrics->body, HasSubstr("gateway_request_duration_seconds_bucket{route=\"/api/v1/bookings\""));
  testing::TempDir dir("intercab-gateway-metrics");
  std::ofstream(dir.path() / "metrics.txt") << metrics->body;
  std::string output;
  EXPECT_EQ(testing::run_command("promtool check metrics < " + (dir.path() / "metrics.txt").string(), &output), 0)
      << output;
}

TEST_F(Gateway, ServesTheMergedApiDocs) {
  auto page = call("GET", "/docs/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("swagger-ui-bundle.js"));
  EXPECT_EQ(page->body.find("https://"), std::string::npos) << "no CDN";
  auto document = call("GET", "/docs/openapi.json");
  ASSERT_TRUE(document);
  auto merged = boost::json::parse(document->body).as_object();
  EXPECT_EQ(merged.at("openapi").as_string(), "3.1.0");
  std::set<std::string> tags;
  for (const auto& tag : merged.at("tags").as_array()) tags.insert(std::string(tag.at("name").as_string()));
  for (const char* service : {"user", "booking", "location", "driver", "payment", "admin"}) {
    EXPECT_TRUE(tags.contains(service)) << service;
  }
}

// The corpus of malformed requests, aimed at a routed path so that anything the gateway let
// through would reach an upstream: the upstream must complete no rejected request, and never
// more requests than the client got answers for (no request smuggled in behind another).
TEST_F(Gateway, MalformedRequestsNeverReachTheUpstream) {
  const std::filesystem::path directory =
      std::filesystem::path(testing::required_env("INTERCAB_SOURCE_DIR")) / "tests/corpora/http_malformed";
  std::ifstream index(directory / "index.tsv");
  std::string line;
  std::getline(index, line);
  auto& upstream = *fakes_["admin"][0];
  int cases = 0;
  while (std::getline(index, line)) {
    const auto file = line.substr(0, line.find('\t'));
    const bool reject = line.find("\treject\t") != std::string::npos;
    SCOPED_TRACE(file);
    auto bytes = read_file(directory / file);
    // Point the request at the upstream's echo route and keep the original target, defects and
    // all, in the query: "GET /url HTTP/1.1" -> "GET /api/v1/admin/echo?u=/url HTTP/1.1".
    const auto space = bytes.find(' ');
    if (space != std::string::npos && space + 1 < bytes.size() && bytes[space + 1] == '/') {
      bytes.insert(space + 1, "/api/v1/admin/echo?u=");
    }
    const int before = upstream.completed();
    testing::RawConnection connection(main_->port);
    connection.send(bytes);
    connection.shutdown_write();
    bool closed = false;
    const auto reply = connection.read_until_close(5s, &closed);
    EXPECT_TRUE(closed);
    const auto responses = testing::parse_responses(reply, bytes.rfind("HEAD ", 0) == 0);
    std::this_thread::sleep_for(20ms);  // let an upstream that received a whole request finish it
    const int reached = upstream.completed() - before;
    if (reject) {
      EXPECT_LE(responses.size(), 1U) << reply;
      if (!responses.empty()) {
        EXPECT_GE(responses[0].status, 400) << reply;
      }
      EXPECT_EQ(reached, 0) << "the upstream completed a request the gateway rejected";
    } else {
      EXPECT_FALSE(responses.empty()) << reply;
      EXPECT_LE(reached, static_cast<int>(responses.size())) << "the upstream saw more requests than were answered";
    }
    ++cases;
  }
  EXPECT_GT(cases, 100);
  EXPECT_EQ(call("GET", "/health")->status, 200);
}

TEST_F(Gateway, StreamingRoutesRelayEventsAsTheyComeAndOnlyTheIdleTimeoutEndsThem) {
  SseUpstream steady(8, 300ms, 0ms);  // 2.1 s of events: longer than the route's 1 s total timeout
  auto gateway = start_gateway({{"NOTIFICATION_UPSTREAMS", steady.url()}});
  ASSERT_NE(gateway.port, 0);
  testing::RawConnection connection(gateway.port);
  const auto begin = std::chrono::steady_clock::now();
  connection.send("GET /api/v1/notifications/stream HTTP/1.1\r\nHost: x\r\nAuthorization: " + bearer(default_token()) +
                  "\r\nAccept: text/event-stream\r\n\r\n");
  std::string received;
  std::optional<std::chrono::steady_clock::duration> first_event;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - begin < 6s) {
    received += connection.read_until_close(100ms, &closed);
    if (!first_event && received.find("data: event 0") != std::string::npos) {
      first_event = std::chrono::steady_clock::now() - begin;
    }
    if (received.find("\r\n0\r\n\r\n") != std::string::npos) break;
  }
  ASSERT_TRUE(first_event) << received << gateway.process->log();
  EXPECT_LT(*first_event, 600ms) << "events are relayed as they arrive, not buffered";
  EXPECT_THAT(received, HasSubstr("data: event 7")) << "the stream outlived the total timeout";
  EXPECT_THAT(received, HasSubstr("text/event-stream"));

  SseUpstream stalled(2, 2500ms, 0ms);  // one event, then 2.5 s of silence
  auto stalled_gateway = start_gateway({{"NOTIFICATION_UPSTREAMS", stalled.url()}});
  testing::RawConnection stalled_connection(stalled_gateway.port);
  const auto stalled_begin = std::chrono::steady_clock::now();
  stalled_connection.send(
      "GET /api/v1/notifications/stream HTTP/1.1\r\nHost: x\r\nAuthorization: " + bearer(default_token()) + "\r\n\r\n");
  bool stalled_closed = false;
  const auto partial = stalled_connection.read_until_close(5s, &stalled_closed);
  EXPECT_TRUE(stalled_closed);
  EXPECT_THAT(partial, HasSubstr("data: event 0"));
  EXPECT_THAT(partial, ::testing::Not(HasSubstr("data: event 1")));
  const auto elapsed = std::chrono::steady_clock::now() - stalled_begin;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 2400ms) << "cut by the 1 s idle timeout, before the upstream's next event";
}

TEST_F(Gateway, AuthenticatedRouteWithoutTokenIs401AndNeverReachesTheUpstream) {
  auto& upstream = *fakes_["payment"][0];
  const int before = upstream.requests();
  for (const std::map<std::string, std::string>& headers :
       {std::map<std::string, std::string>{}, {{"Authorization", "Basic dXNlcjpwYXNz"}}, {{"X-User-Id", "admin"}}}) {
    auto response = anonymous("GET", "/api/v1/payments/mine", headers);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);
    EXPECT_EQ(response->header("content-type"), "application/problem+json");
    EXPECT_THAT(response->header("www-authenticate"), ::testing::StartsWith("Bearer"));
  }
  EXPECT_EQ(upstream.requests(), before) << "the upstream saw a request without a valid token";
  EXPECT_THAT(call("GET", "/metrics")->body, HasSubstr("gateway_auth_failures_total{reason=\"missing_token\"}"));
}

TEST_F(Gateway, RejectsBadSignatureExpiredWrongAudienceAndAlgNoneTokens) {
  const auto now = std::chrono::system_clock::now();
  const auto two_hours_ago = [now] { return now - std::chrono::hours(2); };
  const auto header = auth::base64url_encode(R"({"alg":"none","typ":"at+jwt"})");
  const auto payload = auth::base64url_encode(
      R"({"iss":"intercab","aud":"intercab-api","sub":"user-1","client_id":"web","roles":["admin"],"verified":true,"iat":)" +
      std::to_string(std::chrono::system_clock::to_time_t(now)) + R"(,"exp":)" +
      std::to_string(std::chrono::system_clock::to_time_t(now) + 600) + "}");
  const std::map<std::string, std::string> bad_tokens = {
      {"bad signature", access_token("user-1", {"admin"}, {.secret = std::string(48, 'x')})},
      {"expired", access_token("user-1", {"admin"}, {.clock = two_hours_ago})},
      {"wrong audience", access_token("user-1", {"admin"}, {.audience = "another-api"})},
      {"alg none", header + "." + payload + "."},
      {"garbage", "not-a-jwt"}};
  auto& upstream = *fakes_["booking"][0];
  auto& other = *fakes_["booking"][1];
  const int before = upstream.requests() + other.requests();
  for (const auto& [why, token] : bad_tokens) {
    SCOPED_TRACE(why);
    auto response = anonymous("GET", "/api/v1/bookings/b-1", {{"Authorization", bearer(token)}});
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);
    EXPECT_EQ(response->header("content-type"), "application/problem+json");
    EXPECT_THAT(response->header("www-authenticate"), HasSubstr("invalid_token"));
    EXPECT_EQ(response->body.find(token), std::string::npos) << "the token is echoed: " << response->body;
  }
  EXPECT_EQ(upstream.requests() + other.requests(), before);
}

TEST_F(Gateway, ValidTokenForwardsAuthorizationAndVerifiedIdentityOnly) {
  const auto token = access_token("rider-42", {"rider", "support"});
  auto response = anonymous("GET", "/api/v1/users/me",
                            {{"Authorization", bearer(token)}, {"X-User-Id", "admin"}, {"X-User-Roles", "admin"}});
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(seen_header(*response, "Authorization"), bearer(token)) << "forwarded unchanged";
  EXPECT_EQ(seen_header(*response, "X-User-Id"), "rider-42");
  EXPECT_EQ(seen_header(*response, "X-User-Roles"), "rider,support");
}

TEST_F(Gateway, PublicRoutesNeedNoTokenAndNeverPassSpoofedIdentity) {
  for (const char* target : {"/api/v1/auth/login", "/.well-known/jwks.json", "/api/v1/cities", "/api/v1/quotes"}) {
    SCOPED_TRACE(target);
    auto response = anonymous("GET", target, {{"X-User-Id", "admin"}, {"X-User-Roles", "admin"}});
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(seen_header(*response, "X-User-Id"), "");
    EXPECT_EQ(seen_header(*response, "X-User-Roles"), "");
  }
  auto preflight = anonymous("OPTIONS", "/api/v1/payments",
                             {{"Origin", "https://app.intercab.in"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204) << "a CORS preflight needs no token";
}

TEST_F(Gateway, RoleRoutesAnswer403WithoutTheRole) {
  auto& upstream = *fakes_["admin"][0];
  const int before = upstream.requests();
  auto rider = anonymous("GET", "/api/v1/admin/users", {{"Authorization", bearer(access_token("r-1", {"rider"}))}});
  ASSERT_TRUE(rider);
  EXPECT_EQ(rider->status, 403);
  EXPECT_EQ(rider->header("content-type"), "application/problem+json");
  EXPECT_EQ(upstream.requests(), before);
  auto admin = anonymous("GET", "/api/v1/admin/users", {{"Authorization", bearer(access_token("a-1", {"admin"}))}});
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->status, 200) << admin->body;
  EXPECT_EQ(seen_header(*admin, "X-User-Id"), "a-1");
  EXPECT_THAT(call("GET", "/metrics")->body, HasSubstr("gateway_auth_failures_total{reason=\"missing_role\"}"));
}

TEST_F(Gateway, ZStopsCleanlyOnSigterm) {
  main_->process->signal(SIGTERM);
  auto status = main_->process->wait(15s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << main_->process->log();
}

}  // namespace
}  // namespace intercab
