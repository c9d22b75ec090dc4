// Beast HTTP/1.1 server: parsing with limits and timeouts, keep-alive, routing to worker
// threads, request ids and trace context, graceful drain.
#include "platform/http/server.hpp"

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <limits>
#include <random>
#include <unordered_set>

#include "platform/http/server_impl.hpp"
#include "platform/log/log.hpp"
#include "platform/text/text.hpp"
#include "platform/trace/current.hpp"

namespace intercab::http {

constexpr auto kAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxLingerBytes = std::size_t{64} * 1024 * 1024;
// Per read while a request head is awaited: most heads fit, and an idle keep-alive connection
// holds no more buffer than this (the buffer grows, up to the head limit, for larger heads).
constexpr std::size_t kHeadReadBytes = std::size_t{4} * 1024;
constexpr std::size_t kLingerReadBytes = std::size_t{16} * 1024;

// ---------------------------------------------------------------------------------------------
// Runtime

Runtime::Impl::Impl(int io_threads, int worker_threads)
    : io(io_threads), work(io.get_executor()), workers(static_cast<std::size_t>(worker_threads)) {
  io_runners.reserve(static_cast<std::size_t>(io_threads));
  for (int i = 0; i < io_threads; ++i) io_runners.emplace_back([this] { io.run(); });
}

Runtime::Impl::~Impl() { stop(); }

asio::any_io_executor Runtime::Impl::connection_executor() {
  if (io_runners.size() == 1) return io.get_executor();
  return asio::make_strand(io);
}

void Runtime::Impl::stop() {
  std::call_once(stopped, [this] {
    work.reset();
    io.stop();
    for (auto& runner : io_runners) runner.join();
    workers.stop();
    workers.join();
  });
}

Runtime::Runtime(int io_threads, int worker_threads)
    : impl_(std::make_unique<Impl>(std::max(1, io_threads), std::max(1, worker_threads))) {}
Runtime::~Runtime() = default;
void Runtime::stop() { impl_->stop(); }

bhttp::response<bhttp::string_body> detail::to_beast(const Response& response, unsigned version, bool keep_alive,
                                                     bool head_request) {
  bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(response.status), version};
  for (const auto& [name, value] : response.headers.fields()) out.insert(name, value);
  out.keep_alive(keep_alive);
  out.body() = response.body;
  out.prepare_payload();
  if (head_request) out.body().clear();  // Content-Length stays that of the GET response
  return out;
}

// ---------------------------------------------------------------------------------------------
// Errors as responses

Response problem_response(const errors::Problem& problem, const Request& request) {
  auto response = Response::json(
      errors::to_problem_json(problem, request.path.empty() ? request.target : request.path, request.request_id),
      problem.status());
  response.headers.set("Content-Type", std::string(errors::kProblemContentType));
  for (const auto& [name, value] : problem.headers()) response.headers.set(name, value);
  return response;
}

Response invoke_handler(const Handler& handler, Request& request) {
  try {
    return handler(request);
  } catch (const errors::Problem& problem) {
    return problem_response(problem, request);
  } catch (const std::exception& error) {
    log::error("unhandled exception in handler", {{"route", request.route}, {"exception", error.what()}});
  } catch (...) {
    log::error("unhandled non-standard exception in handler", {{"route", request.route}});
  }
  return problem_response(errors::Internal(), request);
}

// ---------------------------------------------------------------------------------------------
// Server

namespace {

// A caller's X-Request-Id is kept when it is a sane token; anything else is replaced so that
// logs and headers never carry hostile bytes.
bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':' || c == '@' ||
           c == '/' || c == '+' || c == '=';
  });
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// RFC 3986 pchar without percent-encoding, or '/': a target made only of these is its own path.
bool is_plain_path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("/-._~!$&'()*+,;=:@").find(c) != std::string_view::npos;
}

