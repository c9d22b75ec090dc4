// JSON body parsing, schema checks and query-string checks; every failure becomes a typed error with a fix-it reason.
#include "platform/validate/validate.hpp"

#include <algorithm>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <utility>

#include "platform/errors/errors.hpp"
#include "platform/text/text.hpp"

namespace intercab::validate {

namespace detail {
struct Node {
  std::variant<String, Integer, Number, Boolean, Enum, Sort, Array, Object> rule;
};
}  // namespace detail

namespace {

using Reason = std::optional<std::string>;

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
using ::intercab::text::kReplacementCharacter;

// ---------------------------------------------------------------------------------------------------------------
// Text

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return ascii_lower(c); });
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_lower(ascii_lower(c)); }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

struct CodePoint {
  char32_t value;
  std::size_t size;
};

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
std::optional<CodePoint> decode_utf8(std::string_view input, std::size_t at) {
  const auto decoded = ::intercab::text::decode_utf8(input, at);
  if (!decoded.valid) return std::nullopt;
  return CodePoint{decoded.value, decoded.size};
}

bool is_control(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

// Request text echoed in an error: invalid UTF-8 becomes U+FFFD and long text is cut, so that the problem document
// is always valid UTF-8 and stays small whatever the client sent.
std::string for_display(std::string_view text, std::size_t max_code_points = 64) {
  std::string out;
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++count) {
    if (count == max_code_points) {
      out += kEllipsis;
      break;
    }
    if (auto code_point = decode_utf8(text, i)) {
      out += text.substr(i, code_point->size);
      i += code_point->size;
    } else {
      out += kReplacementCharacter;
      ++i;
    }
  }
  return out;
}

std::string to_text(std::int64_t number) { return std::to_string(number); }
std::string to_text(std::size_t number) { return std::to_string(number); }

// Shortest form that reads back as the same double: "90", "-12.5", "1e+21", never "90.000000".
std::string to_text(double number) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
  return std::string(buffer, result.ptr);
}

// ---------------------------------------------------------------------------------------------------------------
// Content type

// RFC 9110 tchar.
bool is_token_char(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A header echoed in an error: headers are ASCII, so anything else is shown as '?'.
std::string header_for_display(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 100)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
  if (value.size() > 100) out += "...";
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON syntax errors

bool is_json_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string hex_byte(unsigned char byte) {
  constexpr std::string_view kDigits = "0123456789ABCDEF";
  return {kDigits[byte >> 4], kDigits[byte & 0xF]};
}

std::string what_went_wrong(std::string_view body, std::size_t offset, const boost::json::error_code& ec) {
  using boost::json::error;
  if (ec == error::too_deep) {
    return "arrays and objects are nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
  }
  if (ec == error::incomplete) return "the body ends before the JSON value is complete";
  if (ec == error::exponent_overflow) return "the exponent of a number is too large";
  if (ec == error::illegal_leading_surrogate || ec == error::illegal_trailing_surrogate ||
      ec == error::expected_utf16_escape) {
    return "a \\u escape is half of a UTF-16 surrogate pair without the other half";
  }
  if (ec == error::expected_hex_digit) return "a \\u escape needs exactly four hex digits";
  if (ec == error::invalid_escape) return "invalid escape; JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX";
  // Boost reports a high surrogate with no low one after it ("\uD800" then a quote) as a syntax error just past it.
  if (ec == error::syntax && offset >= 6) {
    const auto escape = body.substr(offset - 6, 4);
    if (escape[0] == '\\' && escape[1] == 'u' && ascii_lower(escape[2]) == 'd' &&
        std::string_view("89ab").find(ascii_lower(escape[3])) != std::string_view::npos) {
      return "a \\u escape is half of a UTF-16 surrogate pair without the other half";
    }
  }
  if (ec == error::syntax && offset < body.size()) {
    const auto byte = static_cast<unsigned char>(body[offset]);
    if (byte < 0x20) {
      return "unexpected control character U+00" + hex_byte(byte) + "; inside a string write it as \\u00" +
             hex_byte(byte);
    }
    if (byte == 0x7F) return "unexpected character U+007F";
    if (byte >= 0x80) {
      auto code_point = decode_utf8(body, offset);
      if (!code_point) return "invalid UTF-8 (byte 0x" + hex_byte(byte) + "); send UTF-8 text";
      return "unexpected character '" + std::string(body.substr(offset, code_point->size)) + "'";
    }
    return "unexpected character '" + std::string(1, body[offset]) + "'";
  }
  return ec.message();
}

// Clients fix JSON in an editor, so the position is given as line and column (in characters) as well as bytes.
std::string where(std::string_view body, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    const auto byte = static_cast<unsigned char>(body[i]);
    if (byte == '\n') {
      ++line;
      column = 1;
    } else if ((byte & 0xC0) != 0x80) {  // continuation bytes belong to the character before them
      ++column;
    }
  }
  return "malformed JSON at line " + std::to_string(line) + ", column " + std::to_string(column) + " (byte offset " +
         std::to_string(offset) + ")";
}

