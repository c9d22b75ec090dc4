// The head of an HTTP/1.1 request (RFC 9112 §2–§6): request line, fields and body framing, parsed
// from the bytes up to and including the empty line. Strict wherever a lenient reading lets two
// parsers see a request two ways (the root of request smuggling). No Beast: the server parses
// every head with it, and the body, if any, is then decoded by Beast as this framing declares.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

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
// as sent, values without surrounding whitespace). Refuses
// with the problem to answer: 400 for bare CR or LF, obsolete line folding, whitespace before a
// colon, control characters, a malformed request line, Content-Length or Transfer-Encoding; 505 for a
// well-formed version other than HTTP/1.0 and HTTP/1.1; 501 for a transfer coding other than chunked.
// `request` may hold part of the head after a refusal.
std::optional<errors::Problem> parse_request_head(std::string_view text, RequestHead& head, Request& request);

}  // namespace intercab::http
