// Client against the project's own Server (and tiny counting peers, plain and TLS) on 127.0.0.1, port 0.
#include "platform/http/client.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "platform/trace/current.hpp"
#include "process.hpp"

namespace intercab::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A minimal HTTP/1.1 peer on its own thread that counts the connections it accepts: the project's Server does not
// tell which connection a request came on, and connection reuse is what these tests are about.
class CountingPeer {
 public:
  enum class Mode {
    kKeepAlive,           // answers every request and keeps the connection
    kCloseAfterResponse,  // answers as if keeping the connection, then closes it (an idle timeout, in effect)
    kAnnounceClose,       // answers with `Connection: close` and closes
  };

  explicit CountingPeer(Mode mode) : mode_(mode), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~CountingPeer() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [error, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      connections_.fetch_add(1);
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> request;
      auto [read_error, read] =
          co_await bhttp::async_read(socket, buffer, request, asio::as_tuple(asio::use_awaitable));
      if (read_error) co_return;
      requests_.fetch_add(1);
      bhttp::response<bhttp::string_body> response{bhttp::status::ok, 11};
      response.body() = "ok";
      response.keep_alive(mode_ != Mode::kAnnounceClose);
      response.prepare_payload();
      auto [write_error, written] = co_await bhttp::async_write(socket, response, asio::as_tuple(asio::use_awaitable));
      if (write_error || mode_ != Mode::kKeepAlive) co_return;  // the socket closes with this frame
    }
  }

  const Mode mode_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
};

// A port on 127.0.0.1 that nothing listens on.
std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

