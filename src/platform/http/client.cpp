// Beast HTTP/1.1 client over TCP or TLS: keep-alive pools, per-attempt deadlines, jittered retries and a circuit
// breaker per host.
#include "platform/http/client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <cassert>
#include <cctype>
#include <charconv>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "platform/http/runtime_impl.hpp"
#include "platform/log/log.hpp"
#include "platform/trace/current.hpp"

namespace intercab::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kAwaitable = asio::as_tuple(asio::use_awaitable);

namespace {

// Generous for any sane server; the default of Beast's response parser (8 KiB) is tight for cookie-heavy peers.
constexpr std::uint32_t kMaxResponseHeaderBytes = 64 * 1024;

// One keep-alive connection, plain or TLS. Its stream lives on its own strand and every operation on it runs in a
// coroutine spawned on that strand, because Beast's timeout handlers run concurrently with reads and writes otherwise.
struct Connection {
  // `tls_context` null: plain TCP. Otherwise the TLS stream owns the TCP stream, whose deadlines still apply.
  Connection(asio::io_context& io, asio::ssl::context* tls_context) {
    if (tls_context) {
      tls.emplace(asio::make_strand(io), *tls_context);
    } else {
      plain.emplace(asio::make_strand(io));
    }
  }

  beast::tcp_stream& tcp() { return tls ? tls->next_layer() : *plain; }

  // No TLS close_notify: a client only closes a connection it gives up on or never reuses, and HTTP/1.1 framing
  // already says where each response ends, so truncation cannot go unnoticed (RFC 9112 §9.8).
  void close() {
    beast::error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp().close();
  }

  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
enum class Admission { kRejected, kAdmitted, kTrial };

// The idle connections and the circuit breaker of one host:port.
struct HostState {
  std::mutex mutex;
  std::vector<std::shared_ptr<Connection>> idle;  // the most recently used last, so warm connections are reused
  BreakerState breaker = BreakerState::kClosed;
  int consecutive_failures = 0;
  Clock::time_point opened_at;
};

// Everything an attempt needs, built once on the calling thread and shared read-only by the attempts.
struct Call {
  std::string key;  // "host:port", "https://host:port" for TLS: pool and breaker identity
  bool tls = false;
  std::optional<asio::ip::address> address;  // set for numeric hosts, which need no DNS
  std::string host_name;                     // resolved when `address` is empty
  std::uint16_t port = 80;
  bhttp::request<bhttp::string_body> message;
  bool idempotent = false;
  bool head = false;
  std::chrono::milliseconds timeout{};
};

// The outcome of one request/response exchange on one connection.
struct Exchange {
  ClientResponse response;
  bool reusable = false;  // the response was read completely and the server keeps the connection open
  bool stale = false;     // a pooled connection was found closed before the server could have seen the request
};

ClientResponse failure(ClientErrorKind kind, std::string message) {
  ClientResponse response;
  response.error = kind;
  response.error_message = std::move(message);
  return response;
}

std::string milliseconds_text(std::chrono::milliseconds duration) { return std::to_string(duration.count()) + " ms"; }

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE" ||
         method == "TRACE";
}

// RFC 9110 §5.6.2 token characters: what a method or a header name may consist of.
bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Failures that say the host is unhealthy; a 4xx is the caller's fault and says nothing about the host.
bool counts_as_breaker_failure(const ClientResponse& response) {
  switch (response.error) {
    case ClientErrorKind::kConnect:
    case ClientErrorKind::kNetwork:
    case ClientErrorKind::kTimeout:
      return true;
    case ClientErrorKind::kNone:
      return response.status >= 500;
    default:
      return false;
  }
}

bool is_retryable(const ClientResponse& response) {
  switch (response.error) {
    case ClientErrorKind::kConnect:
    case ClientErrorKind::kNetwork:
    case ClientErrorKind::kTimeout:
      return true;
    case ClientErrorKind::kNone:
      return response.status == 502 || response.status == 503 || response.status == 504;
    default:
      return false;
  }
}

// Full jitter (uniform in [0, base * 2^retry]) spreads the retries of many callers hitting the same failure.
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds base, int retry) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const auto ceiling = base.count() << std::min(retry, 20);
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, ceiling)(random));
}

