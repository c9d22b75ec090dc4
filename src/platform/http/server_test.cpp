#include "platform/http/server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <thread>

#include "platform/trace/current.hpp"
#include "raw_http.hpp"

namespace intercab::http {
namespace {

using intercab::testing::RawConnection;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerLimits limits = fast_limits()) {
    Router router;
    router.add("GET", "/health", [](Request&) { return Response::json(boost::json::object{{"status", "ok"}}); });
    router.add("GET", "/items/{id}", [](Request& r) {
      return Response::json(boost::json::object{{"id", r.param("id")}, {"route", r.route}, {"q", r.query["q"]}});
    });
    router.add("POST", "/echo", [](Request& r) { return Response::text(r.body, "application/octet-stream"); });
    router.add(
        "POST", "/upload", [](Request& r) { return Response::text(std::to_string(r.body.size()), "text/plain"); },
        RouteOptions{4 * 1024 * 1024});
    router.add("GET", "/slow", [this](Request&) {
      slow_started_ = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_));
      return Response::text("done", "text/plain");
    });
    router.add(
        "GET", "/live", [](Request&) { return Response::text("alive", "text/plain"); },
        RouteOptions{.max_body_bytes = std::nullopt, .runs_inline = true});
    router.add("GET", "/boom", [](Request&) -> Response { throw std::runtime_error("secret database password"); });
    router.add("GET", "/trace", [](Request& r) {
      return Response::json(boost::json::object{{"trace_id", r.trace.trace_id_hex()}, {"request_id", r.request_id}});
    });
    router.add("GET", "/ticks", [this](Request&) {
      auto source = std::make_shared<EventStreamSource>();
      source->poll_interval = 20ms;
      source->heartbeat_interval = 60ms;
      source->poll = [this, sent = std::make_shared<int>(0)]() -> std::optional<std::string> {
        ++*sent;
        if (*sent > ticks_) return std::nullopt;
        if (*sent > 1 && quiet_) return std::string{};
        if (*sent % 2 == 0) return std::string{};  // nothing new this time
        return "event: tick\ndata: " + std::to_string(*sent) + "\n\n";
      };
      return Response::events(source);
    });
    runtime_ = std::make_unique<Runtime>(2, 2);
    server_ = std::make_unique<Server>(*runtime_, std::move(router), limits);
    port_ = server_->listen("127.0.0.1", 0);
  }

  static ServerLimits fast_limits() {
    ServerLimits limits;
    limits.max_header_bytes = 8192;
    limits.max_body_bytes = 1024;
    limits.header_timeout = 500ms;
    limits.body_timeout = 500ms;
    limits.idle_timeout = 1000ms;
    return limits;
  }

  void TearDown() override {
    if (server_) {
      server_->start_drain();
      server_->wait_idle(2s);
    }
    if (runtime_) runtime_->stop();
  }

  std::optional<testing::RawResponse> get(const std::string& target, std::map<std::string, std::string> headers = {}) {
    return testing::request(port_, "GET", target, "", headers);
  }

  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::atomic<bool> slow_started_{false};
  int slow_ms_ = 300;
  int ticks_ = 5;
  bool quiet_ = false;
};

TEST_F(ServerTest, StreamsServerSentEventsInChunksUntilTheSourceEnds) {
  start();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.send("GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n"));
  bool closed = false;
  const auto raw = connection.read_until_close(5s, &closed);
  EXPECT_TRUE(closed) << "the stream must end when its source returns nullopt";
  EXPECT_THAT(raw, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(raw, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(raw, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_THAT(raw, HasSubstr("X-Request-Id: "));
  EXPECT_THAT(raw, HasSubstr("event: tick\ndata: 1\n\n"));
  EXPECT_THAT(raw, HasSubstr("event: tick\ndata: 3\n\n"));
  EXPECT_THAT(raw, HasSubstr("event: tick\ndata: 5\n\n"));
  EXPECT_THAT(raw, ::testing::EndsWith("0\r\n\r\n")) << "the last chunk closes the body";
}

TEST_F(ServerTest, EventStreamSendsHeartbeatsWhileQuietAndStopsOnDrain) {
  ticks_ = 1'000'000;
  quiet_ = true;
  start();
  RawConnection connection(port_);
  ASSERT_TRUE(connection.send("GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(300ms);
  server_->start_drain();
  bool closed = false;
  const auto raw = connection.read_until_close(5s, &closed);
  EXPECT_TRUE(closed) << "draining must end open streams";
  EXPECT_THAT(raw, HasSubstr("event: tick\ndata: 1\n\n"));
  EXPECT_THAT(raw, HasSubstr(": keep-alive\n\n"));
}

TEST_F(ServerTest, HeadOfAnEventStreamSendsNoStream) {
  start();
  auto response = testing::request(port_, "HEAD", "/ticks", "", {});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("content-type"), "text/event-stream");
}

TEST_F(ServerTest, ServesJsonWithRequestId) {
  start();
  auto response = get("/health");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"status":"ok"})");
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("x-request-id").size(), 36U);
}