std::chrono::milliseconds elapsed_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router router;
    auto echo = [](Request& request) {
      Response response = Response::json(boost::json::object{
          {"method", request.method},
          {"target", request.target},
          {"body", request.body},
          {"x_test", request.header("X-Test")},
          {"host", request.header("Host")},
          {"user_agent", request.header("User-Agent")},
          {"content_length", request.header("Content-Length")},
      });
      response.headers.set("X-Reply", "yes");
      return response;
    };
    router.add("GET", "/echo", echo);
    router.add("POST", "/echo", echo);
    router.add("GET", "/slow", [this](Request&) {
      slow_started_.store(true);
      std::this_thread::sleep_for(slow_duration_);
      return Response::text("slow", "text/plain");
    });
    auto flaky = [this](Request&) {
      const int call = flaky_calls_.fetch_add(1) + 1;
      return Response::empty(call <= flaky_failures_.load() ? 503 : 200);
    };
    router.add("GET", "/flaky", flaky);
    router.add("POST", "/flaky", flaky);
    router.add("GET", "/status", [this](Request&) {
      status_calls_.fetch_add(1);
      status_started_.store(true);
      std::this_thread::sleep_for(status_delay_.load());
      return Response::empty(status_.load());
    });
    router.add("GET", "/trace", [](Request& request) {
      return Response::json(boost::json::object{{"traceparent", request.header("traceparent")},
                                                {"tracestate", request.header("tracestate")}});
    });
    router.add("GET", "/big", [](Request&) { return Response::text(std::string(10'000, 'x'), "text/plain"); });

    runtime_ = std::make_unique<Runtime>(2, 4);
    server_ = std::make_unique<Server>(*runtime_, std::move(router), ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
  }

  static ClientOptions fast_options() {
    ClientOptions options;
    options.connect_timeout = 500ms;
    options.request_timeout = 2000ms;
    options.retry_backoff = 1ms;
    return options;
  }

  Client& client(ClientOptions options = fast_options()) {
    client_ = std::make_unique<Client>(*runtime_, options);
    return *client_;
  }

  std::string url(const std::string& target) const { return "http://127.0.0.1:" + std::to_string(port_) + target; }

  ClientRequest get(const std::string& target) const {
    ClientRequest request;
    request.url = url(target);
    return request;
  }

  ClientRequest post(const std::string& target, std::string body) const {
    ClientRequest request;
    request.method = "POST";
    request.url = url(target);
    request.body = std::move(body);
    return request;
  }

  // Handler state first: handlers on worker threads use it until the runtime below is gone.
  std::atomic<bool> slow_started_{false};
  std::chrono::milliseconds slow_duration_{400};
  std::atomic<int> flaky_calls_{0};
  std::atomic<int> flaky_failures_{1'000};
  std::atomic<int> status_calls_{0};
  std::atomic<int> status_{500};
  std::atomic<std::chrono::milliseconds> status_delay_{0ms};
  std::atomic<bool> status_started_{false};

  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Client> client_;  // destroyed first, while the server and the runtime still run
};

TEST_F(ClientTest, GetRoundTripWithHeaders) {
  auto request = get("/echo?x=1");
  request.headers.add("X-Test", "hello");
  auto response = client().send(request);

  ASSERT_TRUE(response.ok()) << response.error_message;
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.attempts, 1);
  EXPECT_EQ(response.headers.get("x-reply"), "yes");
  EXPECT_EQ(response.headers.get("Content-Type"), "application/json");
  auto body = boost::json::parse(response.body).as_object();
  EXPECT_EQ(body.at("method").as_string(), "GET");
  EXPECT_EQ(body.at("target").as_string(), "/echo?x=1");
  EXPECT_EQ(body.at("x_test").as_string(), "hello");
  EXPECT_EQ(body.at("host").as_string(), "127.0.0.1:" + std::to_string(port_));
  EXPECT_EQ(body.at("user_agent").as_string(), "intercab");
}

TEST_F(ClientTest, NeverSendsTheFragment) {
  auto response = client().send(get("/echo?x=1#section"));
  ASSERT_TRUE(response.ok()) << response.error_message;
  EXPECT_EQ(boost::json::parse(response.body).at("target").as_string(), "/echo?x=1");
}

TEST_F(ClientTest, PostSendsBodyWithContentLength) {
  auto request = post("/echo", "{\"fare\":12500}");
  request.headers.add("Content-Type", "application/json");
  request.headers.add("User-Agent", "dispatch");
  auto response = client().send(request);

  ASSERT_TRUE(response.ok()) << response.error_message;
  EXPECT_EQ(response.status, 200);
  auto body = boost::json::parse(response.body).as_object();
  EXPECT_EQ(body.at("method").as_string(), "POST");
  EXPECT_EQ(body.at("body").as_string(), "{\"fare\":12500}");
  EXPECT_EQ(body.at("content_length").as_string(), "14");
  EXPECT_EQ(body.at("user_agent").as_string(), "dispatch");  // the caller's own value wins
}

TEST_F(ClientTest, HeadResponseHasNoBodyAndLeavesTheConnectionUsable) {
  auto& http = client();
  auto request = get("/big");
  request.method = "HEAD";
  auto head = http.send(request);
  ASSERT_TRUE(head.ok()) << head.error_message;
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.headers.get("Content-Length"), "10000");

  auto next = http.send(get("/echo"));
  ASSERT_TRUE(next.ok()) << next.error_message;
  EXPECT_EQ(next.status, 200);
}

TEST_F(ClientTest, ResolvesHostNames) {
  auto request = get("/echo");
  request.url = "http://localhost:" + std::to_string(port_) + "/echo";
  auto response = client().send(request);
  ASSERT_TRUE(response.ok()) << response.error_message;
  EXPECT_EQ(response.status, 200);
}

TEST_F(ClientTest, ManyConcurrentCalls) {
  auto& http = client();
  constexpr int kCalls = 40;
  std::vector<std::promise<ClientResponse>> promises(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    auto request = post("/echo", "call " + std::to_string(i));
    http.async_send(request, [&promise = promises[static_cast<std::size_t>(i)]](ClientResponse response) {
      promise.set_value(std::move(response));
    });
  }
  for (int i = 0; i < kCalls; ++i) {
    auto future = promises[static_cast<std::size_t>(i)].get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    auto response = future.get();
    ASSERT_TRUE(response.ok()) << response.error_message;
    EXPECT_EQ(boost::json::parse(response.body).at("body").as_string(), "call " + std::to_string(i));
  }
}

TEST_F(ClientTest, ReusesKeepAliveConnections) {
  CountingPeer peer(CountingPeer::Mode::kKeepAlive);
  auto& http = client();
  for (int i = 0; i < 10; ++i) {
    ClientRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
    auto response = http.send(request);
    ASSERT_TRUE(response.ok()) << response.error_message;
    EXPECT_EQ(response.body, "ok");
  }
  EXPECT_EQ(peer.requests(), 10);
  EXPECT_EQ(peer.connections(), 1);
}

TEST_F(ClientTest, DoesNotPoolConnectionsTheServerCloses) {
  CountingPeer peer(CountingPeer::Mode::kAnnounceClose);
  auto& http = client();
  for (int i = 0; i < 3; ++i) {
    ClientRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
    auto response = http.send(request);
    ASSERT_TRUE(response.ok()) << response.error_message;
    EXPECT_EQ(response.attempts, 1);
  }
  EXPECT_EQ(peer.connections(), 3);
}

TEST_F(ClientTest, PoolSizeZeroKeepsNoIdleConnection) {
  CountingPeer peer(CountingPeer::Mode::kKeepAlive);
  auto options = fast_options();
  options.pool_size_per_host = 0;
  auto& http = client(options);
  for (int i = 0; i < 3; ++i) {
    ClientRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
    ASSERT_TRUE(http.send(request).ok());
  }
  EXPECT_EQ(peer.connections(), 3);
}

TEST_F(ClientTest, StalePooledConnectionIsRetriedOnceEvenForPost) {
  CountingPeer peer(CountingPeer::Mode::kCloseAfterResponse);
  auto options = fast_options();
  options.max_retries = 0;
  auto& http = client(options);
  for (int i = 0; i < 3; ++i) {
    ClientRequest request;
    request.method = "POST";
    request.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
    request.body = "booking";
    auto response = http.send(request);
    ASSERT_TRUE(response.ok()) << "call " << i << ": " << response.error_message;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.attempts, 1);
  }
  // Every request reached the peer exactly once; each call after the first found its pooled connection closed.
  EXPECT_EQ(peer.requests(), 3);
  EXPECT_EQ(peer.connections(), 3);
}

TEST_F(ClientTest, TimesOutAgainstASlowHandler) {
  auto options = fast_options();
  options.request_timeout = 150ms;
  options.max_retries = 0;
  auto& http = client(options);
  const auto start = Clock::now();
  auto response = http.send(get("/slow"));
  const auto took = elapsed_since(start);

  EXPECT_EQ(response.error, ClientErrorKind::kTimeout) << response.error_message;
  EXPECT_EQ(response.status, 0);
  EXPECT_EQ(response.attempts, 1);
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 300ms);
  EXPECT_TRUE(slow_started_.load());
}

