// Internal to platform/http: the server's state, shared by server.cpp and forward.cpp.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "platform/http/message_head.hpp"
#include "platform/http/runtime_impl.hpp"
#include "platform/http/server.hpp"

namespace intercab::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

class UpstreamSockets;  // idle keep-alive connections to upstreams (forward.cpp)

namespace detail {

// Tracks one connection so that a drain can close it while it waits for a next request.
struct Connection {
  beast::tcp_stream* stream = nullptr;
  bool idle = false;  // waiting for the next request head; touched on the connection's strand only
  bool alive = true;
};

// A deadline for the plain socket reads of one connection on the hot path, enforced by a timer
// that is re-armed only when it fires before the deadline or when the deadline moves earlier.
// Beast's tcp_stream arms its timer before every operation and cancels it after (a timer-queue
// insert, a removal and a completion of the cancelled wait), which costs more than the read it
// guards; a keep-alive connection's deadline only ever moves later, so here a request costs a clock
// read. When the deadline passes, the socket's pending operations end with operation_aborted and
// expired() tells that apart from other cancellations. Lives no longer than the socket.
class LazyDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LazyDeadline(tcp::socket& socket) : state_(std::make_shared<State>(socket)) {}
  ~LazyDeadline() {
    state_->socket = nullptr;
    state_->timer.cancel();
  }
  LazyDeadline(const LazyDeadline&) = delete;
  LazyDeadline& operator=(const LazyDeadline&) = delete;

  void expires_after(Clock::duration timeout) { expires_at(Clock::now() + timeout); }
  // Until set again; the pending wait, if any, ends by itself without being re-armed.
  void expires_never() { expires_at(Clock::time_point::max()); }
  void expires_at(Clock::time_point deadline) {
    state_->deadline = deadline;
    state_->expired = false;
    if (deadline < state_->armed_until) arm(state_);
  }
  bool expired() const { return state_->expired; }

 private:
  struct State {
    explicit State(tcp::socket& socket_ref) : socket(&socket_ref), timer(socket_ref.get_executor()) {}
    tcp::socket* socket;  // null once the owner is gone
    asio::steady_timer timer;
    Clock::time_point deadline = Clock::time_point::max();
    Clock::time_point armed_until = Clock::time_point::max();  // end of the pending wait; max: none
    bool expired = false;
  };

  static void arm(const std::shared_ptr<State>& state) {
    state->armed_until = state->deadline;
    state->timer.expires_at(state->deadline);  // a pending wait ends with operation_aborted
    state->timer.async_wait([state](const beast::error_code& error) {
      if (error) return;  // re-armed, or the owner is gone
      state->armed_until = Clock::time_point::max();
      if (state->socket == nullptr) return;
      if (Clock::now() < state->deadline) {
        if (state->deadline != Clock::time_point::max()) arm(state);  // the deadline moved later meanwhile
        return;
      }
      state->expired = true;
      beast::error_code ignored;
      state->socket->cancel(ignored);
    });
  }

  std::shared_ptr<State> state_;
};

// A connection to an upstream: its stream (whose own timer guards connects and writes) and the
// deadline of its response reads, which is kept across the requests the connection carries.
struct UpstreamConnection {
  explicit UpstreamConnection(const asio::any_io_executor& executor)
      : stream(executor), read_deadline(stream.socket()) {}
  explicit UpstreamConnection(tcp::socket socket) : stream(std::move(socket)), read_deadline(stream.socket()) {}

  tcp::socket& socket() { return stream.socket(); }

  beast::tcp_stream stream;
  LazyDeadline read_deadline;
};

// The upstream connection a client connection used for its last forwarded request. It stays
// on the client connection's strand, so the next request to the same upstream reuses it with
// no pool round trip; it goes back to the shared pool when the client connection ends.
struct UpstreamAffinity {
  std::string key;                                 // host:port
  std::unique_ptr<UpstreamConnection> connection;  // by pointer: moving a Beast stream allocates
  std::chrono::steady_clock::time_point last_used;
};