// Fills path and query from the request target; throws BadRequest for targets we cannot serve.
void parse_target(Request& request) {
  // The common "/api/v1/bookings": nothing to decode and no query, so no URL parser is needed.
  if (request.target.starts_with('/') && !request.target.starts_with("//") &&
      std::all_of(request.target.begin(), request.target.end(), is_plain_path_char)) {
    request.path = request.target;
    return;
  }
  auto parsed = boost::urls::parse_uri_reference(request.target);
  if (!parsed || (parsed->has_scheme() && parsed->scheme_id() != boost::urls::scheme::http &&
                  parsed->scheme_id() != boost::urls::scheme::https)) {
    throw errors::BadRequest("the request target is not a valid origin-form or absolute URI");
  }
  request.path = parsed->path();
  if (request.path.empty()) request.path = "/";
  if (request.path.front() != '/' || has_control_characters(request.path)) {
    throw errors::BadRequest("the request path must start with / and contain no control characters");
  }
  for (const auto& param : parsed->params()) {
    if (has_control_characters(param.key) || has_control_characters(param.value)) {
      throw errors::BadRequest("query parameter '" + param.key + "' contains control characters");
    }
    if (!request.query.emplace(param.key, param.value).second) {
      throw errors::BadRequest("query parameter '" + param.key + "' appears more than once; send it once");
    }
  }
}

// A response to a request we could not (fully) parse; the connection is closed afterwards.
Response transport_error(const errors::Problem& problem, Request& request) {
  if (request.request_id.empty()) request.request_id = text::new_uuid_v4();
  auto response = problem_response(problem, request);
  response.headers.set("X-Request-Id", request.request_id);
  return response;
}

}  // namespace

asio::awaitable<Response> Server::Impl::dispatch(Request& request, const RouteMatch& match) {
  Handler handler;
  if (match.status == MatchStatus::kFound) {
    request.route = match.route->pattern;
    request.path_params = match.params;
    handler = match.route->handler;
  } else if (match.status == MatchStatus::kMethodNotAllowed) {
    request.route = "(method not allowed)";
    handler = [allowed = match.allowed_methods](Request& r) -> Response {
      throw errors::MethodNotAllowed(r.method, allowed);
    };
  } else {
    request.route = "(unmatched)";
    handler = [](Request& r) -> Response { throw errors::NotFound("no resource at " + r.path); };
  }
  auto run = [this, &handler, &request]() -> Response {
    log::ScopedLogContext context({{}, request.request_id, request.trace.trace_id_hex(), request.trace.span_id_hex()});
    trace::ScopedTrace scoped_trace(request.trace);  // outgoing calls continue this trace
    auto mapped = [&handler](Request& r) { return invoke_handler(handler, r); };
    return interceptor ? interceptor(request, mapped) : mapped(request);
  };
  if (match.status == MatchStatus::kFound && match.route->options.runs_inline) co_return run();
  if (queued_jobs.fetch_add(1) >= limits.max_queued_requests) {
    queued_jobs.fetch_sub(1);
    co_return problem_response(errors::Unavailable("the server is at capacity; retry shortly", 1), request);
  }
  auto response = co_await asio::co_spawn(
      runtime.workers.get_executor(), [&run]() -> asio::awaitable<Response> { co_return run(); }, asio::use_awaitable);
  queued_jobs.fetch_sub(1);
  co_return response;
}

asio::awaitable<void> Server::Impl::stream_events(beast::tcp_stream& stream, const Response& response,
                                                  unsigned version) {
  const auto source = response.event_stream;
  bhttp::response<bhttp::empty_body> head{bhttp::status::ok, version};
  for (const auto& [name, value] : response.headers.fields()) head.insert(name, value);
  head.set("X-Accel-Buffering", "no");  // tells nginx-style proxies not to buffer the stream
  head.keep_alive(false);
  // HTTP/1.1 frames the stream in chunks; an HTTP/1.0 client reads until the connection closes.
  const bool chunked = version == 11;
  if (chunked) head.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> serializer{head};
  stream.expires_after(limits.body_timeout);
  if (auto [error, written] = co_await bhttp::async_write_header(stream, serializer, kAwaitable); error) co_return;

  auto write_text = [&stream, chunked, this](const std::string& text) -> asio::awaitable<bool> {
    stream.expires_after(limits.body_timeout);
    if (chunked) {
      auto [error, written] = co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(text)), kAwaitable);
      co_return !error;
    }
    auto [error, written] = co_await asio::async_write(stream, asio::buffer(text), kAwaitable);
    co_return !error;
  };

  const auto started = std::chrono::steady_clock::now();
  auto last_write = started;
  asio::steady_timer timer(stream.get_executor());
  bool client_present = true;
  bool first_poll = true;  // the client gets the current state at once, then every poll_interval
  while (client_present && !draining.load() && std::chrono::steady_clock::now() - started < source->max_duration) {
    if (!first_poll) {
      timer.expires_after(source->poll_interval);
      co_await timer.async_wait(kAwaitable);
      if (draining.load()) break;
    }
    first_poll = false;
    auto polled = co_await asio::co_spawn(
        runtime.workers.get_executor(),
        [&source]() -> asio::awaitable<std::optional<std::string>> {
          try {
            co_return source->poll();
          } catch (const std::exception& error) {
            log::warn("event stream ended by its source", {{"error", error.what()}});
            co_return std::nullopt;
          } catch (...) {
            log::warn("event stream ended by its source (non-standard exception)");
            co_return std::nullopt;
          }
        },
        asio::use_awaitable);
    if (!polled) break;
    const auto now = std::chrono::steady_clock::now();
    if (polled->empty() && now - last_write >= source->heartbeat_interval) *polled = ": keep-alive\n\n";
    if (polled->empty()) continue;
    client_present = co_await write_text(*polled);
    last_write = now;
  }
  if (client_present && chunked) {
    stream.expires_after(limits.body_timeout);
    co_await asio::async_write(stream, bhttp::make_chunk_last(), kAwaitable);
  }
}

