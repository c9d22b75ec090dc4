// Typed errors that handlers throw; one place (to_problem) turns them into RFC 9457 problem+json.
#pragma once

#include <boost/json/object.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace intercab::errors {

struct FieldError {
  std::string field;   // JSON pointer-like path: "pickup.lat", "stops[2].city_id", or a query/header name
  std::string reason;  // what to change, in words a client developer understands
};

// Base of every error a client can cause or observe. `type` is the problem type URI path
// ("/problems/validation"), `title` a short summary that does not vary between occurrences.
class Problem : public std::runtime_error {
 public:
  Problem(int status, std::string type, std::string title, std::string detail);

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& title() const { return title_; }
  const std::string& detail() const { return detail_; }
  const std::vector<FieldError>& field_errors() const { return field_errors_; }
  // Extra members of the problem document (e.g. current_state) and extra response headers.
  const boost::json::object& extensions() const { return extensions_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

 protected:
  void add_field_error(FieldError error) { field_errors_.push_back(std::move(error)); }
  void set_extension(std::string_view key, boost::json::value value) { extensions_[key] = std::move(value); }
  void add_header(std::string name, std::string value) { headers_.emplace_back(std::move(name), std::move(value)); }

 private:
  int status_;
  std::string type_;
  std::string title_;
  std::string detail_;
  std::vector<FieldError> field_errors_;
  boost::json::object extensions_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

// 400: the request cannot be parsed (malformed JSON, bad header syntax).
class BadRequest : public Problem {
 public:
  explicit BadRequest(std::string detail, std::vector<FieldError> errors = {});
};

// 401: credentials missing or invalid; carries the WWW-Authenticate challenge.
class Unauthorized : public Problem {
 public:
  explicit Unauthorized(std::string detail, std::string challenge = "Bearer");
};

// 403: authenticated, but this action is not allowed for the caller.
class Forbidden : public Problem {
 public:
  explicit Forbidden(std::string detail);
};

// 404: no such resource, or not the caller's (never reveal which).
class NotFound : public Problem {
 public:
  explicit NotFound(std::string detail);
};

// 405: the path exists but not with this method; `allow` lists the methods that do.
class MethodNotAllowed : public Problem {
 public:
  MethodNotAllowed(const std::string& method, const std::vector<std::string>& allow);
};

// 409: the resource is in a state that does not allow this action.
class Conflict : public Problem {
 public:
  Conflict(std::string detail, const std::string& current_state = {});
};

// 412: If-Match did not match the current ETag.
class PreconditionFailed : public Problem {
 public:
  explicit PreconditionFailed(std::string detail);
};

// 413: body larger than the route accepts.
class PayloadTooLarge : public Problem {
 public:
  explicit PayloadTooLarge(std::size_t limit_bytes);
};

// 415: body has a content type the route does not accept.
class UnsupportedMediaType : public Problem {
 public:
  UnsupportedMediaType(const std::string& received, const std::string& expected);
};

// 422: well-formed but invalid; one entry per offending field.
class Invalid : public Problem {
 public:
  explicit Invalid(std::vector<FieldError> errors);
  Invalid(std::string field, std::string reason);
};

// 429: too many requests; Retry-After in seconds.
class TooManyRequests : public Problem {
 public:
  TooManyRequests(std::string detail, int retry_after_s);
};

// 503: a dependency is down or the server is overloaded; Retry-After in seconds when known.
class Unavailable : public Problem {
 public:
  explicit Unavailable(std::string detail, int retry_after_s = 0);
};

// 500 for exceptions that are not Problems: the client sees a generic message, never the
// exception text (which goes to the log).
class Internal : public Problem {
 public:
  Internal();
};

// The RFC 9457 document for a problem. `instance` is the request path, `request_id` the
// X-Request-Id of the request that failed.
boost::json::object to_problem_json(const Problem& problem, std::string_view instance, std::string_view request_id);

inline constexpr std::string_view kProblemContentType = "application/problem+json";

}  // namespace intercab::errors