// Boost.JSON turns 1e400 into infinity, which has no JSON form: echoed back it would make an invalid document.
bool has_non_finite_number(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_:
      return !std::isfinite(value.get_double());
    case boost::json::kind::array:
      return std::any_of(value.get_array().begin(), value.get_array().end(), has_non_finite_number);
    case boost::json::kind::object:
      return std::any_of(value.get_object().begin(), value.get_object().end(),
                         [](const auto& member) { return has_non_finite_number(member.value()); });
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Formats

bool is_email(std::string_view text) {
  if (text.size() > 254) return false;  // RFC 5321 path limit
  const auto at = text.find('@');
  if (at == std::string_view::npos || text.find('@', at + 1) != std::string_view::npos) return false;
  const auto local = text.substr(0, at);
  const auto domain = text.substr(at + 1);
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.') return false;
  if (local.find("..") != std::string_view::npos) return false;
  for (char c : local) {
    if (!is_alnum(c) && std::string_view(".!#$%&'*+/=?^_`{|}~-").find(c) == std::string_view::npos) return false;
  }
  std::size_t labels = 0;
  std::string_view last_label;
  for (std::size_t start = 0; start <= domain.size();) {
    auto end = domain.find('.', start);
    if (end == std::string_view::npos) end = domain.size();
    const auto label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; })) return false;
    ++labels;
    last_label = label;
    start = end + 1;
  }
  return labels >= 2 && last_label.size() >= 2 && std::all_of(last_label.begin(), last_label.end(), is_alpha);
}

bool is_e164_india(std::string_view text) {
  return text.size() == 13 && text.substr(0, 3) == "+91" && text[3] >= '6' && text[3] <= '9' &&
         std::all_of(text.begin() + 4, text.end(), is_digit);
}

bool is_timestamp_utc(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  if (text.size() < 20 || text.back() != 'Z') return false;
  const auto number = [&](std::size_t at, std::size_t count) -> std::optional<unsigned> {
    unsigned value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (!is_digit(text[i])) return std::nullopt;
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
    }
    return value;
  };
  if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':') return false;
  const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return false;
  const auto fraction = text.substr(19, text.size() - 20);
  if (!fraction.empty()) {
    if (fraction.size() < 2 || fraction.size() > 10 || fraction[0] != '.') return false;
    if (!std::all_of(fraction.begin() + 1, fraction.end(), is_digit)) return false;
  }
  const std::chrono::year_month_day date{std::chrono::year(static_cast<int>(*year)), std::chrono::month(*month),
                                         std::chrono::day(*day)};
  // Leap seconds (:60) are rejected: std::chrono::sys_time, which handlers convert to, cannot hold them.
  return date.ok() && *hour < 24 && *minute < 60 && *second < 60;
}

bool is_lowercase_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_expected = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_expected ? text[i] != '-' : !(is_digit(text[i]) || (text[i] >= 'a' && text[i] <= 'f'))) return false;
  }
  return true;
}

bool is_lower_snake_case(std::string_view text) {
  if (text.empty() || !is_lower(text.front()) || text.back() == '_') return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_' ? text[i - 1] == '_' : !(is_lower(text[i]) || is_digit(text[i]))) return false;
  }
  return true;
}

bool matches(Format format, std::string_view text) {
  switch (format) {
    case Format::kEmail:
      return is_email(text);
    case Format::kE164India:
      return is_e164_india(text);
    case Format::kTimestampUtc:
      return is_timestamp_utc(text);
    case Format::kUuid:
      return is_lowercase_uuid(text);
    case Format::kLowerSnakeCase:
      return is_lower_snake_case(text);
  }
  return false;
}

