// Maps method + path to a handler; path templates with {params}; 404/405 decided here.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "platform/http/message.hpp"

namespace intercab::http {

using Handler = std::function<Response(Request&)>;

struct RouteOptions {
  // Overrides the server's default body limit (for uploads); nullopt = the default.
  std::optional<std::size_t> max_body_bytes;
  // Runs the handler on the io thread instead of the worker pool. Only for handlers that take
  // microseconds and never block (liveness, static documents): they then answer even when
  // every worker is busy, and skip two thread hand-offs.
  bool runs_inline = false;
};

struct Route {
  std::string method;
  std::string pattern;  // "/api/v1/bookings/{id}/cancel"
  Handler handler;
  RouteOptions options;
  std::vector<std::string> segments;  // pattern split on '/'; "{id}" marks a parameter
};

enum class MatchStatus { kFound, kNotFound, kMethodNotAllowed };

struct RouteMatch {
  MatchStatus status = MatchStatus::kNotFound;
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
  std::vector<std::string> allowed_methods;  // for kMethodNotAllowed
};

class Router {
 public:
  // Registers a route. Patterns start with '/', parameters are whole segments "{name}".
  // Registering the same method and pattern twice is a programming error (throws).
  void add(std::string method, std::string pattern, Handler handler, RouteOptions options = {});

  // Static segments win over parameters ("/cities/attribution" before "/cities/{id}").
  // HEAD is served by GET routes.
  RouteMatch match(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace intercab::http
