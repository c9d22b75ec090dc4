// Route matching by segments with static-over-parameter precedence.
#include "platform/http/router.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <set>
#include <stdexcept>

namespace intercab::http {
namespace {

// Views into `path`, which outlives the match. The request path is split on every request: no
// allocation for up to eight segments.
using PathSegments = boost::container::small_vector<std::string_view, 8>;

PathSegments split_path(std::string_view path) {
  PathSegments segments;
  std::size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

bool is_parameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Segment-wise comparison: a static segment is more specific than a parameter.
// Returns the number of leading segments that matched statically, or nullopt when no match.
std::optional<std::vector<bool>> match_segments(const Route& route, const PathSegments& path_segments,
                                                std::map<std::string, std::string>& params) {
  if (route.segments.size() != path_segments.size()) return std::nullopt;
  std::vector<bool> static_hits;
  static_hits.reserve(path_segments.size());
  for (std::size_t i = 0; i < path_segments.size(); ++i) {
    const auto& expected = route.segments[i];
    if (is_parameter(expected)) {
      if (path_segments[i].empty()) return std::nullopt;
      params[expected.substr(1, expected.size() - 2)] = std::string(path_segments[i]);
      static_hits.push_back(false);
    } else if (expected == path_segments[i]) {
      static_hits.push_back(true);
    } else {
      return std::nullopt;
    }
  }
  return static_hits;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  if (pattern.empty() || pattern.front() != '/') throw std::invalid_argument("route pattern must start with /");
  for (const auto& route : routes_) {
    if (route.method == method && route.pattern == pattern) {
      throw std::invalid_argument("route registered twice: " + method + " " + pattern);
    }
  }
  Route route{std::move(method), std::move(pattern), std::move(handler), options, {}};
  for (const auto segment : split_path(route.pattern)) route.segments.emplace_back(segment);
  routes_.push_back(std::move(route));
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch result;
  if (path.empty() || path.front() != '/') return result;
  const auto segments = split_path(path);
  const std::string_view effective_method = method == "HEAD" ? "GET" : method;

  std::optional<std::vector<bool>> best_rank;
  std::set<std::string> allowed;
  for (const auto& route : routes_) {
    std::map<std::string, std::string> params;
    auto rank = match_segments(route, segments, params);
    if (!rank) continue;
    allowed.insert(route.method);
    if (route.method == "GET") allowed.insert("HEAD");
    if (route.method != effective_method) continue;
    if (!best_rank || *rank > *best_rank) {  // lexicographic: earlier static segments win
      best_rank = std::move(rank);
      result.status = MatchStatus::kFound;
      result.route = &route;
      result.params = std::move(params);
    }
  }
  if (result.status != MatchStatus::kFound && !allowed.empty()) {
    result.status = MatchStatus::kMethodNotAllowed;
    result.allowed_methods.assign(allowed.begin(), allowed.end());
  }
  return result;
}

}  // namespace intercab::http