std::string format_reason(Format format) {
  switch (format) {
    case Format::kEmail:
      return "must be an email address such as name@example.com";
    case Format::kE164India:
      return "must be an Indian mobile number in E.164 form such as +919876543210";
    case Format::kTimestampUtc:
      return "must be an RFC 3339 UTC timestamp such as 2026-11-24T06:30:00Z";
    case Format::kUuid:
      return "must be a lower-case UUID such as 0190f5a4-7c1e-7d2a-9b3c-1234567890ab";
    case Format::kLowerSnakeCase:
      return "must be lower snake case such as one_way";
  }
  return "has an unknown format";
}

// ---------------------------------------------------------------------------------------------------------------
// Scalar rules. Each returns why the value is wrong, in words that tell the client what to send instead.

template <typename T>
std::string range_reason(const std::optional<T>& min, const std::optional<T>& max) {
  if (min && max) return "must be between " + to_text(*min) + " and " + to_text(*max);
  if (min) return "must be at least " + to_text(*min);
  return "must be at most " + to_text(*max);
}

template <typename T>
std::string expectation(std::string_view kind, const std::optional<T>& min, const std::optional<T>& max) {
  std::string out = "must be " + std::string(kind);
  if (min && max) return out + " between " + to_text(*min) + " and " + to_text(*max);
  if (min) return out + " that is at least " + to_text(*min);
  if (max) return out + " that is at most " + to_text(*max);
  return out;
}

template <typename T>
bool in_range(T value, const std::optional<T>& min, const std::optional<T>& max) {
  return (!min || value >= *min) && (!max || value <= *max);
}

std::string one_of(const std::vector<std::string>& values) {
  return "must be one of " + ::intercab::text::join(values, ", ");
}

std::string plural(std::size_t count, std::string_view noun) {
  return std::to_string(count) + " " + std::string(noun) + (count == 1 ? "" : "s");
}

Reason check_text(const detail::StringSpec& spec, std::string_view text) {
  std::size_t length = 0;
  for (std::size_t i = 0; i < text.size(); ++length) {
    auto code_point = decode_utf8(text, i);
    if (!code_point) return "must be valid UTF-8";
    const char32_t c = code_point->value;
    if (is_control(c) && !(spec.multiline && (c == '\n' || c == '\r' || c == '\t'))) {
      return spec.multiline ? "must not contain control characters other than line breaks and tabs"
                            : "must not contain control characters such as line breaks, tabs or NUL";
    }
    i += code_point->size;
  }
  if (spec.min_length && length < *spec.min_length) {
    if (*spec.min_length == 1) return "must not be empty";
    if (spec.max_length) {
      return "must be between " + to_text(*spec.min_length) + " and " + plural(*spec.max_length, "character");
    }
    return "must be at least " + plural(*spec.min_length, "character");
  }
  if (spec.max_length && length > *spec.max_length) return "must be at most " + plural(*spec.max_length, "character");
  if (spec.format && !matches(*spec.format, text)) return format_reason(*spec.format);
  if (spec.pattern) {
    // Checked before matching: std::regex recurses once per character and would exhaust a small thread stack.
    if (length > String::kMaxPatternInputLength || !std::regex_match(text.begin(), text.end(), *spec.pattern)) {
      return "must be " + spec.pattern_description;
    }
  }
  return std::nullopt;
}

// Every integer below 2^53 is exact in a double; above it, 1e18 or 9007199254740993.0 may not be what the client
// meant, so such integers must be written plainly (Boost.JSON parses those as exact int64 or uint64).
constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
constexpr double kInt64Limit = 9223372036854775808.0;      // 2^63

std::string beyond_int64_reason(const detail::IntegerSpec& spec) {
  if (spec.min || spec.max) return range_reason(spec.min, spec.max);
  return "must be an integer between " + to_text(std::numeric_limits<std::int64_t>::min()) + " and " +
         to_text(std::numeric_limits<std::int64_t>::max());
}