TEST_F(ClientTest, PerRequestTimeoutOverridesTheDefault) {
  auto options = fast_options();
  options.request_timeout = 5000ms;
  options.max_retries = 0;
  auto& http = client(options);
  auto request = get("/slow");
  request.timeout = 100ms;
  const auto start = Clock::now();
  auto response = http.send(request);
  EXPECT_EQ(response.error, ClientErrorKind::kTimeout) << response.error_message;
  EXPECT_LT(elapsed_since(start), 200ms);
}

TEST_F(ClientTest, RetriesIdempotentCallsThatTimeOut) {
  auto options = fast_options();
  options.request_timeout = 100ms;
  options.max_retries = 1;
  const auto start = Clock::now();
  auto response = client(options).send(get("/slow"));
  EXPECT_EQ(response.error, ClientErrorKind::kTimeout) << response.error_message;
  EXPECT_EQ(response.attempts, 2);
  EXPECT_LT(elapsed_since(start), 350ms);  // two deadlines and a backoff of at most 2 ms
}

TEST_F(ClientTest, RetriesIdempotentCallsOn503) {
  flaky_failures_ = 2;
  auto options = fast_options();
  options.max_retries = 2;
  auto response = client(options).send(get("/flaky"));
  ASSERT_TRUE(response.ok()) << response.error_message;
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.attempts, 3);
  EXPECT_EQ(flaky_calls_.load(), 3);
}

