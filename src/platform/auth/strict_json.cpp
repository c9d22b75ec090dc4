// Strict JSON parsing: Boost.JSON's own value builder plus a check for duplicate object keys.
#include "platform/auth/strict_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <string>
#include <unordered_set>
#include <vector>

namespace intercab::auth {
namespace {

namespace json = boost::json;

// The handler of boost::json::parser (detail/handler.hpp), which feeds a value_stack, plus one set
// of keys per open object: a key seen twice in the same object stops the parse.
class DuplicateKeyRejectingHandler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  json::value_stack stack;
  bool duplicate_key = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_object_begin(json::error_code&) {
    keys_of_open_objects_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    keys_of_open_objects_.pop_back();
    stack.push_object(n);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    pending_key_.append(s.data(), s.size());
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    pending_key_.append(s.data(), s.size());
    const bool inserted = keys_of_open_objects_.back().insert(std::move(pending_key_)).second;
    pending_key_.clear();
    if (!inserted) {
      duplicate_key = true;
      ec = json::error::syntax;  // any error code stops the parser; `duplicate_key` says why
      return false;
    }
    stack.push_key(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    stack.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::vector<std::unordered_set<std::string>> keys_of_open_objects_;
  std::string pending_key_;
};

}  // namespace

std::optional<json::value> parse_json_strict(std::string_view text, std::size_t max_depth) {
  json::parse_options options;  // defaults: no comments, no trailing commas, UTF-8 checked
  options.max_depth = max_depth;
  json::basic_parser<DuplicateKeyRejectingHandler> parser(options);
  parser.handler().stack.reset();
  json::error_code ec;
  const auto consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || consumed != text.size() || !parser.done()) return std::nullopt;
  return parser.handler().stack.release();
}

}  // namespace intercab::auth