// On success the value is rewritten as int64, so handlers can call as_int64() whatever the client wrote (3, 3.0).
Reason check_value(const detail::IntegerSpec& spec, boost::json::value& value) {
  if (const auto* number = value.if_double(); number != nullptr && std::trunc(*number) == *number) {
    const double whole = *number;
    if (std::abs(whole) < kExactIntegerLimit) {
      value = static_cast<std::int64_t>(whole);
    } else if (whole <= -kInt64Limit || whole >= kInt64Limit) {
      return beyond_int64_reason(spec);
    } else if ((spec.min && whole < static_cast<double>(*spec.min)) ||
               (spec.max && whole > static_cast<double>(*spec.max))) {
      return range_reason(spec.min, spec.max);
    } else {
      return "must be written as a plain integer, without a decimal point or exponent";
    }
  }
  if (const auto* number = value.if_uint64()) {
    if (*number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return beyond_int64_reason(spec);
    }
    value = static_cast<std::int64_t>(*number);
  }
  const auto* number = value.if_int64();
  if (number == nullptr) return expectation("an integer", spec.min, spec.max);
  if (!in_range(*number, spec.min, spec.max)) return range_reason(spec.min, spec.max);
  return std::nullopt;
}

// On success the value is rewritten as double, so handlers can call as_double() even when the client sent 12.
Reason check_value(const detail::NumberSpec& spec, boost::json::value& value) {
  double number = 0;
  if (const auto* integer = value.if_int64()) {
    number = static_cast<double>(*integer);
  } else if (const auto* unsigned_integer = value.if_uint64()) {
    number = static_cast<double>(*unsigned_integer);
  } else if (const auto* floating = value.if_double(); floating != nullptr && std::isfinite(*floating)) {
    number = *floating;
  } else {
    return expectation("a number", spec.min, spec.max);
  }
  if (!in_range(number, spec.min, spec.max)) return range_reason(spec.min, spec.max);
  value = number;
  return std::nullopt;
}

Reason check_value(const detail::StringSpec& spec, boost::json::value& value) {
  if (!value.is_string()) return "must be a string";
  return check_text(spec, value.get_string());
}

Reason check_value(const detail::BooleanSpec&, boost::json::value& value) {
  if (!value.is_bool()) return "must be true or false";
  return std::nullopt;
}

Reason check_value(const detail::EnumSpec& spec, boost::json::value& value) {
  const auto* text = value.if_string();
  if (text == nullptr || std::find(spec.values.begin(), spec.values.end(), *text) == spec.values.end()) {
    return one_of(spec.values);
  }
  return std::nullopt;
}

std::optional<SortOrder> parse_sort(const detail::SortSpec& spec, std::string_view text) {
  SortOrder order;
  order.descending = !text.empty() && text.front() == '-';
  order.field = std::string(order.descending ? text.substr(1) : text);
  if (std::find(spec.fields.begin(), spec.fields.end(), order.field) == spec.fields.end()) return std::nullopt;
  return order;
}

std::string sort_reason(const detail::SortSpec& spec) {
  std::vector<std::string> choices;
  for (const auto& field : spec.fields) {
    choices.push_back(field);
    choices.push_back("-" + field);
  }
  return one_of(choices);
}