TEST_F(ClientTest, GivesUpAfterMaxRetriesWithTheLastResponse) {
  auto options = fast_options();
  options.max_retries = 2;
  auto response = client(options).send(get("/flaky"));
  ASSERT_TRUE(response.ok()) << response.error_message;  // a 503 is an answer, not a transport error
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.attempts, 3);
  EXPECT_EQ(flaky_calls_.load(), 3);
}

TEST_F(ClientTest, NeverRetriesPost) {
  auto options = fast_options();
  options.max_retries = 3;
  auto response = client(options).send(post("/flaky", "{}"));
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.attempts, 1);
  EXPECT_EQ(flaky_calls_.load(), 1);
}

TEST_F(ClientTest, DoesNotRetryClientErrors) {
  status_ = 404;
  auto options = fast_options();
  options.max_retries = 3;
  auto response = client(options).send(get("/status"));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.attempts, 1);
  EXPECT_EQ(status_calls_.load(), 1);
}

TEST_F(ClientTest, ConnectionRefusedFailsQuicklyWithConnectError) {
  auto options = fast_options();
  options.max_retries = 2;
  auto& http = client(options);
  ClientRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/";
  const auto start = Clock::now();
  auto response = http.send(request);
  EXPECT_EQ(response.error, ClientErrorKind::kConnect) << response.error_message;
  EXPECT_EQ(response.attempts, 3);  // a refused connection is retried: nothing reached the server
  EXPECT_LT(elapsed_since(start), 400ms);
}

class BreakerTest : public ClientTest {
 protected:
  static ClientOptions breaker_options() {
    auto options = fast_options();
    options.max_retries = 0;
    options.breaker_failure_threshold = 3;
    options.breaker_open = 200ms;
    return options;
  }

  // Fails the host breaker_failure_threshold times in a row.
  void open_breaker(Client& http) {
    status_ = 500;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(http.send(get("/status")).status, 500);
    ASSERT_EQ(status_calls_.load(), 3);
  }
};

TEST_F(BreakerTest, OpensAfterConsecutiveFailuresAndFailsFast) {
  auto& http = client(breaker_options());
  open_breaker(http);

  const auto start = Clock::now();
  auto response = http.send(get("/status"));
  EXPECT_EQ(response.error, ClientErrorKind::kCircuitOpen);
  EXPECT_EQ(response.attempts, 0);
  EXPECT_NE(response.error_message.find("127.0.0.1:" + std::to_string(port_)), std::string::npos);
  EXPECT_LT(elapsed_since(start), 100ms);
  EXPECT_EQ(status_calls_.load(), 3);  // the server was not contacted
}

TEST_F(BreakerTest, HalfOpenTrialSuccessClosesIt) {
  auto& http = client(breaker_options());
  open_breaker(http);
  std::this_thread::sleep_for(250ms);
  status_ = 200;

  EXPECT_EQ(http.send(get("/status")).status, 200);  // the trial
  EXPECT_EQ(http.send(get("/status")).status, 200);  // closed again
  EXPECT_EQ(status_calls_.load(), 5);
}

TEST_F(BreakerTest, HalfOpenTrialFailureReopensIt) {
  auto& http = client(breaker_options());
  open_breaker(http);
  std::this_thread::sleep_for(250ms);

  EXPECT_EQ(http.send(get("/status")).status, 500);  // the trial fails
  EXPECT_EQ(http.send(get("/status")).error, ClientErrorKind::kCircuitOpen);
  EXPECT_EQ(status_calls_.load(), 4);
}

