// Checks request input at the edge: JSON bodies (syntax, then a declarative schema) and query strings.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace intercab::validate {

// ---------------------------------------------------------------------------------------------------------------
// JSON bodies: syntax

// API conventions: a body nested deeper than this is a 400, and the limit keeps parsing off the call stack's edge.
inline constexpr std::size_t kMaxJsonDepth = 64;

// True for application/json and application/<anything>+json, parameters allowed, charset (if given) UTF-8.
bool is_json_content_type(std::string_view content_type);

// Parses a request body. Throws errors::UnsupportedMediaType unless is_json_content_type(content_type), and
// errors::BadRequest for an empty body, malformed JSON (the detail says line, column and what is wrong), invalid
// UTF-8 or nesting deeper than kMaxJsonDepth. Any JSON value is returned; validate_body insists on an object.
boost::json::value parse_json_body(std::string_view content_type, std::string_view body);

// ---------------------------------------------------------------------------------------------------------------
// JSON bodies: schema. Builders are immutable values, so a schema is usually a `const auto kSomething = Object{...}`
// at namespace scope; builder misuse (min > max, an enum default that is not a member) throws std::invalid_argument
// while that constant is built, i.e. at start-up.

enum class Format {
  kEmail,           // name@example.com: ASCII, one @, a dotted domain with a letter TLD
  kE164India,       // +91 then a 10-digit mobile number starting with 6-9: +919876543210
  kTimestampUtc,    // RFC 3339 in UTC with Z, optional fraction: 2026-11-24T06:30:00Z
  kUuid,            // lower-case 8-4-4-4-12 hex: 0190f5a4-7c1e-7d2a-9b3c-1234567890ab
  kLowerSnakeCase,  // enum-like words: one_way, tempo_traveller
};

class String;
class Integer;
class Number;
class Boolean;
class Enum;
class Sort;
class Array;
class Object;

namespace detail {
struct Node;  // one of the builders above, defined in validate.cpp
}  // namespace detail

// Any rule; every builder converts to it implicitly so that arrays and objects can hold any rule.
class Schema {
 public:
  // NOLINTBEGIN(google-explicit-constructor): `{"seats", Integer().range(1, 17)}` must read as a field.
  Schema(const String& rule);
  Schema(const Integer& rule);
  Schema(const Number& rule);
  Schema(const Boolean& rule);
  Schema(const Enum& rule);
  Schema(const Sort& rule);
  Schema(const Array& rule);
  Schema(const Object& rule);
  // NOLINTEND(google-explicit-constructor)

  const detail::Node& node() const { return *node_; }

 private:
  std::shared_ptr<const detail::Node> node_;
};

struct Field {
  std::string name;
  Schema schema;
};

namespace detail {

// What every rule shares: may the member be absent or null, and what does an absent member become.
struct Presence {
  bool optional = false;
  bool nullable = false;
  std::optional<boost::json::value> default_value;
};

struct StringSpec : Presence {
  std::optional<std::size_t> min_length;  // in Unicode code points, as a client counts characters
  std::optional<std::size_t> max_length;
  std::optional<Format> format;
  std::shared_ptr<const std::regex> pattern;
  std::string pattern_description;
  bool multiline = false;
};

struct IntegerSpec : Presence {
  std::optional<std::int64_t> min;
  std::optional<std::int64_t> max;
};

struct NumberSpec : Presence {
  std::optional<double> min;
  std::optional<double> max;
};

struct BooleanSpec : Presence {};

struct EnumSpec : Presence {
  std::vector<std::string> values;
};

struct SortSpec : Presence {
  std::vector<std::string> fields;
};

struct ArraySpec : Presence {
  std::optional<Schema> items;  // always set by Array's constructor; optional only to defer construction
  std::optional<std::size_t> min_items;
  std::optional<std::size_t> max_items;
};

struct ObjectSpec : Presence {
  std::vector<Field> fields;
};

// The modifiers every builder has. Each returns a changed copy, so a shared base schema is never altered.
template <typename Self, typename Spec>
class Rule {
 public:
  // The member may be left out; with a default value it is filled in instead.
  [[nodiscard]] Self optional() const {
    return with([](Spec& spec) { spec.optional = true; });
  }
  // The member may be JSON null (e.g. to clear a note). Has no meaning in a query string.
  [[nodiscard]] Self nullable() const {
    return with([](Spec& spec) { spec.nullable = true; });
  }

