#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "platform/http/server.hpp"
#include "raw_http.hpp"

namespace intercab::http {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// An upstream on a raw socket that answers each request target with scripted bytes, sent in pieces
// a little apart, then closes the connection: framings a Beast server would never produce.
// Two informational responses (one split from the final response's bytes), then the final one.
const std::vector<std::string> kInterimThenFinal = {
    "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n",
    "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"};

class ScriptedUpstream {
 public:
  explicit ScriptedUpstream(std::map<std::string, std::vector<std::string>> replies) : replies_(std::move(replies)) {
    const auto listener = testing::listen_on_loopback();
    listener_ = listener.fd;
    port_ = listener.port;
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedUpstream() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;
  std::uint16_t port() const { return port_; }
  // The last request head received, up to its empty line.
  std::string last_head() {
    std::lock_guard lock(mutex_);
    return last_head_;
  }

 private:
  void serve() {
    while (true) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      std::string head;
      char buffer[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        head.append(buffer, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        last_head_ = head.substr(0, head.find("\r\n\r\n") + 4);
      }
      const auto target_start = head.find(' ') + 1;
      const auto target = head.substr(target_start, head.find(' ', target_start) - target_start);
      const auto reply = replies_.find(target);
      if (reply != replies_.end()) {
        for (const auto& piece : reply->second) {
          ::send(client, piece.data(), piece.size(), MSG_NOSIGNAL);
          std::this_thread::sleep_for(30ms);
        }
      }
      ::close(client);
    }
  }

  std::map<std::string, std::vector<std::string>> replies_;
  std::mutex mutex_;
  std::string last_head_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// An upstream that switches every connection to an echo protocol: it answers 101 with `greeting`
// right after the head, then sends back every byte it receives until the peer closes.
class UpgradeEchoUpstream {
 public:
  explicit UpgradeEchoUpstream(std::string greeting) : greeting_(std::move(greeting)) {
    const auto listener = testing::listen_on_loopback();
    listener_ = listener.fd;
    port_ = listener.port;
    thread_ = std::thread([this] { serve(); });
  }
  ~UpgradeEchoUpstream() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  UpgradeEchoUpstream(const UpgradeEchoUpstream&) = delete;
  UpgradeEchoUpstream& operator=(const UpgradeEchoUpstream&) = delete;
  std::uint16_t port() const { return port_; }
  std::string last_head() {
    std::lock_guard lock(mutex_);
    return last_head_;
  }

 private:
  void serve() {
    while (true) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      std::string received;
      char buffer[4096];
      while (received.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        received.append(buffer, static_cast<std::size_t>(n));
      }
      const auto head_end = received.find("\r\n\r\n");
      {
        std::lock_guard lock(mutex_);
        last_head_ = received.substr(0, head_end);
      }
      std::string reply =
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n" + greeting_;
      if (head_end != std::string::npos) reply += received.substr(head_end + 4);  // early bytes, echoed
      ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
      while (true) {
        const auto n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        ::send(client, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL);
      }
      ::close(client);
    }
  }

  std::string greeting_;
  std::mutex mutex_;
  std::string last_head_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// Two upstream instances and a front server that forwards everything unmatched to them.
class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_ = std::make_unique<Runtime>(2, 4);
    for (int i = 0; i < 2; ++i) {
      Router router;
      router.add("GET", "/who", [i](Request& r) {
        auto response = Response::text("instance " + std::to_string(i), "text/plain");
        response.headers.set("X-Seen-Request-Id", std::string(r.header("X-Request-Id")));
        response.headers.set("X-Seen-Custom", std::string(r.header("X-Custom")));
        response.headers.set("Connection", "X-Secret");
        response.headers.set("X-Secret", "hop-by-hop");
        return response;
      });
      router.add(
          "POST", "/size", [](Request& r) { return Response::text(std::to_string(r.body.size()), "text/plain"); },
          RouteOptions{64 * 1024 * 1024});
      router.add("GET", "/big",
                 [](Request&) { return Response::text(std::string(std::size_t{8} * 1024 * 1024, 'z'), "text/plain"); });
      router.add("GET", "/slow", [](Request&) {
        std::this_thread::sleep_for(1500ms);
        return Response::text("late", "text/plain");
      });
      router.add("GET", "/flaky", [this, i](Request&) {
        ++flaky_calls_[i];
        return i == 0 ? Response::empty(503) : Response::text("ok from 1", "text/plain");
      });
      router.add("POST", "/flaky", [this, i](Request&) {
        ++flaky_calls_[i];
        return Response::empty(503);
      });
      upstreams_.push_back(std::make_unique<Server>(*runtime_, std::move(router), ServerLimits{}));
      upstream_ports_.push_back(upstreams_.back()->listen("127.0.0.1", 0));
    }
    Router front_router;
    front_router.add("GET", "/health", [](Request&) { return Response::text("front", "text/plain"); });
    front_ = std::make_unique<Server>(*runtime_, std::move(front_router), ServerLimits{});
    front_->set_forwarder([this](Request& head) { return plan_for(head); });
    front_port_ = front_->listen("127.0.0.1", 0);
  }