Reason check_value(const detail::SortSpec& spec, boost::json::value& value) {
  const auto* text = value.if_string();
  if (text == nullptr || !parse_sort(spec, *text)) return sort_reason(spec);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// Builder consistency: mistakes in a schema surface when the schema constant is built, not on some later request.

void require(bool condition, const std::string& what) {
  if (!condition) throw std::invalid_argument("validate schema: " + what);
}

template <typename T>
void require_ordered(const std::optional<T>& min, const std::optional<T>& max) {
  if (min && max) require(*min <= *max, "minimum " + to_text(*min) + " is above maximum " + to_text(*max));
}

template <typename Spec>
void require_valid_default(const Spec& spec) {
  if (!spec.default_value) return;
  boost::json::value copy = *spec.default_value;
  if (auto reason = check_value(spec, copy)) require(false, "default value " + *reason);
}

// ---------------------------------------------------------------------------------------------------------------
// Containers

class FieldErrors {
 public:
  void add(std::string field, std::string reason) {
    if (errors_.size() + 1 >= kMaxFieldErrors) {  // the last slot is kept for the note saying the list was cut
      truncated_ = true;
      return;
    }
    errors_.push_back({std::move(field), std::move(reason)});
  }
  // True once an error had to be dropped: from then on, checking further values only costs time.
  bool overflowing() const { return truncated_; }

  void throw_if_any() {
    if (errors_.empty()) return;
    if (truncated_) {
      errors_.push_back(
          {"", "more fields are invalid; only the first " + std::to_string(errors_.size()) + " are listed"});
    }
    throw errors::Invalid(std::move(errors_));
  }

 private:
  std::vector<errors::FieldError> errors_;
  bool truncated_ = false;
};

const detail::Presence& presence_of(const Schema& schema) {
  return std::visit([](const auto& rule) -> const detail::Presence& { return rule.spec(); }, schema.node().rule);
}

bool is_plain_name(std::string_view key) {
  return !key.empty() && key.size() <= 64 &&
         std::all_of(key.begin(), key.end(), [](char c) { return is_alnum(c) || c == '_'; });
}

// "pickup.lat"; a member whose name would make the path ambiguous (dots, brackets, spaces) is quoted: x["a.b"].
std::string member_path(const std::string& parent, std::string_view key) {
  if (is_plain_name(key)) return parent.empty() ? std::string(key) : parent + "." + std::string(key);
  return parent + "[" + boost::json::serialize(boost::json::string(for_display(key))) + "]";
}

void check_member(const Schema& schema, boost::json::value& value, const std::string& path, FieldErrors& errors);

template <typename Scalar>
void check_rule(const Scalar& rule, boost::json::value& value, const std::string& path, FieldErrors& errors) {
  if (auto reason = check_value(rule.spec(), value)) errors.add(path, std::move(*reason));
}

void check_members(const detail::ObjectSpec& spec, boost::json::object& object, const std::string& path,
                   FieldErrors& errors) {
  for (const Field& field : spec.fields) {
    if (auto* member = object.if_contains(field.name)) {
      check_member(field.schema, *member, member_path(path, field.name), errors);
      continue;
    }
    const auto& presence = presence_of(field.schema);
    if (presence.default_value) {
      object[field.name] = *presence.default_value;
    } else if (!presence.optional) {
      errors.add(member_path(path, field.name), "is required");
    }
  }
  std::string unknown_reason;
  for (const auto& member : object) {
    const auto declared = std::find_if(spec.fields.begin(), spec.fields.end(),
                                       [&](const Field& field) { return field.name == member.key(); });
    if (declared != spec.fields.end()) continue;
    if (unknown_reason.empty()) {
      std::vector<std::string> names;
      for (const auto& field : spec.fields) names.push_back(field.name);
      unknown_reason = names.empty() ? "unknown field; this object takes no fields"
                                     : "unknown field; allowed fields are: " + ::intercab::text::join(names, ", ");
    }
    errors.add(member_path(path, member.key()), unknown_reason);
    if (errors.overflowing()) return;
  }
}

void check_rule(const Object& rule, boost::json::value& value, const std::string& path, FieldErrors& errors) {
  if (auto* object = value.if_object()) {
    check_members(rule.spec(), *object, path, errors);
  } else {
    errors.add(path, "must be an object");
  }
}

void check_rule(const Array& rule, boost::json::value& value, const std::string& path, FieldErrors& errors) {
  auto* array = value.if_array();
  if (array == nullptr) {
    errors.add(path, "must be an array");
    return;
  }
  const auto& spec = rule.spec();
  if (spec.max_items && array->size() > *spec.max_items) {
    errors.add(path, "must have at most " + plural(*spec.max_items, "item"));
    return;  // the items of an oversized array are not worth checking one by one
  }
  if (spec.min_items && array->size() < *spec.min_items) {
    errors.add(path, "must have at least " + plural(*spec.min_items, "item"));
  }
  for (std::size_t i = 0; i < array->size() && !errors.overflowing(); ++i) {
    check_member(*spec.items, (*array)[i], path + "[" + std::to_string(i) + "]", errors);
  }
}

void check_member(const Schema& schema, boost::json::value& value, const std::string& path, FieldErrors& errors) {
  if (value.is_null() && presence_of(schema).nullable) return;
  std::visit([&](const auto& rule) { check_rule(rule, value, path, errors); }, schema.node().rule);
}

// ---------------------------------------------------------------------------------------------------------------
// Query values arrive as text and are parsed into the declared type.

struct QueryOutcome {
  std::optional<QueryValues::Value> value;
  std::string reason;
};

QueryOutcome parse_query(const String& rule, const std::string& text) {
  if (auto reason = check_text(rule.spec(), text)) return {std::nullopt, *reason};
  return {text, {}};
}

QueryOutcome parse_query(const Integer& rule, const std::string& text) {
  const auto& spec = rule.spec();
  std::int64_t number = 0;
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, number);
  if (text.empty() || result.ec != std::errc() || result.ptr != end || !in_range(number, spec.min, spec.max)) {
    return {std::nullopt, expectation("an integer", spec.min, spec.max)};
  }
  return {number, {}};
}