  const Spec& spec() const { return spec_; }

 protected:
  Spec& mutable_spec() { return spec_; }  // for constructors only; builder methods return changed copies

  template <typename Change>
  Self with(Change change) const {
    Self copy = static_cast<const Self&>(*this);
    change(static_cast<Rule&>(copy).spec_);
    return copy;
  }

 private:
  Spec spec_;
};

}  // namespace detail

// A string. Control characters (U+0000-U+001F, U+007F-U+009F) are always rejected unless multiline() lets line
// breaks and tabs through; lengths count code points.
class String : public detail::Rule<String, detail::StringSpec> {
 public:
  [[nodiscard]] String min_length(std::size_t code_points) const;
  [[nodiscard]] String max_length(std::size_t code_points) const;
  [[nodiscard]] String format(Format kind) const;
  // ECMAScript regex that must match the whole string; `description` completes "must be ...", e.g. "a vehicle
  // registration number such as KA01AB1234". std::regex recurses per character, so strings longer than
  // kMaxPatternInputLength are rejected before matching.
  [[nodiscard]] String pattern(const std::string& regex, std::string description) const;
  // Lets \n, \r and \t through, for addresses and notes.
  [[nodiscard]] String multiline() const;
  [[nodiscard]] String default_value(std::string value) const;

  static constexpr std::size_t kMaxPatternInputLength = 256;
};

// A whole number that fits int64. 3.0 is accepted (JSON does not distinguish it from 3); 3.5 and 1e30 are not, and
// beyond 2^53 only the plain form (1000000000000000000, not 1e18) is, since a double may have rounded it.
class Integer : public detail::Rule<Integer, detail::IntegerSpec> {
 public:
  [[nodiscard]] Integer range(std::int64_t min, std::int64_t max) const;
  [[nodiscard]] Integer at_least(std::int64_t min) const;
  [[nodiscard]] Integer at_most(std::int64_t max) const;
  [[nodiscard]] Integer default_value(std::int64_t value) const;
};

// Any finite number (coordinates, distances); money is never a Number, it is Integer paise.
class Number : public detail::Rule<Number, detail::NumberSpec> {
 public:
  [[nodiscard]] Number range(double min, double max) const;
  [[nodiscard]] Number at_least(double min) const;
  [[nodiscard]] Number at_most(double max) const;
  [[nodiscard]] Number default_value(double value) const;
};

class Boolean : public detail::Rule<Boolean, detail::BooleanSpec> {
 public:
  [[nodiscard]] Boolean default_value(bool value) const;
};

// A string that is exactly one of `values` (lower snake case by API convention).
class Enum : public detail::Rule<Enum, detail::EnumSpec> {
 public:
  explicit Enum(std::vector<std::string> values);
  [[nodiscard]] Enum default_value(std::string value) const;
};

// A sort key: one of `fields` for ascending order, or it prefixed with '-' for descending.
class Sort : public detail::Rule<Sort, detail::SortSpec> {
 public:
  explicit Sort(std::vector<std::string> fields);
  [[nodiscard]] Sort default_value(std::string value) const;  // "created_at" or "-created_at"
};

class Array : public detail::Rule<Array, detail::ArraySpec> {
 public:
  explicit Array(Schema items);
  [[nodiscard]] Array min_items(std::size_t count) const;
  [[nodiscard]] Array max_items(std::size_t count) const;
};

