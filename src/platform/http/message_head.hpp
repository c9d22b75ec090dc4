// The heads of HTTP/1.1 messages (RFC 9112 §2–§6): start line, fields and body framing, parsed
// from the bytes up to and including the empty line. Strict wherever a lenient reading lets two
// parsers see a message two ways (the root of request smuggling and response splitting). No Beast:
// the server and the forwarder parse every head with these, and a body, if any, is then decoded by
// Beast as the framing parsed here declares.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/errors/errors.hpp"
#include "platform/http/message.hpp"

namespace intercab::http {

// What a request head says beyond the Request's own method, target and headers: the protocol
// version, whether the connection may carry another request, and how the body is framed.
struct RequestHead {
  unsigned version = 11;   // 10 or 11
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"
  std::optional<std::uint64_t> content_length;
  bool chunked = false;  // Transfer-Encoding: chunked (then content_length is empty)

  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
};

// Parses `text`, a request head ending with its empty line ("\r\n\r\n"), into `head` and
// `request`: its method and target as sent, and its fields appended to its headers in order (names
// as sent, values without surrounding whitespace). Refuses with the problem to answer: 400 for
// bare CR or LF, obsolete line folding, whitespace before a colon, control characters, a malformed
// request line, Content-Length or Transfer-Encoding; 505 for a well-formed version other than
// HTTP/1.0 and HTTP/1.1; 501 for a transfer coding other than chunked.
// `request` may hold part of the head after a refusal.
std::optional<errors::Problem> parse_request_head(std::string_view text, RequestHead& head, Request& request);

// A response head as an upstream sent it; the views point into the parsed text.
struct ResponseHead {
  unsigned version = 11;  // 10 or 11
  int status = 0;         // 100-599
  std::string_view reason;
  std::vector<std::pair<std::string_view, std::string_view>> fields;  // in order, values trimmed
  // Whether "Connection: close" was sent (HTTP/1.1), or "Connection: keep-alive" was not (HTTP/1.0).
  bool connection_close = false;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;  // Transfer-Encoding ending in chunked; with another coding the body runs to the close

  // How the body that follows is delimited, given whether it answers a HEAD request
  // (RFC 9112 §6.3): none, a length, chunks, or the end of the connection.
  enum class Body { kNone, kLength, kChunked, kUntilClose };
  Body body(bool answers_head_request) const;
  // The first value of a field, or empty.
  std::string_view get(std::string_view name) const;
};

// Parses `text`, a response head ending with its empty line, into `head` (cleared first). Returns
// what is wrong with it, if anything: the same syntax rules as requests, a status line of the form
// "HTTP/1.1 200 OK", at most one Content-Length of digits, not both it and Transfer-Encoding.
std::optional<std::string> parse_response_head(std::string_view text, ResponseHead& head);

}  // namespace intercab::http
