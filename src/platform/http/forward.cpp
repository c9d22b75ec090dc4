// The forwarding engine behind Server::set_forwarder: streams a request body to an upstream and
// the response back through fixed-size buffers (memory stays flat for any body size), with
// deadlines, passive-health reports, retries on another instance and idle upstream connections
// kept for reuse.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/container/small_vector.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>
#include <memory>

#include "platform/http/server_impl.hpp"
#include "platform/log/log.hpp"

namespace intercab::http {

using namespace boost::asio::experimental::awaitable_operators;  // && for the two tunnel directions
using namespace std::string_view_literals;                       // appending "..."sv needs no strlen

namespace {

constexpr auto kAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayChunkBytes = std::size_t{64} * 1024;
constexpr std::size_t kMaxIdlePerUpstream = 256;
constexpr auto kMaxIdleAge = std::chrono::seconds(30);

using Clock = std::chrono::steady_clock;

bool is_gateway_error(int status) { return status == 502 || status == 503 || status == 504; }

// An informational response before the final one; 101 ends the HTTP exchange instead.
bool is_interim(int status) { return status >= 100 && status < 200 && status != 101; }

// The longest response head accepted from an upstream (nginx's proxy_buffer_size is 4-8 KiB).
constexpr std::size_t kMaxUpstreamHeadBytes = std::size_t{64} * 1024;

// An idle upstream connection that the peer closed (or that has stray bytes) is useless.
bool still_open(int fd) {
  char byte = 0;
  const auto n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Bytes read from an upstream per read: a whole small API response in one go.
constexpr std::size_t kUpstreamReadBytes = std::size_t{16} * 1024;

// The request head sent upstream: request line, the plan's fields, then the framing of the body as
// the client declared it (the body is passed on as it comes, in the same framing), or the request
// to switch protocols (`upgrade`: Connection: Upgrade). Written in one string instead of going
// through Beast's fields and serializer, which cost more per request than the bytes they copy.
std::string upstream_request_head(std::string_view method, std::string_view target, std::string_view fields,
                                  const RequestHead& client_head, std::string_view upgrade) {
  std::string out;
  out.reserve(method.size() + target.size() + fields.size() + upgrade.size() + 96);
  out.append(method).append(" "sv).append(target).append(" HTTP/1.1\r\n"sv).append(fields);
  if (client_head.chunked) {
    out.append("Transfer-Encoding: chunked\r\n"sv);
  } else if (client_head.content_length) {
    out.append("Content-Length: "sv).append(std::to_string(*client_head.content_length)).append("\r\n"sv);
  }
  if (!upgrade.empty()) out.append("Connection: Upgrade\r\nUpgrade: "sv).append(upgrade).append("\r\n"sv);
  out.append("\r\n"sv);
  return out;
}

// The protocols a client asks to switch to (Upgrade: websocket), when the request is a bodiless GET
// whose Connection lists "upgrade" and whose Upgrade value is a list of protocol names
// (token ["/" token], RFC 9110 §7.8); empty otherwise.
std::string requested_upgrade(const Request& request, bool has_body) {
  if (has_body || request.method != "GET") return {};
  const auto options = header_list(request.headers, "Connection");
  if (std::none_of(options.begin(), options.end(), [](std::string_view option) { return iequals(option, "upgrade"); }))
    return {};
  if (request.headers.count("Upgrade") != 1) return {};
  const auto protocols = split_list(request.headers.get("Upgrade"));
  if (protocols.empty()) return {};
  for (const auto protocol : protocols) {
    const auto slash = protocol.find('/');
    if (!is_token(protocol.substr(0, slash)) ||
        (slash != std::string_view::npos && !is_token(protocol.substr(slash + 1)))) {
      return {};
    }
  }
  return std::string(request.headers.get("Upgrade"));
}

// Copies bytes from one side of an upgraded connection to the other until either side ends, fails
// or stays silent for `idle`; then cancels what the other direction waits for, so both end.
asio::awaitable<void> relay_upgraded(beast::tcp_stream& from, beast::tcp_stream& to, std::chrono::milliseconds idle) {
  std::array<char, 16384> chunk{};
  while (true) {
    from.expires_after(idle);
    auto [read_error, n] = co_await from.async_read_some(asio::buffer(chunk), kAwaitable);
    if (read_error) break;
    to.expires_after(idle);
    auto [write_error, written] = co_await asio::async_write(to, asio::buffer(chunk.data(), n), kAwaitable);
    if (write_error) break;
  }
  beast::error_code ignored;
  to.socket().shutdown(tcp::socket::shutdown_send, ignored);
  from.socket().cancel(ignored);
  to.socket().cancel(ignored);
}

// The upstream's response fields that go on to the client: all but hop-by-hop ones (those its
// Connection field names too) and those the gateway sets itself (its own fields, X-Request-Id).
template <class Emit>
void for_each_relayed_field(const ResponseHead& upstream_head, const FieldLines& gateway_fields, Emit emit) {
  // The names not to relay: the gateway's own and those the upstream's Connection fields list
  // (hop-by-hop too), collected once; no allocation for the usual handful.
  boost::container::small_vector<std::string_view, 16> dropped{"X-Request-Id"};
  gateway_fields.for_each([&](std::string_view name, std::string_view) { dropped.push_back(name); });
  for (const auto& [name, value] : upstream_head.fields) {
    if (iequals(name, "Connection")) for_each_list_element(value, [&](auto option) { dropped.push_back(option); });
  }
  for (const auto& field : upstream_head.fields) {
    const auto named = [&field](std::string_view other) { return iequals(other, field.first); };
    if (is_hop_by_hop_or_framing(field.first) || std::any_of(dropped.begin(), dropped.end(), named)) continue;
    emit(field.first, field.second);
  }
}

// Appends the fields of the response to the client to `head`: the upstream's that are relayed,
// then the gateway's own, then X-Request-Id. Framing (Content-Length, Transfer-Encoding,
// Connection) is the caller's.
void append_client_fields(std::string& head, const ResponseHead& upstream_head, const FieldLines& gateway_fields,
                          std::string_view request_id) {
  for_each_relayed_field(upstream_head, gateway_fields,
                         [&](std::string_view name, std::string_view value) { append_field(head, name, value); });
  head.append(gateway_fields.text());
  append_field(head, "X-Request-Id", request_id);
}

// Writes as much of `buffers` as the socket takes at once, without waiting (sockets are in
// non-blocking mode), and returns the byte count. The caller writes the rest asynchronously: a
// small message is usually taken whole, which saves an asynchronous completion's round trip
// through the scheduler.
template <class ConstBuffers>
std::size_t write_without_waiting(tcp::socket& socket, const ConstBuffers& buffers) {
  std::size_t written = 0;
  beast::buffers_suffix<ConstBuffers> rest(buffers);
  while (beast::buffer_bytes(rest) > 0) {
    beast::error_code error;
    const auto n = socket.write_some(rest, error);
    if (error) break;  // would_block, or an error that the asynchronous write reports
    rest.consume(n);
    written += n;
  }
  return written;
}

// Writes what `write_without_waiting` left of `buffers` (all but the first `written` bytes)
// asynchronously, under the stream's timeout. Hot paths call write_without_waiting themselves and
// this only when needed: a nested coroutine costs a frame even when it has nothing to wait for.
template <class ConstBuffers>
asio::awaitable<beast::error_code> write_rest(beast::tcp_stream& stream, const ConstBuffers& buffers,
                                              std::size_t written) {
  beast::buffers_suffix<ConstBuffers> rest(buffers);
  rest.consume(written);
  auto [error, n] = co_await asio::async_write(stream, rest, kAwaitable);
  co_return error;
}

// Writes all of `buffers`: at once when the socket takes them, else the rest asynchronously.
template <class ConstBuffers>
asio::awaitable<beast::error_code> write_all(beast::tcp_stream& stream, const ConstBuffers& buffers) {
  const auto written = write_without_waiting(stream.socket(), buffers);
  if (written == beast::buffer_bytes(buffers)) co_return beast::error_code{};
  co_return co_await write_rest(stream, buffers, written);
}

// Writes one piece of a request body upstream in the framing its head declared: as is for a known
// length; else as a chunk, and after the last piece the last chunk (no trailer fields).
asio::awaitable<beast::error_code> write_body_piece(beast::tcp_stream& stream, asio::const_buffer piece, bool chunked,
                                                    bool last) {
  if (!chunked) co_return co_await write_all(stream, piece);
  std::array<char, 24> size_line{};
  std::size_t size_line_length = 0;
  if (piece.size() > 0) {
    auto* end = std::to_chars(size_line.data(), size_line.data() + size_line.size() - 2, piece.size(), 16).ptr;
    end = std::copy_n("\r\n", 2, end);
    size_line_length = static_cast<std::size_t>(end - size_line.data());
  }
  const auto piece_end = piece.size() > 0 ? "\r\n"sv : ""sv;
  const auto last_chunk = last ? "0\r\n\r\n"sv : ""sv;
  const std::array<asio::const_buffer, 4> chunk{asio::buffer(size_line.data(), size_line_length), piece,
                                                asio::buffer(piece_end), asio::buffer(last_chunk)};
  co_return co_await write_all(stream, chunk);
}

// Decodes a response body from the bytes read off an upstream connection into the relay buffer: a
// body of known length by counting (the usual API answer), chunked and close-delimited ones through
// Beast's parser, given that framing.
class ResponseBodyDecoder {
 public:
  ResponseBodyDecoder(ResponseHead::Body framing, std::optional<std::uint64_t> length) : framing_(framing) {
    if (framing == ResponseHead::Body::kLength) {
      remaining_ = length.value_or(0);
    } else if (framing != ResponseHead::Body::kNone) {
      parser_.emplace();
      parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
      detail::start_body_parser(*parser_, std::nullopt, framing == ResponseHead::Body::kChunked);
    }
  }

  bool done() const { return parser_ ? parser_->is_done() : remaining_ == 0; }

  // Moves what `input` holds of the body into `out` (at most `room` bytes), consuming what it used;
  // returns the count of body bytes written. `error` is set for a malformed chunked body.
  std::size_t decode(beast::flat_buffer& input, char* out, std::size_t room, beast::error_code& error) {
    if (!parser_) {
      const auto count = static_cast<std::size_t>(std::min<std::uint64_t>({remaining_, input.size(), room}));
      std::memcpy(out, input.data().data(), count);
      input.consume(count);
      remaining_ -= count;
      return count;
    }
    auto& body = parser_->get().body();
    body.data = out;
    body.size = room;
    while (input.size() > 0 && !parser_->is_done() && body.size > 0) {
      const auto used = parser_->put(input.data(), error);
      input.consume(used);
      if (error == bhttp::error::need_more || error == bhttp::error::need_buffer) error = {};
      if (error || used == 0) break;
    }
    return room - body.size;
  }

  // The upstream closed the connection: that completes a close-delimited body and cuts any other.
  beast::error_code finish_at_close() {
    beast::error_code error;
    if (parser_) {
      parser_->put_eof(error);
    } else if (remaining_ > 0) {
      error = bhttp::error::partial_message;
    }
    return error;
  }

  ResponseHead::Body framing() const { return framing_; }

 private:
  ResponseHead::Body framing_;
  std::uint64_t remaining_ = 0;                                       // of a body of known length
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;  // chunked and close-delimited bodies
};

// The relay buffer of one forwarded request, from a small per-thread free list: a 64 KiB block
// allocated and freed per request makes glibc consolidate its free lists every time, a visible
// cost at high request rates. The list holds at most kPooledRelayBuffers idle blocks per io
// thread, so memory stays bounded by the requests in flight.
constexpr std::size_t kPooledRelayBuffers = 64;

class RelayBuffer {
 public:
  RelayBuffer() {
    auto& pool = idle();
    if (pool.empty()) {
      // Not zero-filled: every byte sent from it was written by a read first.
      block_ = std::make_unique_for_overwrite<char[]>(kRelayChunkBytes);
    } else {
      block_ = std::move(pool.back());
      pool.pop_back();
    }
  }
  ~RelayBuffer() {
    // The coroutine may end on another io thread than it started on: the block joins that one's list.
    auto& pool = idle();
    if (pool.size() < kPooledRelayBuffers) pool.push_back(std::move(block_));
  }
  RelayBuffer(const RelayBuffer&) = delete;
  RelayBuffer& operator=(const RelayBuffer&) = delete;

  char* get() const { return block_.get(); }

 private:
  static std::vector<std::unique_ptr<char[]>>& idle() {
    thread_local std::vector<std::unique_ptr<char[]>> pool;
    return pool;
  }
  std::unique_ptr<char[]> block_;
};

// The buffer an upstream's response is read into, from a per-thread free list as RelayBuffer:
// its capacity is reused instead of allocated for every request, and memory stays bounded by the
// requests in flight (not held by idle client connections).
class UpstreamReadBuffer {
 public:
  UpstreamReadBuffer() {
    auto& pool = idle();
    if (!pool.empty()) {
      buffer_ = std::move(pool.back());
      pool.pop_back();
    }
  }
  ~UpstreamReadBuffer() {
    auto& pool = idle();
    buffer_.clear();
    if (pool.size() < kPooledRelayBuffers && buffer_.capacity() <= 2 * kUpstreamReadBytes) {
      pool.push_back(std::move(buffer_));
    }
  }
  UpstreamReadBuffer(const UpstreamReadBuffer&) = delete;
  UpstreamReadBuffer& operator=(const UpstreamReadBuffer&) = delete;

  beast::flat_buffer& get() { return buffer_; }

 private:
  static std::vector<beast::flat_buffer>& idle() {
    thread_local std::vector<beast::flat_buffer> pool;
    return pool;
  }
  beast::flat_buffer buffer_;
};

// A connection used this recently is taken as open without asking the kernel; one that the
// upstream closed in the meantime fails on the first write, which is retried on a new one.
constexpr auto kTrustedIdleTime = std::chrono::seconds(2);

}  // namespace

// Idle keep-alive connections to upstreams, shared by every client connection of a server.
// Sockets are kept as bare descriptors so that each client connection can adopt one on its own
// strand: a socket's executor is fixed at creation, and sharing one across strands would race.
class UpstreamSockets {
 public:
  ~UpstreamSockets() {
    for (auto& [key, idle] : idle_) {
      for (auto& entry : idle) ::close(entry.fd);
    }
  }