TEST_F(BreakerTest, HalfOpenLetsExactlyOneTrialThrough) {
  auto& http = client(breaker_options());
  open_breaker(http);
  std::this_thread::sleep_for(250ms);
  status_ = 200;
  status_delay_ = 200ms;
  status_started_ = false;

  std::promise<ClientResponse> trial;
  http.async_send(get("/status"), [&trial](ClientResponse response) { trial.set_value(std::move(response)); });
  while (!status_started_.load()) std::this_thread::sleep_for(1ms);
  auto during_trial = http.send(get("/status"));
  EXPECT_EQ(during_trial.error, ClientErrorKind::kCircuitOpen);

  auto trial_future = trial.get_future();
  ASSERT_EQ(trial_future.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(trial_future.get().status, 200);
  status_delay_ = 0ms;
  EXPECT_EQ(http.send(get("/status")).status, 200);
  EXPECT_EQ(status_calls_.load(), 5);
}

TEST_F(BreakerTest, ClientErrorsDoNotOpenIt) {
  status_ = 404;
  auto& http = client(breaker_options());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(http.send(get("/status")).status, 404);
  EXPECT_EQ(status_calls_.load(), 5);
}

TEST_F(BreakerTest, ConnectFailuresOpenIt) {
  auto& http = client(breaker_options());
  ClientRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(http.send(request).error, ClientErrorKind::kConnect);
  EXPECT_EQ(http.send(request).error, ClientErrorKind::kCircuitOpen);
  // Other hosts have their own breaker.
  EXPECT_EQ(http.send(get("/echo")).status, 200);
}

TEST_F(ClientTest, PropagatesTheCurrentTraceAsAChildSpan) {
  auto root = trace::new_root();
  root.tracestate = "intercab=1";
  ClientResponse response;
  {
    trace::ScopedTrace scope(root);
    response = client().send(get("/trace"));
  }
  ASSERT_TRUE(response.ok()) << response.error_message;
  auto body = boost::json::parse(response.body).as_object();
  auto seen = trace::parse_traceparent(body.at("traceparent").as_string(), body.at("tracestate").as_string());
  ASSERT_TRUE(seen) << body.at("traceparent").as_string();
  EXPECT_EQ(seen->trace_id, root.trace_id);
  EXPECT_NE(seen->span_id, root.span_id);
  EXPECT_EQ(seen->tracestate, "intercab=1");
}

TEST_F(ClientTest, SendsNoTraceOutsideOfOneAndKeepsTheCallersOwn) {
  auto& http = client();
  auto plain = http.send(get("/trace"));
  ASSERT_TRUE(plain.ok()) << plain.error_message;
  EXPECT_EQ(boost::json::parse(plain.body).at("traceparent").as_string(), "");

  auto root = trace::new_root();
  trace::ScopedTrace scope(root);
  auto request = get("/trace");
  const std::string own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  request.headers.add("traceparent", own);
  auto response = http.send(request);
  ASSERT_TRUE(response.ok()) << response.error_message;
  EXPECT_EQ(boost::json::parse(response.body).at("traceparent").as_string(), own);
}

TEST_F(ClientTest, RejectsInvalidUrlsWithoutNetworkIo) {
  auto& http = client();
  for (const std::string bad : {"not a url", "/relative/path", "ftp://127.0.0.1/file", "http:///no-host",
                                "http://127.0.0.1:99999/", "http://user:secret@127.0.0.1/"}) {
    ClientRequest request;
    request.url = bad;
    auto response = http.send(request);
    EXPECT_EQ(response.error, ClientErrorKind::kInvalidUrl) << bad;
    EXPECT_FALSE(response.error_message.empty()) << bad;
    EXPECT_EQ(response.attempts, 0) << bad;
  }
}

TEST_F(ClientTest, RejectsHeaderInjection) {
  auto request = get("/echo");
  request.headers.add("X-Test", "a\r\nX-Admin: yes");
  auto response = client().send(request);
  EXPECT_EQ(response.error, ClientErrorKind::kInvalidUrl);
  EXPECT_NE(response.error_message.find("X-Test"), std::string::npos) << response.error_message;
}

TEST_F(ClientTest, ResponseLargerThanTheLimitIsAProtocolError) {
  auto options = fast_options();
  options.max_response_bytes = 1024;
  auto& http = client(options);
  auto response = http.send(get("/big"));
  EXPECT_EQ(response.error, ClientErrorKind::kProtocol);
  EXPECT_NE(response.error_message.find("max_response_bytes"), std::string::npos) << response.error_message;
  EXPECT_EQ(response.attempts, 1);

  auto small = http.send(get("/echo"));  // the connection that was cut short is not reused
  EXPECT_TRUE(small.ok()) << small.error_message;
}

TEST_F(ClientTest, CallbackRunsOnAnIoThread) {
  auto& http = client();
  std::promise<std::thread::id> called_on;
  http.async_send(get("/echo"), [&called_on](ClientResponse) { called_on.set_value(std::this_thread::get_id()); });
  auto future = called_on.get_future();
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  EXPECT_NE(future.get(), std::this_thread::get_id());
}

TEST_F(ClientTest, DestroyingTheClientWithCallsInFlightIsSafe) {
  auto& http = client();
  std::promise<ClientResponse> done;
  http.async_send(get("/slow"), [&done](ClientResponse response) { done.set_value(std::move(response)); });
  while (!slow_started_.load()) std::this_thread::sleep_for(1ms);
  client_.reset();

  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(future.get().status, 200);  // the call outlives the Client that made it
}

TEST_F(ClientTest, StoppingTheRuntimeFirstIsSafe) {
  auto& http = client();
  ASSERT_TRUE(http.send(get("/echo")).ok());  // leaves a pooled connection behind
  http.async_send(get("/slow"), [](ClientResponse) {});
  while (!slow_started_.load()) std::this_thread::sleep_for(1ms);
  runtime_->stop();

  const auto start = Clock::now();
  auto response = http.send(get("/echo"));
  EXPECT_EQ(response.error, ClientErrorKind::kNetwork);
  EXPECT_LT(elapsed_since(start), 1s);
  client_.reset();
}

// --- TLS

// OpenSSL objects with their free functions.
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

PkeyPtr new_p256_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw std::runtime_error("EC key generation failed");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (!extension || X509_add_ext(cert, extension, -1) != 1)
    throw std::runtime_error("cannot add a certificate extension");
  X509_EXTENSION_free(extension);
}