// The body timeout bounds each read, not the whole body (as nginx's client_body_timeout): a
// large upload takes as long as the client's pace needs, a stalled one ends. Reads use a
// buffer larger than the head limit, restored for the next request head.
asio::awaitable<beast::error_code> Server::Impl::read_body(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                           bhttp::request_parser<bhttp::string_body>& parser) {
  constexpr std::size_t kBodyReadBytes = std::size_t{64} * 1024;
  const auto head_buffer_limit = buffer.max_size();
  buffer.max_size(std::max(head_buffer_limit, kBodyReadBytes));
  beast::error_code error;
  while (!parser.is_done() && !error) {
    stream.expires_after(limits.body_timeout);
    std::tie(error, std::ignore) = co_await bhttp::async_read_some(stream, buffer, parser, kAwaitable);
  }
  buffer.max_size(head_buffer_limit);
  co_return error;
}

asio::awaitable<Server::Impl::HeadOutcome> Server::Impl::read_head(beast::tcp_stream& stream,
                                                                   beast::flat_buffer& buffer) {
  HeadOutcome outcome;
  const auto too_large = [this] {
    return errors::Problem(
        431, "/problems/header-too-large", "Request header fields too large",
        "the request line and headers must not exceed " + std::to_string(limits.max_header_bytes) + " bytes");
  };
  for (int empty_lines = 0;; ++empty_lines) {
    // Reads until the buffer holds the empty line that ends a head; the buffer's max size bounds the
    // head (not_found when full).
    beast::error_code error;
    std::size_t head_size = 0;
    for (std::size_t searched = 0;;) {
      head_size = detail::complete_head_size(buffer, searched);
      if (head_size > 0) break;
      if (buffer.size() >= buffer.max_size()) {
        error = asio::error::not_found;
        break;
      }
      const auto room = std::min<std::size_t>(buffer.max_size() - buffer.size(), kHeadReadBytes);
      std::size_t read = 0;
      // The socket itself, not the Beast stream: the connection's LazyDeadline bounds this read.
      std::tie(error, read) = co_await stream.socket().async_read_some(buffer.prepare(room), kAwaitable);
      buffer.commit(read);
      if (error) break;
    }
    if (error == asio::error::not_found) {
      outcome.rejection = too_large();
      co_return outcome;
    }
    if (error) {
      if (buffer.size() == 0 || error == asio::error::operation_aborted || error == beast::error::timeout) {
        outcome.closed = true;
      } else {
        outcome.rejection = errors::BadRequest("incomplete request head: the connection ended before the empty line");
      }
      co_return outcome;
    }
    const std::string_view head(static_cast<const char*>(buffer.data().data()), head_size);
    if (head.starts_with("\r\n") && empty_lines < 4) {  // RFC 9112 §2.2: ignore empty lines before a request
      buffer.consume(2);
      continue;
    }
    if (head_size > limits.max_header_bytes) {
      outcome.rejection = too_large();
    } else {
      outcome.size = head_size;
    }
    co_return outcome;
  }
}