  std::optional<tcp::socket> take(const std::string& key, const asio::any_io_executor& executor) {
    while (true) {
      Idle entry;
      {
        std::lock_guard lock(mutex_);
        auto& idle = idle_[key];
        if (idle.empty()) return std::nullopt;
        entry = idle.back();
        idle.pop_back();
      }
      if (Clock::now() - entry.since > kMaxIdleAge || !still_open(entry.fd)) {
        ::close(entry.fd);
        continue;
      }
      tcp::socket socket(executor);
      beast::error_code error;
      socket.assign(entry.protocol, entry.fd, error);
      if (error) {
        ::close(entry.fd);
        continue;
      }
      socket.non_blocking(true, error);  // for write_without_waiting
      if (error) continue;               // the socket owns the descriptor now and closes it
      return socket;
    }
  }

  void give(const std::string& key, tcp::socket socket) {
    beast::error_code error;
    const auto protocol = socket.local_endpoint(error).protocol();
    if (error) return;
    const int fd = socket.release(error);
    if (error) return;
    std::lock_guard lock(mutex_);
    auto& idle = idle_[key];
    if (idle.size() >= kMaxIdlePerUpstream) {
      ::close(fd);
      return;
    }
    idle.push_back({fd, protocol, Clock::now()});
  }

 private:
  struct Idle {
    int fd = -1;
    tcp protocol = tcp::v4();
    Clock::time_point since;
  };