// An object with exactly these members (unknown members are rejected so that typos surface); each is required
// unless its rule says optional() or has a default.
class Object : public detail::Rule<Object, detail::ObjectSpec> {
 public:
  Object(std::initializer_list<Field> fields);
};

// Beyond this many, further field errors would only bloat the response; a last entry says the list was cut.
inline constexpr std::size_t kMaxFieldErrors = 50;

// Checks `body` against `schema` and collects every problem (up to kMaxFieldErrors), then throws errors::Invalid
// naming each field by its path ("pickup.lat", "stops[2].city_id", "" for the body itself). Returns the object with
// defaults filled in and numbers normalised: as_int64() on an Integer field and as_double() on a Number field
// never throw.
boost::json::object validate_body(boost::json::value body, const Object& schema);

// ---------------------------------------------------------------------------------------------------------------
// Query strings

struct QueryParameter {
  std::string name;
  std::variant<String, Integer, Number, Boolean, Enum, Sort> rule;
};

// The parameters a route accepts, e.g.
//   Query{{"limit", Integer().range(1, 100).default_value(20)}, {"cursor", String().max_length(512).optional()},
//         {"status", Enum({"requested", "confirmed"}).optional()}, {"sort", Sort({"created_at"}).optional()}}
class Query {
 public:
  Query(std::initializer_list<QueryParameter> parameters);
  const std::vector<QueryParameter>& parameters() const { return parameters_; }

 private:
  std::vector<QueryParameter> parameters_;
};

struct SortOrder {
  std::string field;
  bool descending = false;
  bool operator==(const SortOrder&) const = default;
};

// Validated query values by parameter name: Integer -> std::int64_t, Number -> double, Boolean -> bool,
// String and Enum -> std::string, Sort -> SortOrder.
class QueryValues {
 public:
  using Value = std::variant<std::int64_t, double, bool, std::string, SortOrder>;

  // The value given, or the default. Asking for a parameter that is neither, or with the wrong T, is a bug in the
  // handler rather than in the request, so it throws std::logic_error (a 500).
  template <typename T>
  const T& get(std::string_view name) const {
    const T* value = find_typed<T>(name);
    if (value == nullptr) throw std::logic_error("query parameter '" + std::string(name) + "' has no value; use find");
    return *value;
  }

  // The value given or defaulted, or nullopt for an optional parameter left out.
  template <typename T>
  std::optional<T> find(std::string_view name) const {
    const T* value = find_typed<T>(name);
    return value == nullptr ? std::nullopt : std::optional<T>(*value);
  }

  bool contains(std::string_view name) const { return values_.find(name) != values_.end(); }

 private:
  friend QueryValues validate_query(const std::map<std::string, std::string>& params, const Query& schema);
  explicit QueryValues(std::map<std::string, Value, std::less<>> values) : values_(std::move(values)) {}

  template <typename T>
  const T* find_typed(std::string_view name) const {
    static_assert(std::is_same_v<T, std::int64_t> || std::is_same_v<T, double> || std::is_same_v<T, bool> ||
                      std::is_same_v<T, std::string> || std::is_same_v<T, SortOrder>,
                  "query values are std::int64_t, double, bool, std::string or SortOrder");
    auto it = values_.find(name);
    if (it == values_.end()) return nullptr;
    const T* value = std::get_if<T>(&it->second);
    if (value == nullptr) throw std::logic_error("query parameter '" + std::string(name) + "' has another type");
    return value;
  }

  std::map<std::string, Value, std::less<>> values_;
};

// Checks every parameter (unknown ones included) and throws errors::Invalid listing all problems at once, e.g.
// {"limit", "must be an integer between 1 and 100"}. `params` are already percent-decoded; a repeated parameter
// must be rejected by whoever builds the map, as the map cannot hold both.
QueryValues validate_query(const std::map<std::string, std::string>& params, const Query& schema);

}  // namespace intercab::validate
