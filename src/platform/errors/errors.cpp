// Typed errors and their RFC 9457 representation.
#include "platform/errors/errors.hpp"

#include <boost/json/array.hpp>

#include "platform/text/text.hpp"

namespace intercab::errors {

Problem::Problem(int status, std::string type, std::string title, std::string detail)
    : std::runtime_error(detail),
      status_(status),
      type_(std::move(type)),
      title_(std::move(title)),
      detail_(std::move(detail)) {}

BadRequest::BadRequest(std::string detail, std::vector<FieldError> errors)
    : Problem(400, "/problems/bad-request", "Malformed request", std::move(detail)) {
  for (auto& error : errors) add_field_error(std::move(error));
}

Unauthorized::Unauthorized(std::string detail, std::string challenge)
    : Problem(401, "/problems/unauthorized", "Authentication required", std::move(detail)) {
  add_header("WWW-Authenticate", std::move(challenge));
}

Forbidden::Forbidden(std::string detail) : Problem(403, "/problems/forbidden", "Not allowed", std::move(detail)) {}

NotFound::NotFound(std::string detail) : Problem(404, "/problems/not-found", "Not found", std::move(detail)) {}

MethodNotAllowed::MethodNotAllowed(const std::string& method, const std::vector<std::string>& allow)
    : Problem(405, "/problems/method-not-allowed", "Method not allowed",
              method + " is not allowed here; use " + text::join(allow, " or ")) {
  add_header("Allow", text::join(allow, ", "));
}

Conflict::Conflict(std::string detail, const std::string& current_state)
    : Problem(409, "/problems/conflict", "Conflict with the current state", std::move(detail)) {
  if (!current_state.empty()) set_extension("current_state", boost::json::string(current_state));
}

PreconditionFailed::PreconditionFailed(std::string detail)
    : Problem(412, "/problems/precondition-failed", "Precondition failed", std::move(detail)) {}

PayloadTooLarge::PayloadTooLarge(std::size_t limit_bytes)
    : Problem(413, "/problems/payload-too-large", "Request body too large",
              "the request body must not exceed " + std::to_string(limit_bytes) + " bytes") {
  set_extension("limit_bytes", limit_bytes);
}

UnsupportedMediaType::UnsupportedMediaType(const std::string& received, const std::string& expected)
    : Problem(415, "/problems/unsupported-media-type", "Unsupported media type",
              "Content-Type '" + received + "' is not accepted; send " + expected) {}

Invalid::Invalid(std::vector<FieldError> errors)
    : Problem(422, "/problems/validation", "Invalid request",
              std::to_string(errors.size()) + (errors.size() == 1 ? " field is invalid" : " fields are invalid")) {
  for (auto& error : errors) add_field_error(std::move(error));
}

Invalid::Invalid(std::string field, std::string reason)
    : Invalid(std::vector<FieldError>{{std::move(field), std::move(reason)}}) {}

TooManyRequests::TooManyRequests(std::string detail, int retry_after_s)
    : Problem(429, "/problems/too-many-requests", "Too many requests", std::move(detail)) {
  add_header("Retry-After", std::to_string(retry_after_s));
}

Unavailable::Unavailable(std::string detail, int retry_after_s)
    : Problem(503, "/problems/unavailable", "Service unavailable", std::move(detail)) {
  if (retry_after_s > 0) add_header("Retry-After", std::to_string(retry_after_s));
}

Internal::Internal()
    : Problem(500, "/problems/internal", "Internal error",
              "the server failed to handle this request; quote the request_id when reporting it") {}

boost::json::object to_problem_json(const Problem& problem, std::string_view instance, std::string_view request_id) {
  boost::json::object doc;
  doc["type"] = problem.type();
  doc["title"] = problem.title();
  doc["status"] = problem.status();
  doc["detail"] = problem.detail();
  doc["instance"] = instance;
  if (!request_id.empty()) doc["request_id"] = request_id;
  if (!problem.field_errors().empty()) {
    boost::json::array errors;
    for (const auto& error : problem.field_errors()) {
      errors.push_back(boost::json::object{{"field", error.field}, {"reason", error.reason}});
    }
    doc["errors"] = std::move(errors);
  }
  for (const auto& [key, value] : problem.extensions()) doc[key] = value;
  return doc;
}

}  // namespace intercab::errors