// A certificate for `key`, valid from an hour ago for a day, signed by `issuer` (self-signed when null).
X509Ptr new_certificate(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key,
                        const char* subject_alt_names) {
  static std::atomic<long> serial{1};
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial.fetch_add(1));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (subject_alt_names) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_names);
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    throw std::runtime_error("certificate signing failed");
  }
  return cert;
}

template <class Write>
std::string pem_of(Write write) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (write(bio.get()) != 1) throw std::runtime_error("PEM encoding failed");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(size)};
}

// A throwaway CA and server certificates it signs, all made in memory for one test.
class TestCertificateAuthority {
 public:
  TestCertificateAuthority()
      : key_(new_p256_key()), cert_(new_certificate(key_.get(), "intercab test CA", nullptr, nullptr, nullptr)) {}

  std::string pem() const {
    return pem_of([&](BIO* bio) { return PEM_write_bio_X509(bio, cert_.get()); });
  }

  struct ServerIdentity {
    std::string certificate_pem;
    std::string private_key_pem;
  };
  // A server certificate for `subject_alt_names` ("DNS:localhost,IP:127.0.0.1").
  ServerIdentity issue(const char* subject_alt_names) const {
    auto key = new_p256_key();
    auto cert = new_certificate(key.get(), "intercab test server", cert_.get(), key_.get(), subject_alt_names);
    return {pem_of([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); }), pem_of([&](BIO* bio) {
              return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
            })};
  }

 private:
  PkeyPtr key_;
  X509Ptr cert_;
};

