// HTTP request and response as handlers see them: plain values, no Beast types.
#pragma once

#include <boost/json/fwd.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/trace/trace.hpp"

namespace intercab::http {

// Header fields in arrival order; lookups ignore case (RFC 9110 §5.1).
class Headers {
 public:
  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  void reserve(std::size_t fields) { fields_.reserve(fields); }
  // Replaces every field of that name with one.
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  // The first field of that name, or empty.
  std::string_view get(std::string_view name) const;
  bool contains(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// ASCII case-insensitive equality (header names, tokens). Inline: called for every header of every request.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// RFC 9110 §5.6.2: a non-empty run of token characters (header names, methods, codings).
bool is_token(std::string_view text);

// Whether `text` holds a byte that no field value or request target may hold: a control character
// other than HTAB, or DEL (RFC 9110 §5.5); CR, LF and NUL among them.
bool has_control_character(std::string_view text);

// Fields a proxy never passes on as received: hop-by-hop ones (RFC 9110 §7.6.1, plus the
// pre-standard Proxy-Connection, still sent by some clients) and the framing field Content-Length
// (the proxy frames the body it actually sends). Fields that a Connection field names are
// hop-by-hop too; that is the caller's check, since it needs the whole list.
bool is_hop_by_hop_or_framing(std::string_view name);

// Appends the field line "name: value\r\n" to a message head being written. The caller has checked
// both (a token name, a value without control characters but HTAB): heads are written field by field for every
// forwarded request, so this copies without looking.
void append_field(std::string& head, std::string_view name, std::string_view value);

// Header fields written out as field lines ("Name: value\r\n"), for the heads the forwarder sends:
// built once per request and copied into a head as they are, without a string pair per field.
// Whoever adds a field guarantees a token name, a value without control characters but HTAB, and each name once.
class FieldLines {
 public:
  void add(std::string_view name, std::string_view value) { append_field(text_, name, value); }
  void reserve(std::size_t bytes) { text_.reserve(bytes); }
  const std::string& text() const { return text_; }
  bool empty() const { return text_.empty(); }
  // Calls visit(name, value) for each field, in order.
  template <class Visit>
  void for_each(Visit visit) const {
    std::string_view rest = text_;
    while (!rest.empty()) {
      const auto colon = rest.find(':');  // a token name has none
      const auto end = rest.find('\r', colon);
      visit(rest.substr(0, colon), rest.substr(colon + 2, end - colon - 2));
      rest.remove_prefix(end + 2);
    }
  }

 private:
  std::string text_;
};

// Calls visit(element) for each element of a comma-separated header value ("chunked, gzip"),
// trimmed, empty ones skipped. Allocates nothing: heads are parsed with it for every request.
template <class Visit>
void for_each_list_element(std::string_view value, Visit visit) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    auto element = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    const auto first = element.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;
    visit(element.substr(first, element.find_last_not_of(" \t") - first + 1));
  }
}

// The elements of a comma-separated header value, as for_each_list_element visits them.
std::vector<std::string_view> split_list(std::string_view value);

// The elements of every field named `name`, in order: a list header may be sent as several fields.
std::vector<std::string_view> header_list(const Headers& headers, std::string_view name);

struct Request {
  std::string method;                              // upper case, as sent: "GET", "POST"
  std::string target;                              // the request target as received: "/api/v1/bookings/b1?limit=5"
  std::string path;                                // percent-decoded path: "/api/v1/bookings/b1"
  std::map<std::string, std::string> query;        // percent-decoded query parameters
  std::map<std::string, std::string> path_params;  // from the route template: {"id": "b1"}
  Headers headers;
  std::string body;
  std::string route;          // the matched route template: "/api/v1/bookings/{id}"
  std::string request_id;     // X-Request-Id, propagated or generated
  trace::TraceContext trace;  // this request's span (child of the caller's traceparent, if any)
  std::string remote_address;

  std::string_view header(std::string_view name) const { return headers.get(name); }
  // A path parameter declared by the route; asking for an undeclared one is a programming error.
  const std::string& param(const std::string& name) const { return path_params.at(name); }
};

// A server-sent events stream (text/event-stream) that a handler returns instead of a body. The
// server sends the head at once, then calls `poll` on a worker thread every `poll_interval` and
// writes what it returns (whole SSE events, "event: x\ndata: y\n\n"; empty = nothing new). The
// stream ends when `poll` returns nullopt or throws, after `max_duration`, when the client goes away
// or when the server drains; a comment line is sent after `heartbeat_interval` of silence so that
// proxies keep the connection and a vanished client is noticed. `poll` may block (it may read Redis).
struct EventStreamSource {
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds heartbeat_interval{15'000};
  std::chrono::milliseconds max_duration{3'600'000};
  std::function<std::optional<std::string>()> poll;
};

// JSON text of `value` as every response body is written: like boost::json::serialize, except that
// numbers stored as doubles are written in their shortest round-trip decimal form ("28.499", "0.5",
// "12.0", "1e+21"), which Boost 1.81 would write as "2.8499E1"; a double always keeps a '.' or an
// exponent so that it parses back as a double. Non-finite doubles (which JSON cannot express) become null.
std::string to_json_text(const boost::json::value& value);

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  std::shared_ptr<EventStreamSource> event_stream;  // set: the body is this stream, `body` is ignored

  static Response json(const boost::json::value& body, int status = 200);
  static Response text(std::string body, std::string content_type, int status = 200);
  static Response empty(int status);
  static Response events(std::shared_ptr<EventStreamSource> source);
};

}  // namespace intercab::http