  void TearDown() override {
    front_->start_drain();
    for (auto& upstream : upstreams_) upstream->start_drain();
    front_->wait_idle(2s);
    runtime_->stop();
  }

  ForwardPlan plan_for(Request& head) {
    ForwardPlan plan;
    if (head.path == "/reject") {
      plan.respond = Response::text("rejected", "text/plain", 429);
      plan.response_fields.add("Retry-After", "3");
      return plan;
    }
    plan.upstream_name = "backend";
    plan.target = head.target;
    // This test's policy: the client's end-to-end fields, and the request id.
    for (const auto& [name, value] : head.headers.fields()) {
      if (!is_hop_by_hop_or_framing(name) && !iequals(name, "Expect") && !iequals(name, "X-Request-Id")) {
        plan.upstream_fields.add(name, value);
      }
    }
    plan.upstream_fields.add("X-Request-Id", head.request_id);
    plan.response_fields.add("X-Front", "yes");
    plan.timeout = timeout_;
    plan.streaming = streaming_;
    plan.max_attempts = 2;
    plan.idempotent = head.method == "GET" || head.method == "HEAD";
    plan.max_body_bytes = 32 * 1024 * 1024;
    plan.pick = [this](const std::vector<std::size_t>& tried) -> std::optional<UpstreamChoice> {
      if (scripted_port_) {
        if (!tried.empty()) return std::nullopt;
        return UpstreamChoice{0, "127.0.0.1", *scripted_port_};
      }
      for (std::size_t i = first_instance_; i < first_instance_ + 2; ++i) {
        auto index = i % 2;
        if (std::find(tried.begin(), tried.end(), index) != tried.end()) continue;
        if (down_[index]) return UpstreamChoice{index, "127.0.0.1", 1};  // nothing listens on port 1
        return UpstreamChoice{index, "127.0.0.1", upstream_ports_[index]};
      }
      return std::nullopt;
    };
    plan.report = [this](std::size_t instance, bool healthy) {
      std::lock_guard lock(mutex_);
      reports_.emplace_back(instance, healthy);
    };
    plan.complete = [this](const Request&, const ForwardOutcome& outcome) {
      std::lock_guard lock(mutex_);
      outcomes_.push_back(outcome);
    };
    return plan;
  }

  std::optional<testing::RawResponse> call(const std::string& method, const std::string& target,
                                           const std::string& body = {}) {
    testing::RawConnection connection(front_port_);
    std::string bytes = method + " " + target + " HTTP/1.1\r\nHost: x\r\nX-Custom: kept\r\nConnection: close\r\n";
    if (method == "POST") bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (!connection.send(bytes + "\r\n" + body)) return std::nullopt;
    return connection.read_response(60s);  // 20 MB bodies take a while under sanitizers
  }

  // Outcomes and health reports come after the response's last byte, which the client may
  // already have read: wait (bounded) for them.
  template <typename Condition>
  void wait_until(Condition condition) {
    for (int i = 0; i < 400; ++i) {
      {
        std::lock_guard lock(mutex_);
        if (condition()) return;
      }
      std::this_thread::sleep_for(5ms);
    }
  }