TEST_F(ServerTest, PathParamsQueryAndRouteTemplate) {
  start();
  auto response = get("/items/a%20b?q=x%26y");
  ASSERT_TRUE(response);
  auto body = boost::json::parse(response->body).as_object();
  EXPECT_EQ(body.at("id").as_string(), "a b");
  EXPECT_EQ(body.at("route").as_string(), "/items/{id}");
  EXPECT_EQ(body.at("q").as_string(), "x&y");
}

TEST_F(ServerTest, UnknownRouteIsProblemJson404) {
  start();
  auto response = get("/nope");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->header("content-type"), "application/problem+json");
  auto body = boost::json::parse(response->body).as_object();
  EXPECT_EQ(body.at("instance").as_string(), "/nope");
  EXPECT_EQ(body.at("request_id").as_string(), response->header("x-request-id"));
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
  start();
  auto response = testing::request(port_, "DELETE", "/health");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("allow"), "GET, HEAD");
}

TEST_F(ServerTest, HeadHasLengthButNoBody) {
  start();
  RawConnection connection(port_);
  connection.send("HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto bytes = connection.read_until_close(2s);
  auto responses = testing::parse_responses(bytes, true);
  ASSERT_EQ(responses.size(), 1U);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].header("content-length"), "15");
  EXPECT_THAT(bytes, ::testing::EndsWith("\r\n\r\n"));
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  RawConnection connection(port_);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(connection.send("GET /items/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = connection.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->status, 200);
  }
}