// Turns a request into a Call, or explains in `error` what the caller has to change.
std::shared_ptr<Call> prepare_call(ClientRequest& request, const ClientOptions& options, std::string& error) {
  // parse_uri rather than parse_absolute_uri: a fragment is harmless, it is simply never sent.
  auto parsed = boost::urls::parse_uri(request.url);
  if (!parsed) {
    error = "'" + request.url + "' is not an absolute URL; pass one like http://host:port/path";
    return nullptr;
  }
  const auto& url = *parsed;
  if (url.scheme_id() != boost::urls::scheme::http && url.scheme_id() != boost::urls::scheme::https) {
    error = "unsupported URL scheme '" + std::string(url.scheme()) + "'; only http:// and https:// are supported";
    return nullptr;
  }
  if (url.has_userinfo()) {
    error = "credentials in the URL are not supported; send an Authorization header instead";
    return nullptr;
  }
  auto call = std::make_shared<Call>();
  call->tls = url.scheme_id() == boost::urls::scheme::https;
  call->port = call->tls ? 443 : 80;
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6: {
      beast::error_code ec;
      call->address = asio::ip::make_address(url.host_address(), ec);
      if (ec) {
        error = "the URL host '" + std::string(url.encoded_host()) + "' is not a valid IP address";
        return nullptr;
      }
      break;
    }
    case boost::urls::host_type::name:
      call->host_name = url.host_address();
      break;
    default:
      break;
  }
  if (!call->address && call->host_name.empty()) {
    error = "the URL '" + request.url + "' has no host; pass one like http://host:port/path";
    return nullptr;
  }
  if (url.has_port() && !url.port().empty()) {
    // port_number() wraps values above 65535 instead of rejecting them, so the text is checked here.
    unsigned port = 0;
    const auto text = url.port();
    const auto [end, parse_error] = std::from_chars(text.data(), text.data() + text.size(), port);
    call->port = static_cast<std::uint16_t>(port);
    if (parse_error != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535) {
      error = "the URL port '" + std::string(url.port()) + "' is not in 1-65535";
      return nullptr;
    }
  }
  if (!is_token(request.method)) {
    error = "'" + request.method + "' is not a valid HTTP method";
    return nullptr;
  }
  for (const auto& [name, value] : request.headers.fields()) {
    if (!is_token(name) || has_control_character(value)) {
      error = "header '" + name + "' is not a valid header name or its value holds a control character";
      return nullptr;
    }
  }

  std::string host_text = call->address ? call->address->to_string() : call->host_name;
  std::transform(host_text.begin(), host_text.end(), host_text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  call->key = std::string(call->tls ? "https://" : "") +
              (call->address && call->address->is_v6() ? "[" + host_text + "]" : host_text) + ":" +
              std::to_string(call->port);
  call->idempotent = is_idempotent(request.method);
  call->head = request.method == "HEAD";
  call->timeout = request.timeout.value_or(options.request_timeout);

  // Framing is ours to decide; a caller's Content-Length or Transfer-Encoding could contradict the body.
  request.headers.remove("Content-Length");
  request.headers.remove("Transfer-Encoding");
  if (!request.headers.contains("Host")) {
    std::string host_header(url.encoded_host());
    if (call->port != (call->tls ? 443 : 80)) host_header += ":" + std::to_string(call->port);
    request.headers.set("Host", std::move(host_header));
  }
  if (!request.headers.contains("User-Agent")) request.headers.set("User-Agent", "intercab");

  auto& message = call->message;
  message.version(11);
  message.method_string(request.method);
  message.target(url.encoded_target().empty() ? std::string_view("/") : std::string_view(url.encoded_target()));
  for (const auto& [name, value] : request.headers.fields()) message.insert(name, value);
  message.body() = std::move(request.body);
  message.prepare_payload();
  return call;
}