// An HTTPS/1.1 peer on its own thread: answers every request with its target, counts connections and records the
// server name (SNI) the client asked for.
class TlsPeer {
 public:
  enum class Mode { kKeepAlive, kCloseAfterResponse };

  TlsPeer(const TestCertificateAuthority::ServerIdentity& identity, Mode mode)
      : mode_(mode), tls_(asio::ssl::context::tls_server), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    tls_.use_certificate_chain(asio::buffer(identity.certificate_pem));
    tls_.use_private_key(asio::buffer(identity.private_key_pem), asio::ssl::context::pem);
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TlsPeer() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int handshakes() const { return handshakes_.load(); }
  std::string server_name() const {
    std::lock_guard lock(mutex_);
    return server_name_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [error, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      connections_.fetch_add(1);
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    asio::ssl::stream<tcp::socket> stream(std::move(socket), tls_);
    auto [handshake_error] =
        co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (handshake_error) co_return;
    handshakes_.fetch_add(1);
    if (const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name)) {
      std::lock_guard lock(mutex_);
      server_name_ = name;
    }
    boost::beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> request;
      auto [read_error, read] =
          co_await bhttp::async_read(stream, buffer, request, asio::as_tuple(asio::use_awaitable));
      if (read_error) co_return;
      bhttp::response<bhttp::string_body> response{bhttp::status::ok, 11};
      response.body() = std::string(request.target());
      response.keep_alive(true);
      response.prepare_payload();
      auto [write_error, written] = co_await bhttp::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
      // Closing without close_notify, as servers timing out idle connections often do.
      if (write_error || mode_ != Mode::kKeepAlive) co_return;
    }
  }

  const Mode mode_;
  asio::io_context io_;
  asio::ssl::context tls_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> handshakes_{0};
  mutable std::mutex mutex_;
  std::string server_name_;
};

class TlsClientTest : public ::testing::Test {
 protected:
  TlsClientTest() {
    std::ofstream(ca_file_) << authority_.pem();
    runtime_ = std::make_unique<Runtime>(2, 2);
  }

  static ClientOptions fast_options() {
    ClientOptions options;
    options.connect_timeout = 2000ms;  // TLS handshakes under sanitizers on a busy machine
    options.request_timeout = 5000ms;
    options.retry_backoff = 1ms;
    return options;
  }

  ClientOptions trusting_the_test_ca() const {
    auto options = fast_options();
    options.extra_ca_file = ca_file_.string();
    return options;
  }

  Client& client(ClientOptions options) {
    client_ = std::make_unique<Client>(*runtime_, std::move(options));
    return *client_;
  }

  static ClientRequest get(const std::string& url) {
    ClientRequest request;
    request.url = url;
    return request;
  }

  TestCertificateAuthority authority_;
  intercab::testing::TempDir dir_{"intercab-client-tls"};
  std::filesystem::path ca_file_ = dir_.path() / "ca.pem";
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<Client> client_;
};

TEST_F(TlsClientTest, VerifiesTheServerAndReusesTheConnection) {
  TlsPeer peer(authority_.issue("DNS:localhost,IP:127.0.0.1"), TlsPeer::Mode::kKeepAlive);
  auto& https = client(trusting_the_test_ca());
  const auto url = "https://127.0.0.1:" + std::to_string(peer.port());
  for (int i = 0; i < 3; ++i) {
    auto response = https.send(get(url + "/call/" + std::to_string(i)));
    ASSERT_TRUE(response.ok()) << response.error_message;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "/call/" + std::to_string(i));
  }
  EXPECT_EQ(peer.connections(), 1);
  EXPECT_EQ(peer.server_name(), "");  // no SNI for an address (RFC 6066 §3)
}

TEST_F(TlsClientTest, SendsTheHostNameAsSniAndChecksItAgainstTheCertificate) {
  TlsPeer peer(authority_.issue("DNS:localhost"), TlsPeer::Mode::kKeepAlive);
  auto response = client(trusting_the_test_ca()).send(get("https://localhost:" + std::to_string(peer.port()) + "/x"));
  ASSERT_TRUE(response.ok()) << response.error_message;
  EXPECT_EQ(response.body, "/x");
  EXPECT_EQ(peer.server_name(), "localhost");
}

