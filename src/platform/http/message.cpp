// Headers and the response factories.
#include "platform/http/message.hpp"

#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace intercab::http {
namespace {

void append_double(std::string& out, double number) {
  if (!std::isfinite(number)) {
    out += "null";
    return;
  }
  std::array<char, 32> digits{};
  const auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), number);
  const std::string_view text(digits.data(), static_cast<std::size_t>(end - digits.data()));
  out += text;
  if (error == std::errc{} && text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void append_json(std::string& out, const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_:
      append_double(out, value.get_double());
      return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& element : value.get_array()) {
        if (!first) out += ',';
        first = false;
        append_json(out, element);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& member : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(member.key());
        out += ':';
        append_json(out, member.value());
      }
      out += '}';
      return;
    }
    default:  // strings (escaping), integers, booleans, null
      out += boost::json::serialize(value);
      return;
  }
}

}  // namespace

std::string to_json_text(const boost::json::value& value) {
  std::string out;
  append_json(out, value);
  return out;
}

namespace {

// tchar of RFC 9110 §5.6.2 by byte value: a table, as every header name of every request is checked.
constexpr std::array<bool, 256> kTokenCharacters = [] {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

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

// Whether `text` holds a forbidden byte, eight bytes at a time, the last eight overlapping the
// previous ones; only a word with a control character (usually a HTAB) is looked at byte by byte.
bool has_forbidden_byte_by_words(std::string_view text) {
  const auto bytewise = [](std::string_view part) { return std::any_of(part.begin(), part.end(), is_forbidden); };
  if (text.size() < 8) return bytewise(text);
  for (std::size_t i = 0;; i += 8) {
    const auto start = std::min(i, text.size() - 8);
    if (word_has_control(text.data() + start) && bytewise(text.substr(start, 8))) return true;
    if (start == text.size() - 8) return false;
  }
}

}  // namespace

// A bearer token alone is hundreds of bytes: where SSE2 is there (every x86-64), sixteen at a
// time, the last sixteen overlapping the previous ones; shorter texts, and every text elsewhere,
// by words.
bool has_control_character(std::string_view text) {
#if defined(__SSE2__)
  if (text.size() >= 16) {
    const auto below_space_limit = _mm_set1_epi8(0x1f);
    const auto delete_byte = _mm_set1_epi8(0x7f);
    const auto tab = _mm_set1_epi8('\t');
    for (std::size_t i = 0;; i += 16) {
      const auto start = std::min(i, text.size() - 16);
      const auto block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + start));
      const auto below_space = _mm_cmpeq_epi8(_mm_min_epu8(block, below_space_limit), block);
      const auto control = _mm_or_si128(below_space, _mm_cmpeq_epi8(block, delete_byte));
      if (_mm_movemask_epi8(_mm_andnot_si128(_mm_cmpeq_epi8(block, tab), control)) != 0) return true;
      if (start == text.size() - 16) return false;
    }
  }
#endif
  return has_forbidden_byte_by_words(text);
}

bool is_token(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return kTokenCharacters[static_cast<unsigned char>(c)]; });
}

// Connection, Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding, Upgrade and Content-Length, by length first: every header of every forwarded
// request and response is checked.
bool is_hop_by_hop_or_framing(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 14:
      return iequals(name, "content-length");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    case 18:
      return iequals(name, "proxy-authenticate");
    case 19:
      return iequals(name, "proxy-authorization");
    default:
      return false;
  }
}

void append_field(std::string& head, std::string_view name, std::string_view value) {
  // One size change instead of four appends.
  const auto start = head.size();
  head.resize(start + name.size() + value.size() + 4);
  char* at = head.data() + start;
  at = std::copy(name.begin(), name.end(), at);
  *at++ = ':';
  *at++ = ' ';
  at = std::copy(value.begin(), value.end(), at);
  *at++ = '\r';
  *at = '\n';
}

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> elements;
  for_each_list_element(value, [&elements](std::string_view element) { elements.push_back(element); });
  return elements;
}

std::vector<std::string_view> header_list(const Headers& headers, std::string_view name) {
  std::vector<std::string_view> elements;
  for (const auto& [field, value] : headers.fields()) {
    if (!iequals(field, name)) continue;
    const auto parts = split_list(value);
    elements.insert(elements.end(), parts.begin(), parts.end());
  }
  return elements;
}

void Headers::set(std::string_view name, std::string value) {
  remove(name);
  add(std::string(name), std::move(value));
}

void Headers::remove(std::string_view name) {
  std::erase_if(fields_, [&](const auto& field) { return iequals(field.first, name); });
}

std::string_view Headers::get(std::string_view name) const {
  for (const auto& [field, value] : fields_) {
    if (iequals(field, name)) return value;
  }
  return {};
}

bool Headers::contains(std::string_view name) const { return count(name) > 0; }

std::size_t Headers::count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(fields_.begin(), fields_.end(), [&](const auto& field) { return iequals(field.first, name); }));
}

Response Response::json(const boost::json::value& body, int status) {
  Response response;
  response.status = status;
  response.headers.set("Content-Type", "application/json");
  response.body = to_json_text(body);
  return response;
}

Response Response::text(std::string body, std::string content_type, int status) {
  Response response;
  response.status = status;
  response.headers.set("Content-Type", std::move(content_type));
  response.body = std::move(body);
  return response;
}

Response Response::empty(int status) {
  Response response;
  response.status = status;
  return response;
}

Response Response::events(std::shared_ptr<EventStreamSource> source) {
  Response response;
  response.headers.set("Content-Type", "text/event-stream");
  response.headers.set("Cache-Control", "no-store");
  response.event_stream = std::move(source);
  return response;
}

}  // namespace intercab::http
