// Hop-by-hop, spoofable and malformed header removal, and the forwarding headers the gateway adds.
#include "gateway/policy/headers.hpp"

#include <algorithm>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace intercab::gateway {
namespace {

bool is_one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view candidate) { return http::iequals(name, candidate); });
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && http::iequals(text.substr(0, prefix.size()), prefix);
}

// Headers that upstreams may believe because they normally come from the gateway.
bool is_gateway_asserted(std::string_view name) {
  return starts_with_ignoring_case(name, "X-User-") || starts_with_ignoring_case(name, "X-Internal-") ||
         starts_with_ignoring_case(name, "X-Forwarded-") ||
         is_one_of(name, {"Forwarded", "X-Real-IP", "X-Request-Id", "traceparent", "tracestate"});
}

// A value with CR or LF would become a second header line (or a second request) upstream; no
// valid value holds those or any other control character but HTAB.
bool is_safe_value(std::string_view value) { return !http::has_control_character(value); }

bool is_well_formed(std::string_view name, std::string_view value) {
  return is_safe_value(value) && http::is_token(name);
}

// The names listed by every Connection header of `headers` (comma-separated, optional spaces).
std::vector<std::string_view> connection_options(const http::Headers& headers) {
  return http::header_list(headers, "Connection");
}

bool is_named_in(std::string_view name, const std::vector<std::string_view>& options) {
  return std::any_of(options.begin(), options.end(),
                     [&](std::string_view option) { return http::iequals(name, option); });
}

}  // namespace

void add_asserted_field(http::FieldLines& fields, std::string_view name, std::string_view value) {
  if (!value.empty() && is_safe_value(value)) fields.add(name, value);
}

http::FieldLines upstream_request_fields(const http::Headers& client_headers, const ForwardContext& context) {
  // Sized once: the client's fields and ours (a trace context and three forwarding fields).
  std::size_t size = 256 + context.request_id.size() + context.traceparent.size() + context.tracestate.size() +
                     context.client_ip.size() + 2 * context.original_host.size();
  for (const auto& [name, value] : client_headers.fields()) size += name.size() + value.size() + 4;
  http::FieldLines fields;
  fields.reserve(size);
  // Context values come from the client too (Host) or from callers; the same rules apply to them.
  const std::string_view host = context.original_host.empty() ? client_headers.get("Host") : context.original_host;
  add_asserted_field(fields, "Host", host);
  const auto options = connection_options(client_headers);
  for (const auto& [name, value] : client_headers.fields()) {
    if (http::iequals(name, "Host") || !is_well_formed(name, value) || http::is_hop_by_hop_or_framing(name) ||
        http::iequals(name, "Expect") || is_named_in(name, options) || is_gateway_asserted(name)) {
      continue;
    }
    fields.add(name, value);
  }
  add_asserted_field(fields, "X-Request-Id", context.request_id);
  add_asserted_field(fields, "traceparent", context.traceparent);
  add_asserted_field(fields, "tracestate", context.tracestate);
  add_asserted_field(fields, "X-Forwarded-For", context.client_ip);
  add_asserted_field(fields, "X-Forwarded-Host", host);
  add_asserted_field(fields, "X-Forwarded-Proto", context.scheme);
  return fields;
}

}  // namespace intercab::gateway