TEST_F(TlsClientTest, RejectsACertificateFromAnUntrustedAuthority) {
  TlsPeer peer(authority_.issue("DNS:localhost,IP:127.0.0.1"), TlsPeer::Mode::kKeepAlive);
  auto response = client(fast_options()).send(get("https://127.0.0.1:" + std::to_string(peer.port())));
  EXPECT_EQ(response.error, ClientErrorKind::kTls);
  EXPECT_NE(response.error_message.find("certificate was rejected"), std::string::npos) << response.error_message;
  EXPECT_EQ(response.attempts, 1);
  EXPECT_EQ(peer.handshakes(), 0);
}

TEST_F(TlsClientTest, RejectsACertificateForAnotherHost) {
  TlsPeer peer(authority_.issue("DNS:api.example.com"), TlsPeer::Mode::kKeepAlive);
  auto& https = client(trusting_the_test_ca());
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    auto response = https.send(get("https://" + host + ":" + std::to_string(peer.port()) + "/"));
    EXPECT_EQ(response.error, ClientErrorKind::kTls) << host;
    EXPECT_NE(response.error_message.find("mismatch"), std::string::npos) << response.error_message;
  }
  EXPECT_EQ(peer.handshakes(), 0);
}

TEST_F(TlsClientTest, AConnectionTheServerClosedIsReplacedEvenForPost) {
  TlsPeer peer(authority_.issue("IP:127.0.0.1"), TlsPeer::Mode::kCloseAfterResponse);
  auto& https = client(trusting_the_test_ca());
  for (int i = 0; i < 3; ++i) {
    auto request = get("https://127.0.0.1:" + std::to_string(peer.port()) + "/post");
    request.method = "POST";
    request.body = "x";
    auto response = https.send(request);
    ASSERT_TRUE(response.ok()) << "call " << i << ": " << response.error_message;
    EXPECT_EQ(response.body, "/post");
  }
  EXPECT_GE(peer.connections(), 3);
}

TEST_F(TlsClientTest, APeerThatAnswersInPlainHttpIsATlsError) {
  // What a plain HTTP server says to a ClientHello it cannot parse.
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::thread peer([&acceptor] {
    tcp::socket socket(acceptor.get_executor());
    acceptor.accept(socket);
    asio::write(socket, asio::buffer(std::string_view("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")));
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    char byte = 0;
    socket.read_some(asio::buffer(&byte, 1), ignored);  // until the client gives up and closes
  });
  auto response = client(trusting_the_test_ca())
                      .send(get("https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/"));
  peer.join();
  EXPECT_EQ(response.error, ClientErrorKind::kTls) << response.error_message;
  EXPECT_EQ(response.attempts, 1);  // not retried: the peer does not speak TLS and will not start to
}

TEST_F(TlsClientTest, AnUnreadableExtraCaFileFailsTheConstructor) {
  auto options = trusting_the_test_ca();
  options.extra_ca_file = (dir_.path() / "missing.pem").string();
  EXPECT_THROW(Client(*runtime_, options), std::runtime_error);
}

TEST_F(TlsClientTest, AnExtraCaFileWithoutCertificatesFailsHttpsCallsOnly) {
  TlsPeer peer(authority_.issue("IP:127.0.0.1"), TlsPeer::Mode::kKeepAlive);
  std::ofstream(ca_file_) << "not a certificate\n";
  auto& http = client(trusting_the_test_ca());
  auto response = http.send(get("https://127.0.0.1:" + std::to_string(peer.port()) + "/"));
  EXPECT_EQ(response.error, ClientErrorKind::kTls);
  EXPECT_NE(response.error_message.find("extra_ca_file"), std::string::npos) << response.error_message;
  EXPECT_EQ(peer.connections(), 0);
}

}  // namespace
}  // namespace intercab::http
