#include "platform/http/message_head.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace intercab::http {

namespace {

bool is_whitespace(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_whitespace(std::string_view text) {
  while (!text.empty() && is_whitespace(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_whitespace(text.back())) text.remove_suffix(1);
  return text;
}

// The version of a start line: "HTTP/1.1" → 11. nullopt when it is not HTTP-version's syntax.
std::optional<unsigned> parse_version(std::string_view text) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (text.size() != 8 || !text.starts_with("HTTP/") || !digit(text[5]) || text[6] != '.' || !digit(text[7])) {
    return std::nullopt;
  }
  return static_cast<unsigned>(text[5] - '0') * 10 + static_cast<unsigned>(text[7] - '0');
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

constexpr std::string_view kBareLineBreak = "bare CR or LF in the head; lines must end with CRLF";

// The lines of a head, each without its CRLF.
class HeadLines {
 public:
  explicit HeadLines(std::string_view text) : text_(text) {}

  // False when no CRLF is left or a CR is not followed by LF. A bare LF stays inside the line
  // (and is refused there as a control character).
  bool next(std::string_view& line) {
    const auto* start = text_.data() + position_;
    const auto* cr = static_cast<const char*>(std::memchr(start, '\r', text_.size() - position_));
    if (cr == nullptr || cr + 1 == text_.data() + text_.size() || cr[1] != '\n') return false;
    line = std::string_view(start, static_cast<std::size_t>(cr - start));
    position_ += line.size() + 2;
    return true;
  }
  bool at_end() const { return position_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t position_ = 0;
};

// What the fields of a head say about the connection and the body.
struct Framing {
  std::optional<std::uint64_t> content_length;
  std::vector<std::string_view> transfer_codings;  // of every Transfer-Encoding field, in order
  bool has_transfer_encoding = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

// Reads the field lines after the start line up to the empty line, which must end the head,
// calling on_field(name, value) for each. Returns what is wrong, if anything.
template <class OnField>
std::optional<std::string> parse_fields(HeadLines& lines, Framing& framing, OnField on_field) {
  std::string_view line;
  while (true) {
    if (!lines.next(line)) return std::string(kBareLineBreak);
    if (line.empty()) break;
    if (is_whitespace(line.front())) {
      return "a header line starts with whitespace (obsolete line folding is not accepted)";
    }
    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    if (colon == std::string_view::npos || !is_token(name)) {
      return "malformed header line: a field name is a token followed by ':' with no space before it";
    }
    const auto value = trim_whitespace(line.substr(colon + 1));
    if (has_control_character(value)) return "header field '" + std::string(name) + "' holds a control character";
    // Content-Length, Transfer-Encoding, Connection: other names are told apart by their length.
    const bool may_frame = name.size() == 14 || name.size() == 17 || name.size() == 10;
    if (!may_frame) {
      // an ordinary field
    } else if (iequals(name, "Content-Length")) {
      if (framing.content_length) return "Content-Length appears more than once";
      framing.content_length = parse_content_length(value);
      if (!framing.content_length) return "Content-Length must be a decimal number of bytes";
    } else if (iequals(name, "Transfer-Encoding")) {
      framing.has_transfer_encoding = true;
      for_each_list_element(value, [&framing](std::string_view coding) { framing.transfer_codings.push_back(coding); });
    } else if (iequals(name, "Connection")) {
      for_each_list_element(value, [&framing](std::string_view option) {
        framing.connection_close = framing.connection_close || iequals(option, "close");
        framing.connection_keep_alive = framing.connection_keep_alive || iequals(option, "keep-alive");
      });
    }
    on_field(name, value);
  }
  if (!lines.at_end()) return "the head must end at its first empty line";
  if (framing.has_transfer_encoding && framing.content_length) {
    return "send either Transfer-Encoding or Content-Length, not both";
  }
  return std::nullopt;
}

errors::Problem malformed(std::string detail) { return errors::BadRequest(std::move(detail)); }

std::optional<errors::Problem> parse_request_line(std::string_view line, RequestHead& head, Request& request) {
  if (has_control_character(line)) return malformed("the request line holds a control character");
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

// We decode chunked and nothing else; any other framing is refused before the body is read,
// because a body whose length two parsers could disagree on is how requests get smuggled.
std::optional<errors::Problem> check_transfer_encoding(const Framing& framing, const RequestHead& head) {
  if (head.version == 10) return malformed("Transfer-Encoding is not allowed in HTTP/1.0 requests");
  const auto& codings = framing.transfer_codings;
  if (codings.empty() || !iequals(codings.back(), "chunked")) {
    return malformed("Transfer-Encoding must end with chunked, or the body length is unknown");
  }
  if (codings.size() > 1) {
    return errors::Problem(501, "/problems/transfer-coding", "Transfer coding not implemented",
                           "only Transfer-Encoding: chunked is supported");
  }
  return std::nullopt;
}

}  // namespace

std::optional<errors::Problem> parse_request_head(std::string_view text, RequestHead& head, Request& request) {
  head = RequestHead{};
  HeadLines lines(text);
  std::string_view line;
  if (!lines.next(line)) return malformed(std::string(kBareLineBreak));
  if (auto problem = parse_request_line(line, head, request)) return problem;
  Framing framing;
  auto& headers = request.headers;
  headers.reserve(16);  // one allocation for a usual head
  const auto error = parse_fields(lines, framing, [&headers](std::string_view name, std::string_view value) {
    headers.add(std::string(name), std::string(value));
  });
  if (error) return malformed(*error);
  if (framing.has_transfer_encoding) {
    if (auto problem = check_transfer_encoding(framing, head)) return problem;
    head.chunked = true;
  }
  head.content_length = framing.content_length;
  head.keep_alive = !framing.connection_close && (head.version == 11 || framing.connection_keep_alive);
  return std::nullopt;
}

std::optional<std::string> parse_response_head(std::string_view text, ResponseHead& head) {
  head.version = 11;
  head.status = 0;
  head.reason = {};
  head.fields.clear();
  head.fields.reserve(16);  // one allocation for a usual head
  HeadLines lines(text);
  std::string_view line;
  if (!lines.next(line)) return std::string(kBareLineBreak);
  if (has_control_character(line)) return "the status line holds a control character";
  // HTTP-version SP status-code SP [reason-phrase]; the last space is missing after some servers' codes.
  const auto version = parse_version(line.substr(0, 8));
  const auto code = line.substr(std::min<std::size_t>(9, line.size()), 3);
  const bool digits =
      code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!version || line.size() < 12 || line[8] != ' ' || !digits || (line.size() > 12 && line[12] != ' ')) {
    return "malformed status line: expected 'HTTP/1.1 200 OK'";
  }
  if (*version != 10 && *version != 11) return "the response is not HTTP/1.0 or HTTP/1.1";
  head.version = *version;
  head.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (head.status < 100 || head.status > 599) return "the status code is not between 100 and 599";
  head.reason = line.size() > 12 ? line.substr(13) : std::string_view();
  Framing framing;
  auto error = parse_fields(lines, framing, [&head](std::string_view name, std::string_view value) {
    head.fields.emplace_back(name, value);
  });
  if (error) return error;
  head.content_length = framing.content_length;
  head.chunked = framing.has_transfer_encoding && !framing.transfer_codings.empty() &&
                 iequals(framing.transfer_codings.back(), "chunked");
  head.connection_close = head.version == 11 ? framing.connection_close : !framing.connection_keep_alive;
  if (framing.has_transfer_encoding && !head.chunked) head.content_length.reset();  // read until the close
  return std::nullopt;
}

ResponseHead::Body ResponseHead::body(bool answers_head_request) const {
  if (answers_head_request || status < 200 || status == 204 || status == 304) return Body::kNone;
  if (chunked) return Body::kChunked;
  if (content_length) return *content_length == 0 ? Body::kNone : Body::kLength;
  return Body::kUntilClose;
}

std::string_view ResponseHead::get(std::string_view name) const {
  for (const auto& [field_name, value] : fields) {
    if (iequals(field_name, name)) return value;
  }
  return {};
}

}  // namespace intercab::http