// The size of the message head at the start of `buffer` (up to and including its empty line), or 0
// while it is incomplete. `searched` carries where the next search starts, so that bytes already
// searched are not searched again as more arrive (a plain search: asio::async_read_until walks a
// byte iterator).
inline std::size_t complete_head_size(const beast::flat_buffer& buffer, std::size_t& searched) {
  const std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
  const auto end = data.find("\r\n\r\n", searched);
  if (end != std::string_view::npos) return end + 4;
  searched = data.size() < 3 ? 0 : data.size() - 3;
  return 0;
}

// Readies a Beast parser (body limit set) to decode a body framed by `content_length` or chunks, or,
// for a response with neither, by the connection's end. The message's head was parsed and checked
// already (message_head.hpp); Beast has no way in to a body but through a head, so it is given one
// that states only that framing.
template <bool is_request, class Body>
beast::error_code start_body_parser(bhttp::parser<is_request, Body>& parser,
                                    std::optional<std::uint64_t> content_length, bool chunked) {
  std::string framing = is_request ? "POST / HTTP/1.1\r\n" : "HTTP/1.1 200 OK\r\n";
  if (chunked) {
    framing += "Transfer-Encoding: chunked\r\n";
  } else if (content_length) {
    framing += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  }
  framing += "\r\n";
  beast::error_code error;
  parser.put(asio::buffer(framing), error);
  return error;
}

bhttp::response<bhttp::string_body> to_beast(const Response& response, unsigned version, bool keep_alive,
                                             bool head_request);

}  // namespace detail

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(Runtime& runtime_ref, Router router_value, ServerLimits limits_value, Interceptor interceptor_value)
      : runtime(runtime_ref.impl()),
        router(std::move(router_value)),
        limits(limits_value),
        interceptor(std::move(interceptor_value)) {}

  struct HeadOutcome {
    bool closed = false;                       // nothing (more) to answer: close quietly
    std::optional<errors::Problem> rejection;  // answer this and close
    std::size_t size = 0;                      // otherwise the head is the buffer's first `size` bytes
  };
  // Reads until the buffer starts with one whole request head (up to the empty line), within the
  // connection's deadline (set by the caller).
  asio::awaitable<HeadOutcome> read_head(beast::tcp_stream& stream, beast::flat_buffer& buffer);
  asio::awaitable<beast::error_code> read_body(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                               bhttp::request_parser<bhttp::string_body>& parser);

  asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor);
  asio::awaitable<void> serve_connection(tcp::socket socket);
  asio::awaitable<Response> dispatch(Request& request, const RouteMatch& match);
  // Writes `response`'s head and then its event stream until it ends; the connection closes after.
  asio::awaitable<void> stream_events(beast::tcp_stream& stream, const Response& response, unsigned version);
  // Relays a request no route matched to an upstream chosen by `forwarder` (forward.cpp).
  // Returns whether the client connection may carry another request.
  asio::awaitable<bool> forward(beast::tcp_stream& client, beast::flat_buffer& buffer, const RequestHead& head,
                                Request& request, detail::UpstreamAffinity& affinity);
  // Hands a client connection's upstream connection to the shared pool (forward.cpp).
  void release_affinity(detail::UpstreamAffinity& affinity);
  void close_idle_connections();

  Runtime::Impl& runtime;
  const Router router;
  const ServerLimits limits;
  const Interceptor interceptor;
  Forwarder forwarder;  // set before listen(), then read-only
  std::shared_ptr<UpstreamSockets> upstream_sockets;

  std::mutex mutex;  // guards acceptors and connections
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::unordered_set<std::shared_ptr<detail::Connection>> connections;
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};    // requests whose head was read and whose response is not yet written
  std::atomic<int> queued_jobs{0};  // handler jobs queued or running on the worker pool
};

}  // namespace intercab::http