// The trust of every TLS connection of a client: the system CA store (/etc/ssl/certs through OpenSSL's default
// paths) plus the client's extra CA file, peer verification on, nothing older than TLS 1.2.
asio::ssl::context make_tls_context(const ClientOptions& options) {
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  context.set_verify_mode(asio::ssl::verify_peer);
  beast::error_code error;
  context.set_default_verify_paths(error);
  if (error) throw std::runtime_error("cannot load the system CA certificates: " + error.message());
  if (!options.extra_ca_file.empty()) {
    context.load_verify_file(options.extra_ca_file, error);
    if (error) {
      throw std::runtime_error("cannot load ClientOptions::extra_ca_file '" + options.extra_ca_file +
                               "': " + error.message());
    }
  }
  return context;
}

// Asks the server for the certificate of the URL's host (SNI, names only: RFC 6066 §3 forbids addresses) and has
// OpenSSL check that the certificate was issued for that name or address while it verifies the chain.
bool expect_peer_identity(SSL* ssl, const Call& call) {
  if (call.address) {
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), call.address->to_string().c_str()) == 1;
  }
  // SSL_set_tlsext_host_name is a macro around this call with a C cast that our warnings reject.
  const bool sni_set = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                const_cast<char*>(call.host_name.c_str())) == 1;
  return sni_set && SSL_set1_host(ssl, call.host_name.c_str()) == 1;
}

// What went wrong in a TLS handshake, in words: a certificate problem names itself ("hostname mismatch",
// "unable to get local issuer certificate"), anything else is the TLS library's message.
std::string handshake_problem(SSL* ssl, const beast::error_code& error) {
  const auto verify_result = SSL_get_verify_result(ssl);
  if (verify_result != X509_V_OK) {
    return std::string("the server certificate was rejected: ") + X509_verify_cert_error_string(verify_result);
  }
  return error.message();
}

}  // namespace

struct Client::Impl {
  Impl(Runtime::Impl& runtime_ref, ClientOptions options_value)
      : runtime(runtime_ref), options(std::move(options_value)) {
    // The TLS context itself waits for the first https call (loading the system CA store costs tens of ms, and
    // hundreds under sanitizers), but a missing CA file is a configuration error worth failing on at once.
    if (!options.extra_ca_file.empty() && !std::ifstream(options.extra_ca_file)) {
      throw std::runtime_error("cannot read ClientOptions::extra_ca_file '" + options.extra_ca_file + "'");
    }
  }

  // The TLS context, made on first use; null if it cannot be made (tls_context_error says why).
  asio::ssl::context* tls() {
    std::call_once(tls_context_once, [this] {
      try {
        tls_context = std::make_unique<asio::ssl::context>(make_tls_context(options));
      } catch (const std::exception& error) {
        tls_context_error = error.what();
      }
    });
    return tls_context.get();
  }

  asio::awaitable<ClientResponse> run(std::shared_ptr<const Call> call);
  asio::awaitable<Exchange> attempt(std::shared_ptr<HostState> host, std::shared_ptr<const Call> call);
  asio::awaitable<Exchange> exchange(std::shared_ptr<Connection> connection, bool reused,
                                     std::shared_ptr<const Call> call, Clock::time_point deadline);
  asio::awaitable<std::optional<ClientResponse>> connect(Connection& connection, const Call& call,
                                                         Clock::time_point deadline);

  std::shared_ptr<HostState> host_state(const std::string& key);
  std::shared_ptr<Connection> checkout(HostState& host);
  void checkin(HostState& host, std::shared_ptr<Connection> connection);
  Admission admit(HostState& host);
  void record(HostState& host, const std::string& key, Admission admission, bool failed);
  void close();

  std::shared_ptr<Connection> new_connection(const Call& call) {
    return std::make_shared<Connection>(runtime.io, call.tls ? tls() : nullptr);
  }

  Runtime::Impl& runtime;
  const ClientOptions options;
  std::once_flag tls_context_once;
  std::unique_ptr<asio::ssl::context> tls_context;  // shared by the TLS connections, never changed once made
  std::string tls_context_error;
  std::atomic<bool> closed{false};  // the Client is gone: connections of late calls are not pooled any more