  std::unique_ptr<Runtime> runtime_;
  std::vector<std::unique_ptr<Server>> upstreams_;
  std::vector<std::uint16_t> upstream_ports_;
  std::unique_ptr<Server> front_;
  std::uint16_t front_port_ = 0;
  std::chrono::milliseconds timeout_{30000};  // generous: 20 MB bodies are slow under sanitizers
  std::size_t first_instance_ = 0;
  std::optional<std::uint16_t> scripted_port_;  // set: every request goes to this upstream
  bool streaming_ = false;                      // plans for a streaming route (upgrades allowed)
  std::array<bool, 2> down_{false, false};
  std::array<std::atomic<int>, 2> flaky_calls_{};
  std::mutex mutex_;
  std::vector<std::pair<std::size_t, bool>> reports_;
  std::vector<ForwardOutcome> outcomes_;
};

TEST_F(ForwardTest, ForwardsAndTransformsHeaders) {
  auto response = call("GET", "/who");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "instance 0");
  EXPECT_EQ(response->header("x-front"), "yes");
  EXPECT_EQ(response->header("x-seen-custom"), "kept");
  EXPECT_EQ(response->header("x-seen-request-id"), response->header("x-request-id"));
  EXPECT_EQ(response->header("x-secret"), "") << "headers named in Connection are hop-by-hop";
  EXPECT_EQ(call("GET", "/health")->body, "front") << "own routes win over forwarding";
}

TEST_F(ForwardTest, DirectResponsesCarryPlanHeaders) {
  auto response = call("GET", "/reject");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->header("retry-after"), "3");
}

TEST_F(ForwardTest, StreamsLargeBodiesBothWays) {
  auto upload = call("POST", "/size", std::string(std::size_t{6} * 1024 * 1024, 'u'));
  ASSERT_TRUE(upload);
  EXPECT_EQ(upload->body, std::to_string(6 * 1024 * 1024));
  auto download = call("GET", "/big");
  ASSERT_TRUE(download);
  EXPECT_EQ(download->body.size(), 8U * 1024 * 1024);
}

TEST_F(ForwardTest, ChunkedUploadIsRelayed) {
  testing::RawConnection connection(front_port_);
  connection.send(
      "POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "11");
}

TEST_F(ForwardTest, UpstreamGetsTheRequestLineThePlanFieldsAndTheClientsFraming) {
  ScriptedUpstream upstream(
      {{"/echo?x=1", std::vector<std::string>{"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"}}});
  scripted_port_ = upstream.port();
  const auto head_sent_for = [&](const std::string& request) {
    testing::RawConnection connection(front_port_);
    connection.send(request);
    auto response = connection.read_response();
    EXPECT_TRUE(response && response->status == 204) << request;
    return upstream.last_head();
  };
  // Fields in the client's order, hop-by-hop ones and Expect left out by the plan; the length as declared.
  auto head = head_sent_for(
      "POST /echo?x=1 HTTP/1.1\r\nHost: front\r\nX-Custom: a\r\nConnection: keep-alive\r\n"
      "Expect: 100-continue\r\nContent-Length: 0\r\nX-Other: b\r\n\r\n");
  EXPECT_EQ(head.rfind("POST /echo?x=1 HTTP/1.1\r\nHost: front\r\nX-Custom: a\r\nX-Other: b\r\nX-Request-Id: ", 0), 0U)
      << head;
  EXPECT_NE(head.find("\r\nContent-Length: 0\r\n\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Connection"), std::string::npos) << head;
  EXPECT_EQ(head.find("Expect"), std::string::npos) << head;
  // A chunked body goes up chunked; a bodiless request has no framing field at all.
  head = head_sent_for("POST /echo?x=1 HTTP/1.1\r\nHost: front\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  head = head_sent_for("GET /echo?x=1 HTTP/1.1\r\nHost: front\r\n\r\n");
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
}

TEST_F(ForwardTest, BodyOverThePlanLimitIs413) {
  testing::RawConnection connection(front_port_);
  connection.send("POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\n\r\n");
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

TEST_F(ForwardTest, KeepAliveClientGetsManyResponses) {
  testing::RawConnection connection(front_port_);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(connection.send("GET /who HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = connection.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->status, 200);
  }
}

TEST_F(ForwardTest, HeadIsForwardedWithoutBody) {
  testing::RawConnection connection(front_port_);
  connection.send("HEAD /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto responses = testing::parse_responses(connection.read_until_close(3s), true);
  ASSERT_EQ(responses.size(), 1U);
  EXPECT_EQ(responses[0].header("content-length"), std::to_string(8 * 1024 * 1024));
}

TEST_F(ForwardTest, DownUpstreamIs502AndIdempotentRequestsTryAnotherInstance) {
  down_[0] = true;
  auto response = call("GET", "/who");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "instance 1");
  wait_until([&] { return reports_.size() >= 2; });  // reported after the last byte went out
  std::lock_guard lock(mutex_);
  ASSERT_GE(reports_.size(), 2U);
  EXPECT_EQ(reports_[0], std::make_pair(std::size_t{0}, false));
  EXPECT_EQ(reports_[1], std::make_pair(std::size_t{1}, true));
}

TEST_F(ForwardTest, AllInstancesDownIs502ProblemQuickly) {
  down_ = {true, true};
  const auto begin = std::chrono::steady_clock::now();
  auto response = call("GET", "/who");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 502);
  EXPECT_EQ(response->header("content-type"), "application/problem+json");
  EXPECT_EQ(response->header("x-front"), "yes");
  EXPECT_THAT(response->body, HasSubstr("backend"));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
}

TEST_F(ForwardTest, PostIsNotRetried) {
  down_[0] = true;
  auto response = call("POST", "/size", "abc");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 502);
}

TEST_F(ForwardTest, Upstream503IsRetriedOnAnotherInstanceForGetOnly) {
  auto response = call("GET", "/flaky");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok from 1");
  EXPECT_EQ(flaky_calls_[0].load(), 1);
  auto post = call("POST", "/flaky", "x");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 503);
  EXPECT_EQ(flaky_calls_[0].load() + flaky_calls_[1].load(), 3) << "POST went to one instance only";
}

TEST_F(ForwardTest, SlowUpstreamIs504WithinTheTimeout) {
  timeout_ = 300ms;
  const auto begin = std::chrono::steady_clock::now();
  auto response = call("GET", "/slow");
  const auto elapsed = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 504);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 1000ms) << "two attempts of 300 ms each, not the upstream's 1.5 s";
}