QueryOutcome parse_query(const Number& rule, const std::string& text) {
  const auto& spec = rule.spec();
  double number = 0;
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, number);
  if (text.empty() || result.ec != std::errc() || result.ptr != end || !std::isfinite(number) ||
      !in_range(number, spec.min, spec.max)) {
    return {std::nullopt, expectation("a number", spec.min, spec.max)};
  }
  return {number, {}};
}

QueryOutcome parse_query(const Boolean&, const std::string& text) {
  if (text == "true") return {true, {}};
  if (text == "false") return {false, {}};
  return {std::nullopt, "must be true or false"};
}

QueryOutcome parse_query(const Enum& rule, const std::string& text) {
  const auto& values = rule.spec().values;
  if (std::find(values.begin(), values.end(), text) == values.end()) return {std::nullopt, one_of(values)};
  return {text, {}};
}

QueryOutcome parse_query(const Sort& rule, const std::string& text) {
  if (auto order = parse_sort(rule.spec(), text)) return {std::move(*order), {}};
  return {std::nullopt, sort_reason(rule.spec())};
}

// Defaults were checked when the schema was built, so they convert without further checks.
QueryValues::Value query_default(const String&, const boost::json::value& value) {
  return std::string(value.get_string());
}
QueryValues::Value query_default(const Integer&, const boost::json::value& value) { return value.get_int64(); }
QueryValues::Value query_default(const Number&, const boost::json::value& value) { return value.get_double(); }
QueryValues::Value query_default(const Boolean&, const boost::json::value& value) { return value.get_bool(); }
QueryValues::Value query_default(const Enum&, const boost::json::value& value) {
  return std::string(value.get_string());
}
QueryValues::Value query_default(const Sort& rule, const boost::json::value& value) {
  return *parse_sort(rule.spec(), value.get_string());
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Bodies

// RFC 9110: type "/" subtype *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] ), case-insensitive names.
bool is_json_content_type(std::string_view content_type) {
  std::size_t i = 0;
  const auto skip_whitespace = [&] {
    while (i < content_type.size() && (content_type[i] == ' ' || content_type[i] == '\t')) ++i;
  };
  const auto token = [&] {
    const std::size_t start = i;
    while (i < content_type.size() && is_token_char(content_type[i])) ++i;
    return ascii_lower(content_type.substr(start, i - start));
  };
  skip_whitespace();
  const std::string type = token();
  if (i >= content_type.size() || content_type[i] != '/') return false;
  ++i;
  const std::string subtype = token();
  const bool json_subtype =
      subtype == "json" || (subtype.size() > 5 && subtype.compare(subtype.size() - 5, 5, "+json") == 0);
  if (type != "application" || !json_subtype) return false;
  while (true) {
    skip_whitespace();
    if (i == content_type.size()) return true;
    if (content_type[i] != ';') return false;
    ++i;
    skip_whitespace();
    if (i == content_type.size() || content_type[i] == ';') continue;
    const std::string name = token();
    if (name.empty() || i == content_type.size() || content_type[i] != '=') return false;
    ++i;
    std::string value;
    if (i < content_type.size() && content_type[i] == '"') {
      for (++i; i < content_type.size() && content_type[i] != '"'; ++i) {
        if (content_type[i] == '\\' && ++i == content_type.size()) return false;
        value += content_type[i];
      }
      if (i == content_type.size()) return false;  // unterminated quoted-string
      ++i;
    } else {
      value = token();
      if (value.empty()) return false;
    }
    // JSON is UTF-8 (RFC 8259); any other declared charset means the bytes are not what we would parse.
    if (name == "charset" && ascii_lower(value) != "utf-8") return false;
  }
}

boost::json::value parse_json_body(std::string_view content_type, std::string_view body) {
  if (!is_json_content_type(content_type)) {
    throw errors::UnsupportedMediaType(header_for_display(content_type), "application/json (UTF-8)");
  }
  if (std::all_of(body.begin(), body.end(), is_json_whitespace)) {
    throw errors::BadRequest("request body is empty; send a JSON object");
  }
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  // Strict RFC 8259, stated rather than left to the defaults: no comments, no trailing commas, UTF-8 only.
  options.allow_comments = false;
  options.allow_trailing_commas = false;
  options.allow_invalid_utf8 = false;
  boost::json::parser parser(boost::json::storage_ptr(), options);
  boost::json::error_code ec;
  // write_some, unlike parse(), reports how far it got, which is where the error is.
  const std::size_t consumed = parser.write_some(body.data(), body.size(), ec);
  if (ec) {
    const std::size_t offset = std::min(consumed, body.size());
    throw errors::BadRequest(where(body, offset) + ": " + what_went_wrong(body, offset, ec));
  }
  const auto rest =
      std::find_if_not(body.begin() + static_cast<std::ptrdiff_t>(consumed), body.end(), is_json_whitespace);
  if (rest != body.end()) {
    throw errors::BadRequest(where(body, static_cast<std::size_t>(rest - body.begin())) +
                             ": unexpected data after the JSON value; send exactly one value");
  }
  boost::json::value document = parser.release();
  // Recursion is safe here: the parser has already capped nesting at kMaxJsonDepth.
  if (has_non_finite_number(document)) {
    throw errors::BadRequest(
        "malformed JSON: a number is too large to represent; keep numbers within 1.7e308 in magnitude");
  }
  return document;
}

Schema::Schema(const String& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}
Schema::Schema(const Integer& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}
Schema::Schema(const Number& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}
Schema::Schema(const Boolean& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}
Schema::Schema(const Enum& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}
Schema::Schema(const Sort& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}
Schema::Schema(const Array& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}
Schema::Schema(const Object& rule) : node_(std::make_shared<const detail::Node>(detail::Node{rule})) {}

namespace {
String verified(String rule) {
  require_ordered(rule.spec().min_length, rule.spec().max_length);
  require_valid_default(rule.spec());
  return rule;
}
Integer verified(Integer rule) {
  require_ordered(rule.spec().min, rule.spec().max);
  require_valid_default(rule.spec());
  return rule;
}
Number verified(Number rule) {
  require_ordered(rule.spec().min, rule.spec().max);
  require_valid_default(rule.spec());
  return rule;
}
}  // namespace

String String::min_length(std::size_t code_points) const {
  return verified(with([&](auto& spec) { spec.min_length = code_points; }));
}
String String::max_length(std::size_t code_points) const {
  return verified(with([&](auto& spec) { spec.max_length = code_points; }));
}
String String::format(Format kind) const {
  return verified(with([&](auto& spec) { spec.format = kind; }));
}
String String::pattern(const std::string& regex, std::string description) const {
  auto compiled = std::make_shared<const std::regex>(regex, std::regex::ECMAScript);
  return verified(with([&](auto& spec) {
    spec.pattern = std::move(compiled);
    spec.pattern_description = std::move(description);
  }));
}
String String::multiline() const {
  return verified(with([](auto& spec) { spec.multiline = true; }));
}
String String::default_value(std::string value) const {
  return verified(with([&](auto& spec) { spec.default_value = boost::json::string(value); }));
}

Integer Integer::range(std::int64_t min, std::int64_t max) const {
  return verified(with([&](auto& spec) {
    spec.min = min;
    spec.max = max;
  }));
}
Integer Integer::at_least(std::int64_t min) const {
  return verified(with([&](auto& spec) { spec.min = min; }));
}
Integer Integer::at_most(std::int64_t max) const {
  return verified(with([&](auto& spec) { spec.max = max; }));
}
Integer Integer::default_value(std::int64_t value) const {
  return verified(with([&](auto& spec) { spec.default_value = value; }));
}

Number Number::range(double min, double max) const {
  require(std::isfinite(min) && std::isfinite(max), "Number bounds must be finite");
  return verified(with([&](auto& spec) {
    spec.min = min;
    spec.max = max;
  }));
}
Number Number::at_least(double min) const {
  require(std::isfinite(min), "Number bounds must be finite");
  return verified(with([&](auto& spec) { spec.min = min; }));
}
Number Number::at_most(double max) const {
  require(std::isfinite(max), "Number bounds must be finite");
  return verified(with([&](auto& spec) { spec.max = max; }));
}
Number Number::default_value(double value) const {
  return verified(with([&](auto& spec) { spec.default_value = value; }));
}

Boolean Boolean::default_value(bool value) const {
  return with([&](auto& spec) { spec.default_value = value; });
}

Enum::Enum(std::vector<std::string> values) {
  require(!values.empty(), "Enum needs at least one value");
  for (std::size_t i = 0; i < values.size(); ++i) {
    require(std::find(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(i), values[i]) ==
                values.begin() + static_cast<std::ptrdiff_t>(i),
            "Enum value '" + values[i] + "' is listed twice");
  }
  mutable_spec().values = std::move(values);
}
Enum Enum::default_value(std::string value) const {
  auto rule = with([&](auto& spec) { spec.default_value = boost::json::string(value); });
  require_valid_default(rule.spec());
  return rule;
}

Sort::Sort(std::vector<std::string> fields) {
  require(!fields.empty(), "Sort needs at least one field");
  mutable_spec().fields = std::move(fields);
}
Sort Sort::default_value(std::string value) const {
  auto rule = with([&](auto& spec) { spec.default_value = boost::json::string(value); });
  require_valid_default(rule.spec());
  return rule;
}

Array::Array(Schema items) { mutable_spec().items = std::move(items); }
Array Array::min_items(std::size_t count) const {
  auto rule = with([&](auto& spec) { spec.min_items = count; });
  require_ordered(rule.spec().min_items, rule.spec().max_items);
  return rule;
}
Array Array::max_items(std::size_t count) const {
  auto rule = with([&](auto& spec) { spec.max_items = count; });
  require_ordered(rule.spec().min_items, rule.spec().max_items);
  return rule;
}

Object::Object(std::initializer_list<Field> fields) {
  for (auto field = fields.begin(); field != fields.end(); ++field) {
    require(std::none_of(fields.begin(), field, [&](const Field& other) { return other.name == field->name; }),
            "field '" + field->name + "' is declared twice");
  }
  mutable_spec().fields.assign(fields.begin(), fields.end());
}

boost::json::object validate_body(boost::json::value body, const Object& schema) {
  auto* object = body.if_object();
  if (object == nullptr) throw errors::Invalid("", "must be a JSON object");
  FieldErrors errors;
  check_members(schema.spec(), *object, "", errors);
  errors.throw_if_any();
  return std::move(*object);
}

// ---------------------------------------------------------------------------------------------------------------
// Query strings

Query::Query(std::initializer_list<QueryParameter> parameters) : parameters_(parameters) {
  for (auto parameter = parameters_.begin(); parameter != parameters_.end(); ++parameter) {
    require(std::none_of(parameters_.begin(), parameter,
                         [&](const QueryParameter& other) { return other.name == parameter->name; }),
            "query parameter '" + parameter->name + "' is declared twice");
    std::visit([&](const auto& rule) { require(!rule.spec().nullable, parameter->name + " cannot be nullable"); },
               parameter->rule);
  }
}

QueryValues validate_query(const std::map<std::string, std::string>& params, const Query& schema) {
  FieldErrors errors;
  std::map<std::string, QueryValues::Value, std::less<>> values;
  for (const auto& parameter : schema.parameters()) {
    const auto given = params.find(parameter.name);
    std::visit(
        [&](const auto& rule) {
          const auto& spec = rule.spec();
          if (given == params.end()) {
            if (spec.default_value) {
              values.emplace(parameter.name, query_default(rule, *spec.default_value));
            } else if (!spec.optional) {
              errors.add(parameter.name, "is required");
            }
            return;
          }
          auto outcome = parse_query(rule, given->second);
          if (outcome.value) {
            values.emplace(parameter.name, std::move(*outcome.value));
          } else {
            errors.add(parameter.name, std::move(outcome.reason));
          }
        },
        parameter.rule);
  }
  std::string unknown_reason;
  for (const auto& [given_name, value] : params) {
    const std::string& name = given_name;  // clang 14 cannot capture a structured binding in a lambda
    const auto& declared = schema.parameters();
    if (std::any_of(declared.begin(), declared.end(), [&](const auto& parameter) { return parameter.name == name; })) {
      continue;
    }
    if (unknown_reason.empty()) {
      std::vector<std::string> names;
      names.reserve(declared.size());
      for (const auto& parameter : declared) names.push_back(parameter.name);
      unknown_reason = names.empty()
                           ? "unknown parameter; this endpoint takes no query parameters"
                           : "unknown parameter; allowed parameters are: " + ::intercab::text::join(names, ", ");
    }
    errors.add(for_display(name), unknown_reason);
  }
  errors.throw_if_any();
  return QueryValues(std::move(values));
}

}  // namespace intercab::validate