  std::mutex hosts_mutex;
  std::unordered_map<std::string, std::shared_ptr<HostState>> hosts;
};

std::shared_ptr<HostState> Client::Impl::host_state(const std::string& key) {
  std::lock_guard lock(hosts_mutex);
  auto& host = hosts[key];
  if (!host) host = std::make_shared<HostState>();
  return host;
}

std::shared_ptr<Connection> Client::Impl::checkout(HostState& host) {
  std::lock_guard lock(host.mutex);
  if (host.idle.empty()) return nullptr;
  auto connection = std::move(host.idle.back());
  host.idle.pop_back();
  return connection;
}

void Client::Impl::checkin(HostState& host, std::shared_ptr<Connection> connection) {
  if (closed.load()) return;
  std::lock_guard lock(host.mutex);
  if (static_cast<int>(host.idle.size()) < options.pool_size_per_host) host.idle.push_back(std::move(connection));
}

void Client::Impl::close() {
  closed.store(true);
  std::vector<std::shared_ptr<Connection>> dropped;
  std::lock_guard lock(hosts_mutex);
  for (auto& [key, host] : hosts) {
    std::lock_guard host_lock(host->mutex);
    std::move(host->idle.begin(), host->idle.end(), std::back_inserter(dropped));
    host->idle.clear();
  }
}

Admission Client::Impl::admit(HostState& host) {
  std::lock_guard lock(host.mutex);
  switch (host.breaker) {
    case BreakerState::kClosed:
      return Admission::kAdmitted;
    case BreakerState::kHalfOpen:
      return Admission::kRejected;  // the one trial call is still under way
    case BreakerState::kOpen:
      if (Clock::now() - host.opened_at < options.breaker_open) return Admission::kRejected;
      host.breaker = BreakerState::kHalfOpen;
      return Admission::kTrial;
  }
  return Admission::kRejected;
}

void Client::Impl::record(HostState& host, const std::string& key, Admission admission, bool failed) {
  std::lock_guard lock(host.mutex);
  if (host.breaker == BreakerState::kClosed) {
    host.consecutive_failures = failed ? host.consecutive_failures + 1 : 0;
    if (failed && options.breaker_failure_threshold > 0 &&
        host.consecutive_failures >= options.breaker_failure_threshold) {
      host.breaker = BreakerState::kOpen;
      host.opened_at = Clock::now();
      log::warn("circuit breaker opened", {{"host", key}, {"consecutive_failures", host.consecutive_failures}});
    }
    return;
  }
  // While open or half-open only the trial decides; calls admitted before the breaker opened are history.
  if (host.breaker != BreakerState::kHalfOpen || admission != Admission::kTrial) return;
  if (failed) {
    host.breaker = BreakerState::kOpen;
    host.opened_at = Clock::now();
    log::warn("circuit breaker trial call failed; open again", {{"host", key}});
  } else {
    host.breaker = BreakerState::kClosed;
    host.consecutive_failures = 0;
    log::info("circuit breaker closed", {{"host", key}});
  }
}

asio::awaitable<ClientResponse> Client::Impl::run(std::shared_ptr<const Call> call) {
  auto host = host_state(call->key);
  ClientResponse last;
  int attempts = 0;
  for (int retry = 0;; ++retry) {
    const auto admission = admit(*host);
    if (admission == Admission::kRejected) {
      // Mid-retries, the last real answer tells the caller more than the breaker does.
      if (attempts > 0) co_return last;
      co_return failure(ClientErrorKind::kCircuitOpen,
                        "the circuit breaker for " + call->key + " is open after repeated failures; calls fail fast " +
                            "for " + milliseconds_text(options.breaker_open) + " before one trial call is let through");
    }
    ++attempts;
    Exchange outcome;
    try {
      outcome = co_await attempt(host, call);
    } catch (...) {
      record(*host, call->key, admission, true);  // a trial that never reports would keep the breaker half-open
      throw;
    }
    record(*host, call->key, admission, counts_as_breaker_failure(outcome.response));
    last = std::move(outcome.response);
    last.attempts = attempts;
    if (!call->idempotent || retry >= options.max_retries || !is_retryable(last)) co_return last;

    const auto delay = backoff_delay(options.retry_backoff, retry);
    log::debug("retrying HTTP call", {{"host", call->key},
                                      {"attempt", attempts},
                                      {"status", last.status},
                                      {"error", last.error_message},
                                      {"delay_ms", delay.count()}});
    asio::steady_timer pause(co_await asio::this_coro::executor, delay);
    co_await pause.async_wait(kAwaitable);
  }
}