TEST_F(ForwardTest, OutcomesAreReported) {
  call("GET", "/who");
  wait_until([&] { return !outcomes_.empty(); });  // reported after the last byte went out
  std::lock_guard lock(mutex_);
  ASSERT_EQ(outcomes_.size(), 1U);
  EXPECT_EQ(outcomes_[0].status, 200);
  EXPECT_EQ(outcomes_[0].attempts, 1);
  EXPECT_EQ(outcomes_[0].upstream, "127.0.0.1:" + std::to_string(upstream_ports_[0]));
}

TEST_F(ForwardTest, RelaysEveryResponseFramingWhole) {
  ScriptedUpstream upstream({
      {"/until-close", {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until ", "the close"}},
      {"/chunked", {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "6\r\n world\r\n0\r\n\r\n"}},
      {"/split", {"HTTP/1.1 201 Created\r\nContent-Length: 10\r\nX-Up: 1\r\n", "\r\n01234", "56789"}},
      {"/odd-status", {"HTTP/1.1 299 Fine By Us\r\nContent-Length: 2\r\n\r\nok"}},
      {"/interim", kInterimThenFinal},
      {"/truncated", {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n012"}},
      {"/no-head", {"HTTP/1.1 200 OK\r\nContent-"}},
      {"/both-framings", {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}},
      {"/folded-field", {"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok"}},
      {"/two-connection-fields",
       {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: X-Hop\r\nX-Hop: secret\r\nX-Request-Id: "
        "upstream-own\r\nContent-Length: 2\r\n\r\nok"}},
  });
  scripted_port_ = upstream.port();
  auto until_close = call("GET", "/until-close");
  ASSERT_TRUE(until_close);
  EXPECT_EQ(until_close->status, 200);
  EXPECT_EQ(until_close->body, "body until the close");
  EXPECT_EQ(until_close->header("x-front"), "yes");
  auto chunked = call("GET", "/chunked");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->body, "hello world");
  auto split = call("GET", "/split");
  ASSERT_TRUE(split);
  EXPECT_EQ(split->status, 201);
  EXPECT_EQ(split->body, "0123456789");
  EXPECT_EQ(split->header("x-up"), "1");
  auto odd = call("GET", "/odd-status");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->status, 299) << "a status Beast has no name for passes through unchanged";
  EXPECT_EQ(odd->body, "ok");
  auto interim = call("GET", "/interim");
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 200) << "103 and 102 are informational: the client gets the final response";
  EXPECT_EQ(interim->body, "final");
  EXPECT_EQ(interim->header("link"), "") << "the 103's fields are not the final response's";
  auto two_connection_fields = call("GET", "/two-connection-fields");
  ASSERT_TRUE(two_connection_fields);
  EXPECT_EQ(two_connection_fields->header("x-hop"), "") << "named by the second Connection field: hop-by-hop";
  EXPECT_NE(two_connection_fields->header("x-request-id"), "upstream-own") << "the gateway's request id wins";
  EXPECT_FALSE(two_connection_fields->header("x-request-id").empty());
  auto no_head = call("GET", "/no-head");
  ASSERT_TRUE(no_head);
  EXPECT_EQ(no_head->status, 502) << "nothing reached the client, so it gets a 502";
  EXPECT_EQ(no_head->header("content-type"), "application/problem+json");
  for (const std::string path : {"/both-framings", "/folded-field"}) {
    auto malformed = call("GET", path);
    ASSERT_TRUE(malformed) << path;
    EXPECT_EQ(malformed->status, 502) << path << ": a head two parsers could read two ways is not relayed";
    EXPECT_NE(malformed->body.find("malformed response head"), std::string::npos) << malformed->body;
  }
  EXPECT_FALSE(call("GET", "/truncated"))
      << "the head and 3 bytes went out as they came: the client sees the connection end before Content-Length";
}

TEST_F(ForwardTest, KeepAliveClientGetsWholeResponsesOfEveryFraming) {
  ScriptedUpstream upstream({
      {"/chunked", {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}},
      {"/until-close", {"HTTP/1.1 200 OK\r\n\r\nxyz"}},
      {"/interim", kInterimThenFinal},
  });
  scripted_port_ = upstream.port();
  testing::RawConnection connection(front_port_);
  const std::vector<std::pair<std::string, std::string>> exchanges = {
      {"/chunked", "abc"}, {"/until-close", "xyz"}, {"/interim", "final"}, {"/chunked", "abc"}, {"/interim", "final"}};
  for (const auto& [target, body] : exchanges) {
    ASSERT_TRUE(connection.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = connection.read_response();
    ASSERT_TRUE(response) << target;
    EXPECT_EQ(response->status, 200) << target;
    EXPECT_EQ(response->body, body) << target << ": the length is known once the body is whole";
  }
}

TEST_F(ForwardTest, StreamingRoutesTunnelAnUpgradedConnectionBothWays) {
  UpgradeEchoUpstream upstream("hello\n");
  scripted_port_ = upstream.port();
  streaming_ = true;
  testing::RawConnection connection(front_port_);
  // The first bytes of the new protocol ride along with the request head.
  ASSERT_TRUE(connection.send(
      "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\nearly\n"));
  std::string received;
  for (int i = 0; i < 100 && received.find("early\n") == std::string::npos; ++i) {
    received += connection.read_until_close(20ms);
  }
  EXPECT_EQ(received.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0U) << received;
  EXPECT_THAT(received, HasSubstr("\r\nUpgrade: echo\r\n"));
  EXPECT_THAT(received, HasSubstr("\r\n\r\nhello\nearly\n"));
  EXPECT_THAT(upstream.last_head(), HasSubstr("\r\nConnection: Upgrade\r\nUpgrade: echo"));
  ASSERT_TRUE(connection.send("later\n"));
  std::string echoed;
  for (int i = 0; i < 100 && echoed.find("later\n") == std::string::npos; ++i) {
    echoed += connection.read_until_close(20ms);
  }
  EXPECT_EQ(echoed, "later\n");
}

TEST_F(ForwardTest, UpgradesOnlyOnStreamingRoutesAndOnlyWhenAsked) {
  UpgradeEchoUpstream upstream("hello\n");
  scripted_port_ = upstream.port();
  // Not a streaming route: Upgrade is hop-by-hop and dropped, so the upstream's 101 is unasked for.
  testing::RawConnection connection(front_port_);
  ASSERT_TRUE(connection.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"));
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 502);
  EXPECT_THAT(response->body, HasSubstr("without being asked"));
  EXPECT_THAT(upstream.last_head(), ::testing::Not(HasSubstr("Upgrade")));
}

}  // namespace
}  // namespace intercab::http
