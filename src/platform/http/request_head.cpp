#include "platform/http/request_head.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace intercab::http {

namespace {

constexpr std::uint64_t kEachByte = 0x0101010101010101ULL;
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// A byte no field value or request target may hold: a control character other than HTAB
// (RFC 9110 §5.5), including CR and LF (a line's own CRLF is not part of it).
bool is_forbidden(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

// Whether the eight bytes at `data` include one below 0x20 or 0x7f (exact: no false alarms).
bool word_has_control(const char* data) {
  std::uint64_t word = 0;
  std::memcpy(&word, data, 8);
  const auto below_space = (word - kEachByte * 0x20) & ~word & kHighBits;
  const auto delete_xor = word ^ (kEachByte * 0x7f);
  const auto is_delete = (delete_xor - kEachByte) & ~delete_xor & kHighBits;
  return (below_space | is_delete) != 0;
}

// Whether `text` holds a forbidden byte. Eight bytes at a time (a bearer token alone is hundreds
// of bytes), the last eight overlapping the previous ones; only a word with a control character
// (usually a HTAB) is looked at byte by byte.
bool has_forbidden_byte(std::string_view text) {
  const auto bytewise = [](std::string_view part) { return std::any_of(part.begin(), part.end(), is_forbidden); };
  if (text.size() < 8) return bytewise(text);
  for (std::size_t i = 0;; i += 8) {
    const auto start = std::min(i, text.size() - 8);
    if (word_has_control(text.data() + start) && bytewise(text.substr(start, 8))) return true;
    if (start == text.size() - 8) return false;
  }
}

bool is_whitespace(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_whitespace(std::string_view text) {
  while (!text.empty() && is_whitespace(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_whitespace(text.back())) text.remove_suffix(1);
  return text;
}

errors::Problem malformed(std::string detail) { return errors::BadRequest(std::move(detail)); }

// The version of a request line: "HTTP/1.1" → 11. nullopt when it is not HTTP-version's syntax.
std::optional<unsigned> parse_version(std::string_view text) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (text.size() != 8 || !text.starts_with("HTTP/") || !digit(text[5]) || text[6] != '.' || !digit(text[7])) {
    return std::nullopt;
  }
  return static_cast<unsigned>(text[5] - '0') * 10 + static_cast<unsigned>(text[7] - '0');
}

std::optional<errors::Problem> parse_request_line(std::string_view line, RequestHead& head, Request& request) {
  const auto first_space = line.find(' ');
  const auto second_space = first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos) {
    return malformed("malformed request line: send 'METHOD target HTTP/1.1'");
  }
  const auto method = line.substr(0, first_space);
  const auto target = line.substr(first_space + 1, second_space - first_space - 1);
  if (!is_token(method)) return malformed("malformed request line: the method must be a token");
  if (target.empty() || target.find('\t') != std::string_view::npos) {  // the line has no other controls
    return malformed("malformed request line: the target must be non-empty, without spaces or control characters");
  }
  const auto version = parse_version(line.substr(second_space + 1));
  if (!version) return malformed("malformed request line: it must end with the version, as in HTTP/1.1");
  if (*version != 10 && *version != 11) {
    return errors::Problem(505, "/problems/http-version", "HTTP version not supported", "send HTTP/1.1 (or HTTP/1.0)");
  }
  head.version = *version;
  request.method = method;
  request.target = target;
  return std::nullopt;
}

std::optional<std::uint64_t> parse_content_length(std::string_view value) {
  if (value.empty() || value.size() > 19) return std::nullopt;  // 19 digits always fit in 64 bits
  std::uint64_t length = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    length = length * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return length;
}

// We decode chunked and nothing else; any other framing is refused before the body is read,
// because a body whose length two parsers could disagree on is how requests get smuggled.
std::optional<errors::Problem> check_transfer_encoding(const Headers& headers, RequestHead& head) {
  if (head.content_length) return malformed("send either Transfer-Encoding or Content-Length, not both");
  if (head.version == 10) return malformed("Transfer-Encoding is not allowed in HTTP/1.0 requests");
  const auto codings = header_list(headers, "Transfer-Encoding");
  if (codings.empty() || !iequals(codings.back(), "chunked")) {
    return malformed("Transfer-Encoding must end with chunked, or the body length is unknown");
  }
  if (codings.size() > 1) {
    return errors::Problem(501, "/problems/transfer-coding", "Transfer coding not implemented",
                           "only Transfer-Encoding: chunked is supported");
  }
  head.chunked = true;
  return std::nullopt;
}

}  // namespace

std::optional<errors::Problem> parse_request_head(std::string_view text, RequestHead& head, Request& request) {
  auto& headers = request.headers;
  head = RequestHead{};
  std::size_t position = 0;
  // The next line without its CRLF; false when a CR is not followed by LF or no CRLF is left.
  // A bare LF stays inside the line and is refused there as a control character.
  auto next_line = [&](std::string_view& line) {
    const auto* start = text.data() + position;
    const auto* cr = static_cast<const char*>(std::memchr(start, '\r', text.size() - position));
    if (cr == nullptr || cr + 1 == text.data() + text.size() || cr[1] != '\n') return false;
    line = std::string_view(start, static_cast<std::size_t>(cr - start));
    position += line.size() + 2;
    return true;
  };
  constexpr std::string_view kBareLineBreak = "bare CR or LF in the request head; lines must end with CRLF";

  std::string_view line;
  if (!next_line(line)) return malformed(std::string(kBareLineBreak));
  if (has_forbidden_byte(line)) return malformed(std::string(kBareLineBreak) + ", and hold no control characters");
  if (auto problem = parse_request_line(line, head, request)) return problem;

  bool has_transfer_encoding = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  while (true) {
    if (!next_line(line)) return malformed(std::string(kBareLineBreak));
    if (line.empty()) break;
    if (is_whitespace(line.front())) {
      return malformed("a header line starts with whitespace (obsolete line folding is not accepted)");
    }
    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    if (colon == std::string_view::npos || !is_token(name)) {
      return malformed("malformed header line: a field name is a token followed by ':' with no space before it");
    }
    const auto value = trim_whitespace(line.substr(colon + 1));
    if (has_forbidden_byte(value)) {
      return malformed("header field '" + std::string(name) + "' holds a control character; remove it");
    }
    if (iequals(name, "Content-Length")) {
      if (head.content_length) return malformed("send Content-Length once");
      head.content_length = parse_content_length(value);
      if (!head.content_length) return malformed("Content-Length must be a decimal number of bytes");
    } else if (iequals(name, "Transfer-Encoding")) {
      has_transfer_encoding = true;
    } else if (iequals(name, "Connection")) {
      for (const auto option : split_list(value)) {
        connection_close = connection_close || iequals(option, "close");
        connection_keep_alive = connection_keep_alive || iequals(option, "keep-alive");
      }
    }
    headers.add(std::string(name), std::string(value));
  }
  if (position != text.size()) return malformed("the request head must end at its first empty line");
  if (has_transfer_encoding) {
    if (auto problem = check_transfer_encoding(headers, head)) return problem;
  }
  head.keep_alive = !connection_close && (head.version == 11 || connection_keep_alive);
  return std::nullopt;
}

}  // namespace intercab::http