asio::awaitable<Exchange> Client::Impl::attempt(std::shared_ptr<HostState> host, std::shared_ptr<const Call> call) {
  const auto deadline = Clock::now() + call->timeout;
  auto connection = checkout(*host);
  const bool reused = connection != nullptr;
  if (!reused) connection = new_connection(*call);
  auto outcome = co_await asio::co_spawn(connection->tcp().get_executor(), exchange(connection, reused, call, deadline),
                                         asio::use_awaitable);
  if (outcome.stale) {
    // The server closed the idle connection before reading our request, so even a POST is safe to send again.
    connection = new_connection(*call);
    outcome = co_await asio::co_spawn(connection->tcp().get_executor(), exchange(connection, false, call, deadline),
                                      asio::use_awaitable);
  }
  if (outcome.reusable) checkin(*host, std::move(connection));
  co_return outcome;
}

asio::awaitable<std::optional<ClientResponse>> Client::Impl::connect(Connection& connection, const Call& call,
                                                                     Clock::time_point deadline) {
  const auto connect_deadline = std::min(deadline, Clock::now() + options.connect_timeout);
  // Which limit ran out decides what the caller is told: the whole call's time, or the host's reachability.
  auto timed_out = [&] {
    return connect_deadline == deadline
               ? failure(ClientErrorKind::kTimeout,
                         "no response from " + call.key + " within " + milliseconds_text(call.timeout))
               : failure(ClientErrorKind::kConnect, "connecting to " + call.key + " timed out after " +
                                                        milliseconds_text(options.connect_timeout));
  };
  auto& stream = connection.tcp();
  auto executor = stream.get_executor();

  std::vector<tcp::endpoint> endpoints;
  if (call.address) {
    endpoints.emplace_back(*call.address, call.port);
  } else {
    // getaddrinfo cannot be interrupted, so the lookup completes into shared state while this coroutine waits on a
    // timer that the lookup cancels; a hung resolver then costs the call its deadline, not more.
    struct Lookup {
      explicit Lookup(const asio::any_io_executor& executor) : resolver(executor), timer(executor) {}
      tcp::resolver resolver;
      asio::steady_timer timer;
      bool done = false;
      beast::error_code error;
      tcp::resolver::results_type results;
    };
    auto lookup = std::make_shared<Lookup>(executor);
    lookup->timer.expires_at(connect_deadline);
    lookup->resolver.async_resolve(call.host_name, std::to_string(call.port),
                                   [lookup](beast::error_code error, tcp::resolver::results_type results) {
                                     lookup->done = true;
                                     lookup->error = error;
                                     lookup->results = std::move(results);
                                     lookup->timer.cancel();
                                   });
    co_await lookup->timer.async_wait(kAwaitable);
    if (!lookup->done) {
      lookup->resolver.cancel();
      co_return timed_out();
    }
    if (lookup->error) {
      co_return failure(ClientErrorKind::kConnect,
                        "could not resolve " + call.host_name + ": " + lookup->error.message());
    }
    for (const auto& entry : lookup->results) endpoints.push_back(entry.endpoint());
  }

  stream.expires_at(connect_deadline);
  auto [error, endpoint] = co_await stream.async_connect(endpoints, kAwaitable);
  if (error == beast::error::timeout) co_return timed_out();
  if (error) co_return failure(ClientErrorKind::kConnect, "could not connect to " + call.key + ": " + error.message());
  beast::error_code ignored;
  stream.socket().set_option(tcp::no_delay(true), ignored);
  if (!connection.tls) co_return std::nullopt;

  // The handshake is part of setting the connection up, so it is held to the connect deadline too.
  SSL* ssl = connection.tls->native_handle();
  if (!expect_peer_identity(ssl, call)) {
    co_return failure(ClientErrorKind::kTls, "cannot set up TLS peer verification for " + call.key);
  }
  auto [handshake_error] = co_await connection.tls->async_handshake(asio::ssl::stream_base::client, kAwaitable);
  if (handshake_error == beast::error::timeout) co_return timed_out();
  if (handshake_error == asio::error::eof || handshake_error == asio::error::connection_reset ||
      handshake_error == asio::ssl::error::stream_truncated) {
    co_return failure(ClientErrorKind::kConnect, call.key + " closed the connection during the TLS handshake");
  }
  if (handshake_error) {
    co_return failure(ClientErrorKind::kTls,
                      "TLS handshake with " + call.key + " failed: " + handshake_problem(ssl, handshake_error));
  }
  co_return std::nullopt;
}