asio::awaitable<void> Server::Impl::serve_connection(tcp::socket socket) {
  auto self = shared_from_this();
  beast::tcp_stream stream(std::move(socket));
  detail::LazyDeadline head_deadline(stream.socket());  // for read_head; Beast's own timer guards the rest
  beast::flat_buffer buffer(std::max<std::size_t>(limits.max_header_bytes, 16384));  // bounds a head (read_head)
  auto connection = std::make_shared<detail::Connection>();
  connection->stream = &stream;
  {
    std::lock_guard lock(mutex);
    connections.insert(connection);
  }
  std::string remote;
  {
    beast::error_code ec;
    auto endpoint = stream.socket().remote_endpoint(ec);
    if (!ec) remote = endpoint.address().to_string();
  }

  detail::UpstreamAffinity affinity;
  bool first_request = true;
  bool unread_input = false;  // we answered before reading everything the client is sending
  while (!draining.load()) {
    head_deadline.expires_after(first_request ? limits.header_timeout : limits.idle_timeout);
    first_request = false;

    connection->idle = true;
    auto head_outcome = co_await read_head(stream, buffer);
    head_deadline.expires_never();
    connection->idle = false;
    if (head_outcome.closed) break;  // the client went away, idled out, or we are draining: close quietly

    Request request;
    request.remote_address = remote;
    std::optional<Response> early;  // set when the request cannot reach a handler
    if (head_outcome.rejection) early = transport_error(*head_outcome.rejection, request);

    in_flight.fetch_add(1);
    RequestHead head;
    bool keep_alive = false;
    RouteMatch match;
    std::optional<bhttp::request_parser<bhttp::string_body>> body_parser;  // when the request has a body
    if (!early) {
      const auto head_problem = parse_request_head(
          std::string_view(static_cast<const char*>(buffer.data().data()), head_outcome.size), head, request);
      buffer.consume(head_outcome.size);
      if (head_problem) {
        early = transport_error(*head_problem, request);
      } else if (bhttp::string_to_verb(request.method) == bhttp::verb::unknown) {
        early = transport_error(errors::Problem(501, "/problems/method-not-implemented", "Method not implemented",
                                                "method '" + request.method + "' is not supported by this server"),
                                request);
      } else if ((head.version == 11 && request.headers.count("Host") != 1) || request.headers.count("Host") > 1) {
        early = transport_error(errors::BadRequest("an HTTP/1.1 request must carry exactly one Host header"), request);
      } else {
        try {
          parse_target(request);
        } catch (const errors::Problem& problem) {
          early = transport_error(problem, request);
        }
      }
    }
    const bool head_request = request.method == "HEAD";

    if (!early) {
      auto id = request.headers.get("X-Request-Id");
      request.request_id = acceptable_request_id(id) ? std::string(id) : text::new_uuid_v4();
      auto parent = trace::parse_traceparent(request.headers.get("traceparent"), request.headers.get("tracestate"));
      request.trace = parent ? trace::child_of(*parent) : trace::new_root();

      match = router.match(request.method, request.path);
      if (match.status == MatchStatus::kNotFound && forwarder) {
        const bool reusable = co_await forward(stream, buffer, head, request, affinity);
        in_flight.fetch_sub(1);
        if (!reusable) unread_input = true;  // the exchange may have ended before the request body did
        if (!reusable || draining.load()) break;
        continue;
      }
      const auto body_limit = (match.status == MatchStatus::kFound && match.route->options.max_body_bytes)
                                  ? *match.route->options.max_body_bytes
                                  : limits.max_body_bytes;
      if (head.content_length && *head.content_length > body_limit) {
        early = transport_error(errors::PayloadTooLarge(body_limit), request);
      } else if (head.has_body()) {
        if (iequals(request.headers.get("Expect"), "100-continue") && head.version == 11) {
          bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
          stream.expires_after(limits.body_timeout);
          co_await bhttp::async_write(stream, go_on, kAwaitable);
        }
        body_parser.emplace();
        body_parser->body_limit(body_limit);
        auto body_error = detail::start_body_parser(*body_parser, head.content_length, head.chunked);
        if (!body_error) body_error = co_await read_body(stream, buffer, *body_parser);
        if (body_error == bhttp::error::body_limit) {
          early = transport_error(errors::PayloadTooLarge(body_limit), request);
        } else if (body_error) {
          in_flight.fetch_sub(1);
          break;  // timed out, reset or truncated mid-body: nothing sensible to answer
        }
      }
    }

    Response response;
    if (early) {
      response = std::move(*early);
      keep_alive = false;  // after a framing error the rest of the stream cannot be trusted
      unread_input = true;
    } else {
      if (body_parser) request.body = std::move(body_parser->get().body());
      keep_alive = head.keep_alive;
      response = co_await dispatch(request, match);
      response.headers.set("X-Request-Id", request.request_id);
    }
    if (draining.load()) keep_alive = false;

    if (response.event_stream && response.status == 200 && !head_request) {
      co_await stream_events(stream, response, head.version);
      in_flight.fetch_sub(1);
      break;
    }
    auto out = detail::to_beast(response, head.version, keep_alive, head_request);
    stream.expires_after(limits.body_timeout);
    auto [write_error, written] = co_await bhttp::async_write(stream, out, kAwaitable);
    in_flight.fetch_sub(1);
    if (write_error || !keep_alive) break;
  }

  release_affinity(affinity);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (unread_input) {
    // Lingering close (as nginx does): closing with unread input makes the kernel send a reset,
    // which can destroy our error response before the client reads it. Discard what is still
    // coming for a bounded time and amount.
    // (On the heap: in the coroutine frame it would cost every connection its size.)
    stream.expires_after(std::chrono::seconds(1));
    const auto discard = std::make_unique<char[]>(kLingerReadBytes);
    std::size_t discarded = 0;
    while (discarded < kMaxLingerBytes) {
      auto [read_error, n] = co_await stream.async_read_some(asio::buffer(discard.get(), kLingerReadBytes), kAwaitable);
      if (read_error) break;
      discarded += n;
    }
  }
  connection->alive = false;
  std::lock_guard lock(mutex);
  connections.erase(connection);
}