TEST_F(ServerTest, PipelinedRequestsAnsweredInOrder) {
  start();
  RawConnection connection(port_);
  connection.send(
      "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /items/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto responses = testing::parse_responses(connection.read_until_close(3s));
  ASSERT_EQ(responses.size(), 3U);
  EXPECT_THAT(responses[2].body, HasSubstr("\"id\":\"3\""));
}

TEST_F(ServerTest, RequestIdPropagatedOrReplacedWhenHostile) {
  start();
  EXPECT_EQ(get("/health", {{"X-Request-Id", "abc-123"}})->header("x-request-id"), "abc-123");
  auto replaced = get("/health", {{"X-Request-Id", "evil\" id<script>"}})->header("x-request-id");
  EXPECT_EQ(replaced.size(), 36U);
  EXPECT_EQ(get("/health", {{"X-Request-Id", std::string(500, 'a')}})->header("x-request-id").size(), 36U);
}

TEST_F(ServerTest, TraceparentContinuesTheCallersTrace) {
  start();
  auto response = get("/trace", {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  auto body = boost::json::parse(response->body).as_object();
  EXPECT_EQ(body.at("trace_id").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
  auto fresh = boost::json::parse(get("/trace", {{"traceparent", "garbage"}})->body).as_object();
  EXPECT_EQ(fresh.at("trace_id").as_string().size(), 32U);
  EXPECT_NE(fresh.at("trace_id").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_F(ServerTest, HandlerExceptionIs500WithoutInternals) {
  start();
  auto response = get("/boom");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->body.find("secret"), std::string::npos);
  EXPECT_THAT(response->body, HasSubstr("request_id"));
}

TEST_F(ServerTest, DeclaredBodyOverLimitIs413WithoutReadingIt) {
  start();
  RawConnection connection(port_);
  connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->header("content-type"), "application/problem+json");
  EXPECT_TRUE(connection.peer_closed(2s));
}

TEST_F(ServerTest, ChunkedBodyOverLimitIs413) {
  start();
  RawConnection connection(port_);
  std::string chunk(900, 'a');
  connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n384\r\n" + chunk +
                  "\r\n384\r\n" + chunk + "\r\n0\r\n\r\n");
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

TEST_F(ServerTest, RouteMayRaiseBodyLimit) {
  start();
  auto response = testing::request(port_, "POST", "/upload", std::string(100'000, 'x'));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "100000");
}

// The server reads request heads a few KB at a time: a head larger than one read (within the limit
// of 8192 here), and pipelined heads that straddle reads, are still read whole.
TEST_F(ServerTest, HeadsLargerThanOneReadAreReadWhole) {
  start();
  RawConnection connection(port_);
  const std::string big_head = "GET /items/big HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(7'000, 'b') + "\r\n\r\n";
  ASSERT_TRUE(connection.send(big_head));
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  std::string pipelined;
  for (int i = 0; i < 6; ++i) {
    pipelined += "GET /items/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(1'500, 'p') +
                 (i == 5 ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  }
  ASSERT_TRUE(connection.send(pipelined));
  auto responses = testing::parse_responses(connection.read_until_close(3s));
  ASSERT_EQ(responses.size(), 6U);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(responses[static_cast<std::size_t>(i)].status, 200);
    EXPECT_THAT(responses[static_cast<std::size_t>(i)].body, HasSubstr("\"id\":\"" + std::to_string(i) + "\""));
  }
}

TEST_F(ServerTest, OversizedHeadersAre431) {
  start();
  auto response = get("/health", {{"X-Big", std::string(10'000, 'b')}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
}

TEST_F(ServerTest, MalformedRequestLineIs400AndServerKeepsServing) {
  start();
  RawConnection connection(port_);
  connection.send("GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n");
  auto bytes = connection.read_until_close(2s);
  auto responses = testing::parse_responses(bytes);
  ASSERT_EQ(responses.size(), 1U) << bytes;
  EXPECT_EQ(responses[0].status, 400);
  EXPECT_EQ(get("/health")->status, 200);
}

TEST_F(ServerTest, ProtocolRulesAreEnforced) {
  start();
  auto answer = [&](const std::string& bytes) {
    RawConnection connection(port_);
    connection.send(bytes);
    auto responses = testing::parse_responses(connection.read_until_close(2s));
    return responses.empty() ? 0 : responses[0].status;
  };
  EXPECT_EQ(answer("GET /health HTTP/1.1\r\n\r\n"), 400);                        // no Host
  EXPECT_EQ(answer("GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);  // two Hosts
  EXPECT_EQ(answer("GET /health HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(answer("BREW /health HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
  EXPECT_EQ(answer("GET /items/1?q=a&q=b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(answer("GET /health HTTP/1.0\r\n\r\n"), 200);  // HTTP/1.0 needs no Host
}

TEST_F(ServerTest, SlowHeadersAreCutOffAtTheHeaderTimeout) {
  start();
  RawConnection connection(port_);
  const auto begin = std::chrono::steady_clock::now();
  connection.send("GET /health HTTP/1.1\r\n");
  bool closed = false;
  for (int i = 0; i < 30 && !closed; ++i) {  // a slowloris client: one header byte every 100 ms
    closed = !connection.send("X");
    closed = closed || connection.peer_closed(100ms);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
}

TEST_F(ServerTest, SlowBodyIsCutOffAtTheBodyTimeout) {
  start();
  RawConnection connection(port_);
  const auto begin = std::chrono::steady_clock::now();
  connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
  EXPECT_TRUE(connection.peer_closed(3s));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  EXPECT_EQ(get("/health")->status, 200);
}

// The body timeout is the longest pause, not the whole upload: a body that keeps arriving is
// read to the end however long it takes in all.
TEST_F(ServerTest, SteadyBodyOutlastingTheBodyTimeoutIsRead) {
  start();
  RawConnection connection(port_);
  const auto begin = std::chrono::steady_clock::now();
  connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n");
  for (int i = 0; i < 8; ++i) {  // 8 pieces 150 ms apart: 1.2 s in all against a 500 ms body timeout
    std::this_thread::sleep_for(150ms);
    ASSERT_TRUE(connection.send("b"));
  }
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "bbbbbbbb");
  EXPECT_GT(std::chrono::steady_clock::now() - begin, 1s);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  start();
  RawConnection connection(port_);
  connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(connection.read_response());
  EXPECT_TRUE(connection.peer_closed(3s));
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  start();
  RawConnection connection(port_);
  connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  auto interim = connection.read_until_close(300ms);
  EXPECT_THAT(interim, HasSubstr("100 Continue"));
  connection.send("hello");
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "hello");
}

TEST_F(ServerTest, DrainFinishesInFlightRequestsAndRefusesNewConnections) {
  slow_ms_ = 500;
  start();
  std::optional<testing::RawResponse> slow_response;
  std::thread client([&] { slow_response = get("/slow"); });
  while (!slow_started_) std::this_thread::sleep_for(5ms);
  RawConnection idle(port_);  // an idle keep-alive connection must be closed by the drain
  server_->start_drain();
  EXPECT_TRUE(idle.peer_closed(1s));
  EXPECT_TRUE(server_->wait_idle(3s));
  client.join();
  ASSERT_TRUE(slow_response);
  EXPECT_EQ(slow_response->status, 200);
  EXPECT_EQ(slow_response->body, "done");
  std::this_thread::sleep_for(50ms);
  EXPECT_THROW(RawConnection refused(port_), std::runtime_error);
}

TEST_F(ServerTest, QueueBeyondCapacityIs503) {
  auto limits = fast_limits();
  limits.max_queued_requests = 1;
  slow_ms_ = 400;
  start(limits);
  std::thread client([&] { get("/slow"); });
  while (!slow_started_) std::this_thread::sleep_for(5ms);
  auto response = get("/health");
  client.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->header("retry-after"), "1");
}

TEST_F(ServerTest, InlineRoutesAnswerWhileEveryWorkerIsBusy) {
  auto limits = fast_limits();
  limits.max_queued_requests = 1;
  slow_ms_ = 400;
  start(limits);
  std::thread client([&] { get("/slow"); });
  while (!slow_started_) std::this_thread::sleep_for(5ms);
  auto response = get("/live");
  client.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "alive");
}

}  // namespace
}  // namespace intercab::http