namespace {

// Beast's write and read for whichever stream the connection has.
asio::awaitable<std::tuple<beast::error_code, std::size_t>> write_message(
    Connection& connection, const bhttp::request<bhttp::string_body>& message) {
  if (connection.tls) co_return co_await bhttp::async_write(*connection.tls, message, kAwaitable);
  co_return co_await bhttp::async_write(*connection.plain, message, kAwaitable);
}

asio::awaitable<std::tuple<beast::error_code, std::size_t>> read_message(
    Connection& connection, bhttp::response_parser<bhttp::string_body>& parser) {
  if (connection.tls) co_return co_await bhttp::async_read(*connection.tls, connection.buffer, parser, kAwaitable);
  co_return co_await bhttp::async_read(*connection.plain, connection.buffer, parser, kAwaitable);
}

}  // namespace

asio::awaitable<Exchange> Client::Impl::exchange(std::shared_ptr<Connection> connection, bool reused,
                                                 std::shared_ptr<const Call> call, Clock::time_point deadline) {
  Exchange outcome;
  auto& stream = connection->tcp();
  const auto timeout_failure = [&] {
    return failure(ClientErrorKind::kTimeout,
                   "no response from " + call->key + " within " + milliseconds_text(call->timeout));
  };

  if (!reused) {
    if (auto connect_failure = co_await connect(*connection, *call, deadline)) {
      outcome.response = std::move(*connect_failure);
      connection->close();
      co_return outcome;
    }
  }

  stream.expires_at(deadline);
  auto [write_error, written] = co_await write_message(*connection, call->message);
  if (write_error) {
    if (write_error == beast::error::timeout) {
      outcome.response = timeout_failure();
    } else {
      outcome.stale = reused;
      outcome.response = failure(ClientErrorKind::kNetwork,
                                 "sending the request to " + call->key + " failed: " + write_error.message());
    }
    connection->close();
    co_return outcome;
  }

  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  parser.body_limit(options.max_response_bytes);
  parser.skip(call->head);  // a HEAD response announces a body it does not carry
  auto [read_error, read] = co_await read_message(*connection, parser);
  if (read_error) {
    // stream_truncated: a TLS peer closed the TCP connection without close_notify, as idle servers often do.
    const bool closed_by_peer = read_error == bhttp::error::end_of_stream || read_error == asio::error::eof ||
                                read_error == asio::error::connection_reset ||
                                read_error == asio::ssl::error::stream_truncated;
    if (read_error == beast::error::timeout) {
      outcome.response = timeout_failure();
    } else if (read_error == bhttp::error::body_limit) {
      outcome.response = failure(ClientErrorKind::kProtocol, "the response from " + call->key + " exceeds " +
                                                                 std::to_string(options.max_response_bytes) +
                                                                 " bytes (ClientOptions::max_response_bytes)");
    } else if (closed_by_peer) {
      outcome.stale = reused && !parser.got_some();
      outcome.response =
          failure(ClientErrorKind::kNetwork, call->key + " closed the connection before a complete response was read");
    } else if (read_error.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
      outcome.response = failure(ClientErrorKind::kProtocol,
                                 "malformed HTTP response from " + call->key + ": " + read_error.message());
    } else {
      outcome.response = failure(ClientErrorKind::kNetwork,
                                 "reading the response from " + call->key + " failed: " + read_error.message());
    }
    connection->close();
    co_return outcome;
  }
  stream.expires_never();

  auto message = parser.release();
  outcome.response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    outcome.response.headers.add(std::string(field.name_string()), std::string(field.value()));
  }
  outcome.response.body = std::move(message.body());
  // Bytes beyond the response mean the peer speaks something else than we think: do not trust the connection.
  outcome.reusable = message.keep_alive() && connection->buffer.size() == 0;
  if (!outcome.reusable) connection->close();
  co_return outcome;
}