asio::awaitable<void> Server::Impl::accept_loop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  while (!draining.load()) {
    auto [error, socket] = co_await acceptor->async_accept(runtime.connection_executor(), kAwaitable);
    if (error == asio::error::operation_aborted || draining.load()) break;
    if (error) {
      // Out of descriptors or a transient network error: back off instead of spinning.
      log::warn("accept failed", {{"error", error.message()}});
      asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(kAwaitable);
      continue;
    }
    // Synchronous operations on it never wait (the forwarder writes without waiting when it can);
    // asynchronous ones are unaffected.
    beast::error_code mode_error;
    socket.set_option(tcp::no_delay(true), mode_error);
    if (!mode_error) socket.non_blocking(true, mode_error);
    if (mode_error) continue;  // the connection closes with `socket`
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve_connection(std::move(socket)), asio::detached);
  }
}

void Server::Impl::close_idle_connections() {
  std::lock_guard lock(mutex);
  for (const auto& acceptor : acceptors) {
    asio::post(acceptor->get_executor(), [acceptor] {
      beast::error_code ignored;
      acceptor->close(ignored);
    });
  }
  for (const auto& connection : connections) {
    asio::post(connection->stream->get_executor(), [connection] {
      if (connection->alive && connection->idle) connection->stream->cancel();
    });
  }
}

Server::Server(Runtime& runtime, Router router, ServerLimits limits, Interceptor interceptor)
    : impl_(std::make_shared<Impl>(runtime, std::move(router), limits, std::move(interceptor))) {}

Server::~Server() { start_drain(); }

std::uint16_t Server::listen(const std::string& address, std::uint16_t port) {
  auto acceptor = std::make_shared<tcp::acceptor>(impl_->runtime.connection_executor());
  tcp::endpoint endpoint(asio::ip::make_address(address), port);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(asio::socket_base::reuse_address(true));
  acceptor->bind(endpoint);
  acceptor->listen(asio::socket_base::max_listen_connections);
  const auto bound = acceptor->local_endpoint().port();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->acceptors.push_back(acceptor);
  }
  asio::co_spawn(acceptor->get_executor(), impl_->accept_loop(acceptor), asio::detached);
  return bound;
}

void Server::set_forwarder(Forwarder forwarder) { impl_->forwarder = std::move(forwarder); }

void Server::start_drain() {
  if (impl_->draining.exchange(true)) return;
  impl_->close_idle_connections();
}

bool Server::wait_idle(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (impl_->in_flight.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int Server::requests_in_flight() const { return impl_->in_flight.load(); }

}  // namespace intercab::http