  std::mutex mutex_;
  std::map<std::string, std::vector<Idle>> idle_;
};

namespace {

struct ExchangeError {
  int status = 502;
  std::string reason;
};

// One attempt's progress, so that the caller knows what may still be retried.
struct Attempt {
  bool response_started = false;  // bytes went to the client: no retry, no error response
  bool body_consumed = false;     // the client's body was (partly) read: no retry
  bool upstream_reusable = false;
};

Response gateway_error(const ExchangeError& error, const Request& request, const ForwardPlan& plan) {
  errors::Problem problem =
      error.status == 504 ? errors::Problem(504, "/problems/upstream-timeout", "Upstream timed out", error.reason)
      : error.status == 503
          ? errors::Problem(503, "/problems/upstream-unavailable", "No upstream available", error.reason)
          : errors::Problem(502, "/problems/bad-gateway", "Bad gateway", error.reason);
  auto response = problem_response(problem, request);
  response.headers.set("X-Request-Id", request.request_id);
  plan.response_fields.for_each(
      [&](std::string_view name, std::string_view value) { response.headers.set(name, std::string(value)); });
  return response;
}

}  // namespace

void Server::Impl::release_affinity(detail::UpstreamAffinity& affinity) {
  if (!affinity.connection || !upstream_sockets) return;
  upstream_sockets->give(affinity.key, affinity.connection->stream.release_socket());
  affinity.connection.reset();
}

asio::awaitable<bool> Server::Impl::forward(beast::tcp_stream& client, beast::flat_buffer& buffer,
                                            const RequestHead& client_head, Request& request,
                                            detail::UpstreamAffinity& affinity) {
  const auto started = Clock::now();
  const bool head_request = request.method == "HEAD";
  ForwardPlan plan = forwarder(request);
  if (plan.prepare) {
    auto prepare = std::move(plan.prepare);
    plan = co_await asio::co_spawn(
        runtime.workers.get_executor(),
        [&prepare, &request]() -> asio::awaitable<ForwardPlan> {
          try {
            co_return prepare(request);
          } catch (const std::exception& error) {
            log::error("forward plan preparation failed", {{"error", error.what()}});
            ForwardPlan failed;
            failed.respond = problem_response(errors::Internal(), request);
            co_return failed;
          }
        },
        asio::use_awaitable);
  }
  ForwardOutcome outcome;
  const bool client_keep_alive = client_head.keep_alive && !draining.load();
  const unsigned client_version = client_head.version;
  const bool has_body = client_head.has_body();

  auto send_whole = [&](Response response, bool keep_alive) -> asio::awaitable<bool> {
    response.headers.set("X-Request-Id", request.request_id);
    outcome.status = response.status;
    auto out = detail::to_beast(response, client_version, keep_alive, head_request);
    client.expires_after(limits.body_timeout);
    auto [error, written] = co_await bhttp::async_write(client, out, kAwaitable);
    outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (plan.complete) plan.complete(request, outcome);
    co_return !error && keep_alive;
  };

  if (plan.respond) {
    plan.response_fields.for_each(
        [&](std::string_view name, std::string_view value) { plan.respond->headers.set(name, std::string(value)); });
    // An unread request body would be taken for the next request: close instead.
    co_return co_await send_whole(std::move(*plan.respond), client_keep_alive && !has_body);
  }

  const auto& declared_length = client_head.content_length;
  if (plan.max_body_bytes && declared_length && *declared_length > *plan.max_body_bytes) {
    co_return co_await send_whole(problem_response(errors::PayloadTooLarge(*plan.max_body_bytes), request), false);
  }
  if (has_body && client_version == 11 && iequals(request.headers.get("Expect"), "100-continue")) {
    bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
    client.expires_after(limits.body_timeout);
    co_await bhttp::async_write(client, go_on, kAwaitable);
  }
  if (!upstream_sockets) {
    std::lock_guard lock(mutex);
    if (!upstream_sockets) upstream_sockets = std::make_shared<UpstreamSockets>();
  }
  auto sockets = upstream_sockets;
  const auto executor = co_await asio::this_coro::executor;

  // Streaming routes may switch protocols (WebSocket): the client's Upgrade goes upstream, and a
  // 101 answer turns the exchange into a byte tunnel until either side closes or idles out.
  const std::string upgrade = plan.streaming ? requested_upgrade(request, has_body) : std::string();
  // The request head as sent upstream, on every attempt; the body follows it in the same framing.
  const std::string request_head =
      upstream_request_head(request.method, plan.target, plan.upstream_fields.text(), client_head, upgrade);

  // The body flows through a fixed buffer.
  std::optional<bhttp::request_parser<bhttp::buffer_body>> body_parser;  // when the request has a body
  if (has_body) {
    body_parser.emplace();
    body_parser->body_limit(plan.max_body_bytes ? *plan.max_body_bytes : std::numeric_limits<std::uint64_t>::max());
    if (auto error = detail::start_body_parser(*body_parser, client_head.content_length, client_head.chunked)) {
      co_return co_await send_whole(
          problem_response(errors::BadRequest("unreadable body framing: " + error.message()), request), false);
    }
  }
  const auto body_done = [&] { return !body_parser || body_parser->is_done(); };
  RelayBuffer relay_buffer;

  std::vector<std::size_t> tried;
  std::optional<ExchangeError> last_error;
  const bool retryable = plan.idempotent && !has_body;
  for (int attempt_number = 1; attempt_number <= std::max(1, plan.max_attempts); ++attempt_number) {
    auto choice = plan.pick ? plan.pick(tried) : std::nullopt;
    if (!choice) {
      if (!last_error)
        last_error = ExchangeError{503, "no healthy instance of " + plan.upstream_name + " is available"};
      break;
    }
    tried.push_back(choice->instance);
    outcome.attempts = attempt_number;
    outcome.upstream = choice->host + ":" + std::to_string(choice->port);
    Attempt attempt;

    // Timers: while the request goes up, each write may take the body timeout (uploads are as
    // slow as the client); once it is sent, the route's timeout runs for the whole answer (as
    // Envoy's route timeout does). Streaming routes only have the idle timeout, per operation.
    bool request_sent = false;
    Clock::time_point deadline = Clock::time_point::max();
    auto arm = [&](beast::tcp_stream& stream) {
      if (plan.streaming) {
        stream.expires_after(plan.idle_timeout);
      } else if (!request_sent) {
        stream.expires_after(limits.body_timeout);
      } else {
        stream.expires_at(deadline);
      }
    };
    // Whether to pass the relayed bytes on now: at the end, when the buffer is full, or when
    // everything received so far has been parsed (streams flush then too, so nothing waits).
    auto flush_now = [&](bool done, std::size_t filled_bytes, std::size_t unparsed_bytes) {
      if (done) return true;
      if (filled_bytes == 0) return false;  // only framing (a chunk header) was read
      return filled_bytes == kRelayChunkBytes || unparsed_bytes == 0 || plan.streaming;
    };
    // Beast's timer ends its operations with timeout; the read deadline ends reads with operation_aborted.
    std::unique_ptr<detail::UpstreamConnection> upstream;  // the attempt's connection; empty on failure
    auto timed_out = [&upstream](const beast::error_code& error) {
      return error == beast::error::timeout ||
             (error == asio::error::operation_aborted && upstream && upstream->read_deadline.expired());
    };

    // A fresh connection to the chosen instance; on failure `upstream` stays empty.
    // Streams are held by pointer: moving a Beast stream allocates a new implementation object.
    auto connect_fresh = [&]() -> asio::awaitable<std::optional<ExchangeError>> {
      tcp::resolver resolver(executor);
      auto [resolve_error, endpoints] =
          co_await resolver.async_resolve(choice->host, std::to_string(choice->port), kAwaitable);
      if (resolve_error)
        co_return ExchangeError{502, "cannot resolve " + plan.upstream_name + " at " + outcome.upstream};
      upstream = std::make_unique<detail::UpstreamConnection>(executor);
      upstream->stream.expires_after(plan.connect_timeout);
      auto [connect_error, endpoint] = co_await upstream->stream.async_connect(endpoints, kAwaitable);
      if (connect_error) {
        upstream.reset();
        co_return connect_error == beast::error::timeout
            ? ExchangeError{504,
                            plan.upstream_name + " at " + outcome.upstream + " did not accept a connection in time"}
            : ExchangeError{502, plan.upstream_name + " at " + outcome.upstream + " refused the connection (" +
                                     connect_error.message() + ")"};
      }
      beast::error_code option_error;
      upstream->socket().set_option(tcp::no_delay(true), option_error);
      if (!option_error) upstream->socket().non_blocking(true, option_error);  // for write_without_waiting
      if (option_error) {
        upstream.reset();
        co_return ExchangeError{
            502, plan.upstream_name + " at " + outcome.upstream + " could not be set up: " + option_error.message()};
      }
      co_return std::nullopt;
    };

    bool reused = false;
    if (affinity.connection && affinity.key == outcome.upstream &&
        (Clock::now() - affinity.last_used < kTrustedIdleTime ||
         still_open(affinity.connection->socket().native_handle()))) {
      upstream = std::move(affinity.connection);
      reused = true;
    } else if (affinity.connection) {
      sockets->give(affinity.key, affinity.connection->stream.release_socket());
      affinity.connection.reset();
    }
    if (reused) {
      // the client connection's own upstream connection, from its previous request
    } else if (auto idle = sockets->take(outcome.upstream, executor)) {
      upstream = std::make_unique<detail::UpstreamConnection>(std::move(*idle));
      reused = true;
    } else if (auto failure = co_await connect_fresh()) {
      if (plan.report) plan.report(choice->instance, false);
      last_error = failure;
      if (retryable) continue;
      break;
    }

    // Request head, then the body piece by piece as it arrives from the client.
    auto write_request_head = [&]() -> asio::awaitable<beast::error_code> {
      arm(upstream->stream);
      co_return co_await write_all(upstream->stream, asio::buffer(request_head));
    };
    beast::error_code head_error;
    if (const auto sent = write_without_waiting(upstream->socket(), asio::buffer(request_head));
        sent < request_head.size()) {
      arm(upstream->stream);
      head_error = co_await write_rest(upstream->stream, asio::buffer(request_head), sent);
    }
    if (head_error && reused) {
      // The idle connection died after our liveness check; nothing was sent: once more, afresh.
      if (auto failure = co_await connect_fresh()) {
        if (plan.report) plan.report(choice->instance, false);
        last_error = failure;
        if (retryable) continue;
        break;
      }
      reused = false;
      head_error = co_await write_request_head();
    }
    beast::error_code relay_error;
    bool client_failed = false;
    if (!head_error) {
      // A full buffer per read for bodies, instead of the header-sized one the session reads
      // request heads with; restored before the next request head.
      const auto head_buffer_limit = buffer.max_size();
      buffer.max_size(std::max(head_buffer_limit, kRelayChunkBytes));
      std::size_t filled = 0;
      while (has_body && !body_parser->is_done() && !relay_error) {
        attempt.body_consumed = true;
        body_parser->get().body().data = relay_buffer.get() + filled;
        body_parser->get().body().size = kRelayChunkBytes - filled;
        client.expires_after(plan.streaming ? plan.idle_timeout : limits.body_timeout);
        // read_some, not read: relay what has arrived instead of waiting for a full buffer.
        auto [read_error, read_bytes] = co_await bhttp::async_read_some(client, buffer, *body_parser, kAwaitable);
        if (read_error && read_error != bhttp::error::need_buffer) {
          client_failed = true;
          if (read_error == bhttp::error::body_limit) {
            last_error = ExchangeError{413, ""};
          }
          break;
        }
        filled = kRelayChunkBytes - body_parser->get().body().size;
        if (!flush_now(body_parser->is_done(), filled, buffer.size())) continue;
        arm(upstream->stream);
        relay_error = co_await write_body_piece(upstream->stream, asio::const_buffer(relay_buffer.get(), filled),
                                                client_head.chunked, body_parser->is_done());
        filled = 0;
      }
      buffer.max_size(head_buffer_limit);
    } else {
      relay_error = head_error;
    }
    if (client_failed) {
      // The client sent a broken or oversized body, or vanished: the upstream exchange is void,
      // and says nothing about the instance's health.
      if (plan.report) plan.report(choice->instance, true);
      if (last_error && last_error->status == 413) {
        co_return co_await send_whole(problem_response(errors::PayloadTooLarge(*plan.max_body_bytes), request), false);
      }
      outcome.error = "the client stopped sending the request body";
      outcome.status = 499;
      outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
      if (plan.complete) plan.complete(request, outcome);
      co_return false;
    }

    request_sent = true;
    deadline = Clock::now() + plan.timeout;

    // Response head from the upstream: raw reads into the connection's buffer, parsed here (one
    // asynchronous operation per read instead of Beast's composed ones).
    UpstreamReadBuffer pooled_read_buffer;
    auto& upstream_buffer = pooled_read_buffer.get();
    // The next read of what the upstream sent into upstream_buffer, which the caller commits; end of
    // stream is an error here. A plain lambda returning the operation, not a coroutine: awaiting it
    // costs no frame of its own.
    auto read_upstream = [&] {
      // The socket itself, not the Beast stream: the connection's read deadline bounds the read.
      if (plan.streaming) {
        upstream->read_deadline.expires_after(plan.idle_timeout);
      } else {
        upstream->read_deadline.expires_at(deadline);
      }
      return upstream->socket().async_read_some(upstream_buffer.prepare(kUpstreamReadBytes), kAwaitable);
    };
    // The response head is parsed in place (message_head.hpp) and kept as text for the views into
    // it; Beast decodes the body, if any, from the framing that head declares.
    ResponseHead upstream_head;
    std::string upstream_head_text;
    std::string head_problem;  // why the head was refused, when it was
    bool got_some = false;     // whether the upstream sent any byte of a response
    auto read_response_head = [&]() -> asio::awaitable<beast::error_code> {
      while (true) {
        std::size_t head_size = 0;
        for (std::size_t searched = 0;;) {
          head_size = detail::complete_head_size(upstream_buffer, searched);
          if (head_size > 0) break;
          if (upstream_buffer.size() > kMaxUpstreamHeadBytes) {
            head_problem = "a response head longer than " + std::to_string(kMaxUpstreamHeadBytes) + " bytes";
            co_return bhttp::error::header_limit;
          }
          auto [error, read] = co_await read_upstream();
          upstream_buffer.commit(read);
          got_some = got_some || read > 0;
          if (error) co_return error;
        }
        upstream_head_text.assign(static_cast<const char*>(upstream_buffer.data().data()), head_size);
        upstream_buffer.consume(head_size);
        if (auto problem = parse_response_head(upstream_head_text, upstream_head)) {
          head_problem = "a malformed response head: " + *problem;
          co_return bhttp::error::bad_value;
        }
        // 100 Continue, 102 Processing, 103 Early Hints: informational only, and the client may be
        // HTTP/1.0 or may not expect them; dropped here, the final response follows on the same
        // connection (within the same deadline, so an endless stream of them still ends in a 504).
        if (!is_interim(upstream_head.status)) co_return beast::error_code{};
      }
    };
    if (!relay_error) relay_error = co_await read_response_head();
    const bool closed_unanswered = (relay_error == asio::error::eof || relay_error == asio::error::connection_reset) &&
                                   !got_some && upstream_buffer.size() == 0;
    if (closed_unanswered && reused && !has_body && plan.idempotent) {
      // A kept-alive connection that the upstream closed as the request went out (its idle
      // timeout): the request is idempotent and had no body, so it goes once more on a new
      // connection to the same instance, as nginx does. Not an attempt, not an ill instance.
      upstream.reset();
      if (auto failure = co_await connect_fresh()) {
        relay_error = {};
        if (plan.report) plan.report(choice->instance, false);
        last_error = failure;
        if (retryable) continue;
        break;
      }
      relay_error = co_await write_request_head();
      if (!relay_error) relay_error = co_await read_response_head();
    }
    if (relay_error) {
      if (plan.report) plan.report(choice->instance, false);
      last_error = timed_out(relay_error)
                       ? ExchangeError{504, plan.upstream_name + " at " + outcome.upstream + " did not answer within " +
                                                std::to_string(plan.timeout.count()) + " ms"}
                       : ExchangeError{
                             502, plan.upstream_name + " at " + outcome.upstream +
                                      (head_problem.empty() ? " failed before answering (" + relay_error.message() + ")"
                                                            : " sent " + head_problem)};
      if (retryable) continue;
      break;
    }
    const int status = upstream_head.status;
    if (status == 101 && upgrade.empty()) {
      // Switching protocols without being asked would leave the connection in an unknown protocol.
      if (plan.report) plan.report(choice->instance, false);
      last_error = ExchangeError{
          502, plan.upstream_name + " at " + outcome.upstream + " switched protocols (101) without being asked to"};
      break;
    }
    if (status == 101) {
      if (plan.report) plan.report(choice->instance, true);
      outcome.status = 101;
      std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
      append_client_fields(head, upstream_head, plan.response_fields, request.request_id);
      const auto chosen = upstream_head.get("Upgrade");
      head.append("Connection: Upgrade\r\nUpgrade: "sv)
          .append(chosen.empty() ? std::string_view(upgrade) : chosen)
          .append("\r\n\r\n"sv);
      // The head, then whatever the upstream sent after it; then what the client sent early.
      client.expires_after(plan.idle_timeout);
      const std::array<asio::const_buffer, 2> opening{asio::buffer(head), upstream_buffer.data()};
      auto tunnel_error = co_await write_all(client, opening);
      upstream_buffer.consume(upstream_buffer.size());
      if (!tunnel_error && buffer.size() > 0) {
        upstream->stream.expires_after(plan.idle_timeout);
        tunnel_error = co_await write_all(upstream->stream, buffer.data());
        buffer.consume(buffer.size());
      }
      if (!tunnel_error) {
        upstream->read_deadline.expires_never();  // the tunnel's reads have their own timeouts
        co_await (relay_upgraded(client, upstream->stream, plan.idle_timeout) &&
                  relay_upgraded(upstream->stream, client, plan.idle_timeout));
      }
      outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
      if (plan.complete) plan.complete(request, outcome);
      co_return false;  // the client connection was handed over: it closes with the tunnel
    }
    const bool more_attempts_allowed = retryable && attempt_number < plan.max_attempts;
    if (is_gateway_error(status) && more_attempts_allowed) {
      if (plan.report) plan.report(choice->instance, false);
      last_error =
          ExchangeError{status, plan.upstream_name + " at " + outcome.upstream + " answered " + std::to_string(status)};
      continue;  // the upstream connection is dropped with `upstream`
    }

    // Response head to the client, then the body piece by piece.
    const bool bodiless = head_request || status == 204 || status == 304 || status < 200;
    const auto& upstream_length = upstream_head.content_length;
    ResponseBodyDecoder response_body(upstream_head.body(head_request), upstream_length);
    const auto response_done = [&] { return response_body.done(); };
    bool keep_alive = client_keep_alive;
    outcome.status = status;
    // The general case (bodies larger than the relay buffer, unknown lengths, streams) goes through
    // Beast's serializer, set up on first use; a response whose body is complete at its first flush
    // is written as one string and the body, in one write.
    std::optional<bhttp::response<bhttp::buffer_body>> client_response;
    std::optional<bhttp::response_serializer<bhttp::buffer_body>> response_writer;
    auto start_serializer = [&] {
      client_response.emplace();
      client_response->version(client_version);
      client_response->result(static_cast<unsigned>(status));
      client_response->reason(upstream_head.reason);
      const auto insert = [&](std::string_view name, std::string_view value) { client_response->insert(name, value); };
      for_each_relayed_field(upstream_head, plan.response_fields, insert);
      plan.response_fields.for_each(insert);
      insert("X-Request-Id", request.request_id);
      if (bodiless) {
        if (head_request && upstream_length) client_response->content_length(*upstream_length);
      } else if (upstream_length) {
        client_response->content_length(*upstream_length);
      } else if (client_version == 11) {
        client_response->chunked(true);
      } else {
        keep_alive = false;  // HTTP/1.0 client and unknown length: the close marks the end
      }
      client_response->keep_alive(keep_alive);
      response_writer.emplace(*client_response);
    };
    // The whole response at hand: its head, with the length of the body it has.
    auto whole_response_head = [&](std::size_t body_bytes) {
      std::string head;
      head.reserve(512);
      head.append(client_version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ")
          .append(std::to_string(status))
          .append(" "sv)
          .append(upstream_head.reason)
          .append("\r\n"sv);
      append_client_fields(head, upstream_head, plan.response_fields, request.request_id);
      if (!bodiless) {
        head.append("Content-Length: "sv).append(std::to_string(body_bytes)).append("\r\n"sv);
      } else if (head_request && upstream_length) {
        head.append("Content-Length: "sv).append(std::to_string(*upstream_length)).append("\r\n"sv);
      }
      if (client_version == 11 && !keep_alive) head.append("Connection: close\r\n"sv);
      if (client_version == 10 && keep_alive) head.append("Connection: keep-alive\r\n"sv);
      head.append("\r\n"sv);
      return head;
    };

    bool relayed = true;
    bool head_sent = false;
    if (plan.streaming && !response_done()) {
      // A stream's client (EventSource) learns from the head that the stream is open: send it now.
      start_serializer();
      client.expires_after(plan.idle_timeout);
      auto [error, n] = co_await bhttp::async_write_header(client, *response_writer, kAwaitable);
      relayed = !error;
      head_sent = true;
    }
    // Otherwise the head goes out with the first body bytes, in one write.
    bool upstream_failed_before_head = false;
    std::size_t filled = 0;
    while (relayed) {
      if (!response_done()) {
        // What was read already first; a read only when that gave no body bytes. Like read_some:
        // events of a stream go out as they come, not when a buffer fills.
        beast::error_code read_error;
        auto decode = [&] {
          filled +=
              response_body.decode(upstream_buffer, relay_buffer.get() + filled, kRelayChunkBytes - filled, read_error);
        };
        const auto filled_before = filled;
        decode();
        if (!read_error && !response_done() && filled == filled_before) {
          std::size_t read = 0;
          std::tie(read_error, read) = co_await read_upstream();
          upstream_buffer.commit(read);
          if (read_error == asio::error::eof) {
            read_error = response_body.finish_at_close();
          } else if (!read_error) {
            decode();
          }
        }
        if (read_error) {
          outcome.error = "upstream response ended early: " + read_error.message();
          upstream_failed_before_head = !head_sent;
          relayed = false;
          break;
        }
        if (!flush_now(response_done(), filled, upstream_buffer.size())) continue;
      }
      const bool more = !response_done();
      client.expires_after(plan.streaming ? plan.idle_timeout : limits.body_timeout);
      beast::error_code write_error;
      if (!response_writer && !more) {
        // The whole response is at hand (the usual small API answer): head and body in one write.
        const auto head = whole_response_head(bodiless ? 0 : filled);
        const std::array<asio::const_buffer, 2> whole{asio::buffer(head),
                                                      asio::const_buffer(relay_buffer.get(), bodiless ? 0 : filled)};
        if (const auto sent = write_without_waiting(client.socket(), whole); sent < head.size() + whole[1].size()) {
          write_error = co_await write_rest(client, whole, sent);
        }
      } else {
        if (!response_writer) start_serializer();
        client_response->body().data = filled > 0 ? relay_buffer.get() : nullptr;
        client_response->body().size = filled;
        client_response->body().more = more;
        std::tie(write_error, std::ignore) = co_await bhttp::async_write(client, *response_writer, kAwaitable);
      }
      head_sent = true;
      filled = 0;
      if (write_error && write_error != bhttp::error::need_buffer) {
        outcome.error = "client went away while the response was relayed";
        relayed = false;
      }
      if (!more) break;
    }
    // Reported once the exchange is over, so that least-connections counts long streams.
    if (plan.report) plan.report(choice->instance, !is_gateway_error(status) && !upstream_failed_before_head);
    if (upstream_failed_before_head) {
      // Nothing reached the client yet: it gets a 502 instead of a cut connection.
      last_error = ExchangeError{502, plan.upstream_name + " at " + outcome.upstream + " broke off its response"};
      break;
    }
    attempt.response_started = true;
    // A body delimited by the connection's end leaves nothing to reuse.
    if (relayed && response_done() && !upstream_head.connection_close &&
        response_body.framing() != ResponseHead::Body::kUntilClose && upstream_buffer.size() == 0) {
      upstream->stream.expires_never();
      upstream->read_deadline.expires_never();
      affinity.key = outcome.upstream;
      affinity.last_used = Clock::now();
      affinity.connection = std::move(upstream);
    }
    outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (plan.complete) plan.complete(request, outcome);
    co_return relayed&& keep_alive;
  }

  // Every attempt failed before a response could be relayed.
  outcome.error = last_error ? last_error->reason : "no attempt was made";
  auto error_response = gateway_error(last_error.value_or(ExchangeError{503, outcome.error}), request, plan);
  outcome.status = error_response.status;
  auto out = detail::to_beast(error_response, client_version, client_keep_alive && body_done(), head_request);
  client.expires_after(limits.body_timeout);
  auto [write_error, written] = co_await bhttp::async_write(client, out, kAwaitable);
  outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (plan.complete) plan.complete(request, outcome);
  co_return !write_error && client_keep_alive && body_done();
}

}  // namespace intercab::http