Client::Client(Runtime& runtime, ClientOptions options)
    : impl_(std::make_shared<Impl>(runtime.impl(), std::move(options))) {}

Client::~Client() { impl_->close(); }

void Client::async_send(ClientRequest request, std::function<void(ClientResponse)> done) {
  // The caller's trace context lives in a thread_local, so it must be read here and not on an io thread.
  if (!request.headers.contains("traceparent")) {
    if (const auto* current = trace::current()) {
      const auto child = trace::child_of(*current);
      request.headers.set("traceparent", trace::to_traceparent(child));
      if (!child.tracestate.empty()) request.headers.set("tracestate", child.tracestate);
    }
  }

  auto deliver = [done = std::move(done)](ClientResponse response) {
    try {
      done(std::move(response));
    } catch (const std::exception& error) {
      // An exception escaping here would end the io thread and with it the process.
      log::error("HTTP client completion callback threw", {{"exception", error.what()}});
    } catch (...) {
      log::error("HTTP client completion callback threw a non-standard exception");
    }
  };

  std::string error;
  auto call = prepare_call(request, impl_->options, error);
  if (!call) {
    asio::post(impl_->runtime.io, [deliver = std::move(deliver), error = std::move(error)]() mutable {
      deliver(failure(ClientErrorKind::kInvalidUrl, std::move(error)));
    });
    return;
  }
  // Made here on the caller's thread, not on an io thread where loading the CA store would stall other calls.
  if (call->tls && !impl_->tls()) {
    asio::post(impl_->runtime.io, [deliver = std::move(deliver), error = impl_->tls_context_error]() mutable {
      deliver(failure(ClientErrorKind::kTls, "TLS is unavailable: " + error));
    });
    return;
  }
  asio::co_spawn(
      impl_->runtime.io,
      [self = impl_, call = std::shared_ptr<const Call>(std::move(call))] { return self->run(call); },
      [deliver = std::move(deliver)](const std::exception_ptr& thrown, ClientResponse response) mutable {
        if (thrown) {
          try {
            std::rethrow_exception(thrown);
          } catch (const std::exception& exception) {
            response = failure(ClientErrorKind::kNetwork, std::string("the HTTP call failed: ") + exception.what());
          } catch (...) {
            response = failure(ClientErrorKind::kNetwork, "the HTTP call failed with a non-standard exception");
          }
        }
        deliver(std::move(response));
      });
}

ClientResponse Client::send(ClientRequest request) {
  assert(!impl_->runtime.io.get_executor().running_in_this_thread() && "Client::send would block an io thread");
  auto promise = std::make_shared<std::promise<ClientResponse>>();
  auto future = promise->get_future();
  async_send(std::move(request), [promise](ClientResponse response) { promise->set_value(std::move(response)); });
  // A stopped runtime never completes the call, so wait in slices and notice that instead of blocking for ever.
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (impl_->runtime.io.stopped() && future.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
      return failure(ClientErrorKind::kNetwork, "the HTTP runtime was stopped before the call completed");
    }
  }
  return future.get();
}

}  // namespace intercab::http
