// The state map: GeoJSON parsing, the grid index built from it, and the point, snapping and path queries.
#include "services/location/domain/states.hpp"

#include <algorithm>
#include <bit>
#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <utility>

namespace intercab::location {
namespace {

namespace json = boost::json;

constexpr double kKmPerDegree = kEarthRadiusKm * std::numbers::pi / 180.0;
constexpr double kRadiansPerDegree = std::numbers::pi / 180.0;

// Cells of 0.1 degree (about 11 km): a border cell of the Indian map holds a few dozen segments at most, and the
// grid over India (about 300 x 300 cells, 16 bytes each) stays small.
constexpr double kPreferredCellDegrees = 0.1;
// A map spanning a larger area gets larger cells, so that the grid never has more cells than this.
constexpr std::int64_t kMaxCells = std::int64_t{1} << 20;
// The grid lines are shifted by this odd amount (about 4 cm) so that no vertex of data written with 6 decimals lies
// exactly on a grid line: the crossing tests of a lookup then never meet a vertex at a cell corner.
constexpr double kGridLineShift = 3.7e-7;
// A segment is registered in every cell it comes within this many degrees of, so that one running exactly along a
// cell's edge is in the cells on both sides.
constexpr double kCellTouchDegrees = 1e-9;

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("state map GeoJSON: " + message); }

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

const json::object& require_object(const json::value& value, const std::string& what) {
  if (!value.is_object()) fail(what + " must be a JSON object");
  return value.get_object();
}

const json::array& require_array(const json::value* value, const std::string& what) {
  if (value == nullptr || !value->is_array()) fail(what + " must be a JSON array");
  return value->get_array();
}

std::string require_string(const json::object& object, std::string_view key, const std::string& what) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_string() || value->get_string().empty()) {
    fail(what + " needs a non-empty string \"" + std::string(key) + "\"");
  }
  return std::string(value->get_string());
}

// A GeoJSON position [longitude, latitude(, altitude)] as a point; `ring_what` and `index` name it in errors.
LatLon parse_position(const json::value& value, const std::string& ring_what, std::size_t index) {
  const auto what = [&] { return ring_what + " position " + std::to_string(index); };
  if (!value.is_array() || value.get_array().size() < 2 || !value.get_array()[0].is_number() ||
      !value.get_array()[1].is_number()) {
    fail(what() + " must be an array [longitude, latitude] of numbers");
  }
  const LatLon point{value.get_array()[1].to_number<double>(), value.get_array()[0].to_number<double>()};
  if (!is_valid(point)) {
    fail(what() + " is out of range (longitude " + std::to_string(point.lon) + ", latitude " +
         std::to_string(point.lat) + "); longitude must be in [-180, 180] and latitude in [-90, 90]");
  }
  return point;
}

}  // namespace

// ---- Parsing ----------------------------------------------------------------------------------------------------

StateMap StateMap::parse_geojson(std::string_view geojson_text) {
  boost::system::error_code error;
  const json::value root = json::parse(geojson_text, error);
  if (error) fail("not valid JSON: " + error.message());
  const json::object& collection = require_object(root, "the document");
  const json::value* root_type = collection.if_contains("type");
  if (root_type == nullptr || !root_type->is_string() || root_type->get_string() != "FeatureCollection") {
    fail("the document must be a FeatureCollection (\"type\": \"FeatureCollection\")");
  }
  const json::array& features = require_array(collection.if_contains("features"), "\"features\"");
  if (features.empty()) fail("the FeatureCollection has no features");
  if (features.size() > kMaxStates) {
    fail("has " + std::to_string(features.size()) + " features; at most " + std::to_string(kMaxStates) +
         " are supported");
  }

  StateMap map;
  std::vector<Segment> segments;
  for (std::size_t index = 0; index < features.size(); ++index) {
    std::string what = "feature " + std::to_string(index);
    const json::object& feature = require_object(features[index], what);
    const json::value* feature_type = feature.if_contains("type");
    if (feature_type == nullptr || !feature_type->is_string() || feature_type->get_string() != "Feature") {
      fail(what + " must have \"type\": \"Feature\"");
    }
    const json::value* properties_value = feature.if_contains("properties");
    if (properties_value == nullptr) fail(what + " has no \"properties\"");
    const json::object& properties = require_object(*properties_value, what + " \"properties\"");
    State state;
    state.code = require_string(properties, "code", what + " \"properties\"");
    what += " (" + state.code + ")";
    state.name = require_string(properties, "name", what + " \"properties\"");
    if (const json::value* type = properties.if_contains("type"); type != nullptr && type->is_string()) {
      state.type = std::string(type->get_string());
    }
    for (const State& earlier : map.states_) {
      if (equal_ignoring_ascii_case(earlier.code, state.code)) fail(what + " repeats the code of another feature");
      if (equal_ignoring_ascii_case(earlier.name, state.name)) {
        fail(what + " repeats the name \"" + state.name + "\" of another feature");
      }
    }

    const json::value* geometry_value = feature.if_contains("geometry");
    if (geometry_value == nullptr || geometry_value->is_null()) fail(what + " has no geometry");
    const json::object& geometry = require_object(*geometry_value, what + " geometry");
    const json::value* type_value = geometry.if_contains("type");
    const std::string_view geometry_type =
        type_value != nullptr && type_value->is_string() ? std::string_view(type_value->get_string()) : "";
    if (geometry_type != "Polygon" && geometry_type != "MultiPolygon") {
      fail(what + " geometry must be a Polygon or a MultiPolygon");
    }
    const json::array& coordinates = require_array(geometry.if_contains("coordinates"), what + " coordinates");
    // A Polygon is one list of rings; a MultiPolygon is a list of them.
    std::vector<const json::array*> polygons;
    if (geometry_type == "Polygon") {
      polygons.push_back(&coordinates);
    } else {
      if (coordinates.empty()) fail(what + " is a MultiPolygon with no polygons");
      for (std::size_t part = 0; part < coordinates.size(); ++part) {
        polygons.push_back(&require_array(&coordinates[part], what + " polygon " + std::to_string(part)));
      }
    }

    const auto state_index = static_cast<std::uint32_t>(index);
    for (std::size_t part = 0; part < polygons.size(); ++part) {
      const std::string polygon_what = what + " polygon " + std::to_string(part);
      if (polygons[part]->empty()) fail(polygon_what + " has no rings");
      for (std::size_t ring_index = 0; ring_index < polygons[part]->size(); ++ring_index) {
        const std::string ring_what = polygon_what + " ring " + std::to_string(ring_index);
        const json::array& ring = require_array(&(*polygons[part])[ring_index], ring_what);
        if (ring.size() < 4) {
          fail(ring_what + " has " + std::to_string(ring.size()) +
               " positions; a ring needs at least 4, the first repeated at the end");
        }
        std::vector<LatLon> points;
        points.reserve(ring.size());
        for (std::size_t k = 0; k < ring.size(); ++k) points.push_back(parse_position(ring[k], ring_what, k));
        if (points.front() != points.back()) {
          fail(ring_what + " is not closed: its last position must repeat the first");
        }
        for (std::size_t k = 0; k + 1 < points.size(); ++k) {
          if (points[k] == points[k + 1]) continue;  // a repeated vertex bounds nothing
          segments.push_back({points[k].lon, points[k].lat, points[k + 1].lon, points[k + 1].lat, state_index});
        }
      }
    }
    map.states_.push_back(std::move(state));
  }
  if (segments.empty()) fail("the polygons have no boundary (every ring is a single repeated point)");
  map.build_index(segments);
  return map;
}

// ---- The grid index ---------------------------------------------------------------------------------------------
//
// Whether a point P is inside a feature is the parity of the number of times a ray from P crosses the feature's
// boundary. The classic test casts the ray east to infinity and checks every segment; here the path from P to a
// reference point whose parity is known is kept inside P's cell, so only that cell's segments can cross it:
//
//        C -------- E       P's cell; E = (east line, P's latitude), S = its south-east corner.
//        |          |
//        |   P ---> E       1. horizontal leg P -> E: segments crossing P's latitude east of P, up to the east line;
//        |          |          exactly the classic ray test restricted to the cell.
//        |          ^       2. vertical leg S -> E along the east line: segments crossing it.
//        ---------- S       S's parity was computed at build time with the classic test.
//
// parity(P) = parity(S) xor crossings(S -> E) xor crossings(P -> E), one bit per feature in a 64-bit word.
// Both legs use the same half-open rules as the classic test, so the result is the classic test's answer (up to
// floating-point rounding of a crossing that falls within ~1e-15 degrees of P's latitude on the east line).

double StateMap::line_x(int column) const { return grid_x0_ + column * cell_degrees_; }
double StateMap::line_y(int row) const { return grid_y0_ + row * cell_degrees_; }

std::size_t StateMap::cell_index(int column, int row) const {
  return static_cast<std::size_t>(row) * static_cast<std::size_t>(columns_) + static_cast<std::size_t>(column);
}

int StateMap::column_of(double x) const {
  auto column = static_cast<int>(std::floor((x - grid_x0_) / cell_degrees_));
  // The division may round across a line; the legs need line_x(column) <= x <= line_x(column + 1) exactly.
  if (x > line_x(column + 1)) ++column;
  if (x < line_x(column)) --column;
  return column;
}

int StateMap::row_of(double y) const {
  auto row = static_cast<int>(std::floor((y - grid_y0_) / cell_degrees_));
  if (y > line_y(row + 1)) ++row;
  if (y < line_y(row)) --row;
  return row;
}

void StateMap::build_index(const std::vector<Segment>& segments) {
  double min_x = std::numeric_limits<double>::infinity();
  double min_y = min_x;
  double max_x = -min_x;
  double max_y = -min_x;
  for (const Segment& s : segments) {
    min_x = std::min({min_x, s.x0, s.x1});
    max_x = std::max({max_x, s.x0, s.x1});
    min_y = std::min({min_y, s.y0, s.y1});
    max_y = std::max({max_y, s.y0, s.y1});
  }
  // One empty cell of margin on every side: every vertex is strictly inside the grid, so a point outside the grid
  // is outside every polygon.
  cell_degrees_ = kPreferredCellDegrees;
  while (true) {
    grid_x0_ = std::floor(min_x / cell_degrees_) * cell_degrees_ - cell_degrees_ + kGridLineShift;
    grid_y0_ = std::floor(min_y / cell_degrees_) * cell_degrees_ - cell_degrees_ + kGridLineShift;
    columns_ = static_cast<int>(std::floor((max_x - grid_x0_) / cell_degrees_)) + 2;
    rows_ = static_cast<int>(std::floor((max_y - grid_y0_) / cell_degrees_)) + 2;
    if (std::int64_t{columns_} * rows_ <= kMaxCells) break;
    cell_degrees_ *= 2;
  }
  cells_.assign(static_cast<std::size_t>(columns_) * static_cast<std::size_t>(rows_), Cell{});

  // Which cells each segment touches: clip the segment to each row's latitude band, then take the columns of the
  // clipped part's longitude range (both slightly widened, see kCellTouchDegrees).
  std::vector<std::pair<std::uint32_t, std::uint32_t>> cell_and_segment;
  for (std::uint32_t index = 0; index < segments.size(); ++index) {
    const Segment& s = segments[index];
    const int first_row = std::max(0, row_of(std::min(s.y0, s.y1) - kCellTouchDegrees));
    const int last_row = std::min(rows_ - 1, row_of(std::max(s.y0, s.y1) + kCellTouchDegrees));
    for (int row = first_row; row <= last_row; ++row) {
      double t_low = 0;
      double t_high = 1;
      if (s.y1 != s.y0) {
        t_low = (line_y(row) - kCellTouchDegrees - s.y0) / (s.y1 - s.y0);
        t_high = (line_y(row + 1) + kCellTouchDegrees - s.y0) / (s.y1 - s.y0);
        if (t_low > t_high) std::swap(t_low, t_high);
        t_low = std::clamp(t_low, 0.0, 1.0);
        t_high = std::clamp(t_high, 0.0, 1.0);
      }
      const double x_a = s.x0 + t_low * (s.x1 - s.x0);
      const double x_b = s.x0 + t_high * (s.x1 - s.x0);
      const int first_column = std::max(0, column_of(std::min(x_a, x_b) - kCellTouchDegrees));
      const int last_column = std::min(columns_ - 1, column_of(std::max(x_a, x_b) + kCellTouchDegrees));
      for (int column = first_column; column <= last_column; ++column) {
        cell_and_segment.emplace_back(static_cast<std::uint32_t>(cell_index(column, row)), index);
      }
    }
  }
  std::sort(cell_and_segment.begin(), cell_and_segment.end());
  cell_segments_.reserve(cell_and_segment.size());
  for (const auto& [cell, index] : cell_and_segment) {
    if (cells_[cell].segment_count == 0) cells_[cell].first_segment = static_cast<std::uint32_t>(cell_segments_.size());
    ++cells_[cell].segment_count;
    cell_segments_.push_back(segments[index]);
  }

  // The parity at each cell's south-east corner by the classic east-going ray: along each horizontal grid line,
  // collect where segments cross it, then sweep the corners from east to west toggling each crossing passed.
  std::vector<std::vector<std::pair<double, std::uint64_t>>> crossings_by_row(static_cast<std::size_t>(rows_));
  for (const Segment& s : segments) {
    const int first_row = std::max(0, row_of(std::min(s.y0, s.y1)));
    const int last_row = std::min(rows_ - 1, row_of(std::max(s.y0, s.y1)) + 1);
    for (int row = first_row; row <= last_row; ++row) {
      const double y = line_y(row);
      if ((s.y0 > y) != (s.y1 > y)) {
        const double x = (s.x1 - s.x0) * (y - s.y0) / (s.y1 - s.y0) + s.x0;
        crossings_by_row[static_cast<std::size_t>(row)].emplace_back(x, std::uint64_t{1} << s.state_index);
      }
    }
  }
  for (int row = 0; row < rows_; ++row) {
    auto& crossings = crossings_by_row[static_cast<std::size_t>(row)];
    std::sort(crossings.begin(), crossings.end());
    std::uint64_t parity = 0;
    std::size_t east_of_corner = crossings.size();  // crossings[east_of_corner..] lie east of the current corner
    for (int column = columns_ - 1; column >= 0; --column) {
      const double corner_x = line_x(column + 1);
      while (east_of_corner > 0 && crossings[east_of_corner - 1].first > corner_x) {
        --east_of_corner;
        parity ^= crossings[east_of_corner].second;
      }
      cells_[cell_index(column, row)].corner_parity = parity;
    }
  }
}

std::optional<std::uint32_t> StateMap::locate_inside(LatLon point) const {
  const double px = point.lon;
  const double py = point.lat;
  const int column = column_of(px);
  const int row = row_of(py);
  if (column < 0 || row < 0 || column >= columns_ || row >= rows_) return std::nullopt;
  const Cell& cell = cells_[cell_index(column, row)];
  const double east_x = line_x(column + 1);
  const double south_y = line_y(row);
  std::uint64_t parity = cell.corner_parity;
  const auto first = cell_segments_.begin() + cell.first_segment;
  for (auto s = first; s != first + cell.segment_count; ++s) {
    // Horizontal leg: the classic ray test (same expression), limited to the cell.
    if ((s->y0 > py) != (s->y1 > py)) {
      const double x = (s->x1 - s->x0) * (py - s->y0) / (s->y1 - s->y0) + s->x0;
      if (px < x && x <= east_x) parity ^= std::uint64_t{1} << s->state_index;
    }
    // Vertical leg: the segment crosses the east line between the corner and P's latitude.
    if ((s->x0 > east_x) != (s->x1 > east_x)) {
      const double y = (s->y1 - s->y0) * (east_x - s->x0) / (s->x1 - s->x0) + s->y0;
      if (south_y < y && y <= py) parity ^= std::uint64_t{1} << s->state_index;
    }
  }
  if (parity == 0) return std::nullopt;
  return static_cast<std::uint32_t>(std::countr_zero(parity));  // the first feature, should polygons overlap
}

// ---- Snapping to the nearest boundary -----------------------------------------------------------------------------

namespace {

// Calls visit(column, row) for the cells of the grid at Chebyshev distance `ring` from (column, row).
template <typename Visit>
void for_each_cell_in_ring(int columns, int rows, int column, int row, int ring, Visit&& visit) {
  const auto visit_row = [&](int r) {
    if (r < 0 || r >= rows) return;
    for (int c = std::max(0, column - ring); c <= std::min(columns - 1, column + ring); ++c) visit(c, r);
  };
  const auto visit_column = [&](int c) {
    if (c < 0 || c >= columns) return;
    for (int r = std::max(0, row - ring + 1); r <= std::min(rows - 1, row + ring - 1); ++r) visit(c, r);
  };
  if (ring == 0) {
    visit_row(row);
    return;
  }
  visit_row(row - ring);
  visit_row(row + ring);
  visit_column(column - ring);
  visit_column(column + ring);
}

}  // namespace

std::optional<StateMap::Nearest> StateMap::nearest_boundary(LatLon point, double max_km) const {
  // Local equirectangular projection centred on the point: km = degrees * scale. Distances are compared squared.
  const double y_scale = kKmPerDegree;
  const double x_scale = kKmPerDegree * std::cos(point.lat * kRadiansPerDegree);
  const auto squared_km_to_segment = [&](const Segment& s) {
    const double ax = (s.x0 - point.lon) * x_scale;
    const double ay = (s.y0 - point.lat) * y_scale;
    const double dx = (s.x1 - s.x0) * x_scale;
    const double dy = (s.y1 - s.y0) * y_scale;
    const double length_squared = dx * dx + dy * dy;
    const double t = length_squared > 0 ? std::clamp(-(ax * dx + ay * dy) / length_squared, 0.0, 1.0) : 0.0;
    const double x = ax + t * dx;
    const double y = ay + t * dy;
    return x * x + y * y;
  };
  const auto squared_km_to_cell = [&](int c, int r) {
    const double x = std::max({line_x(c) - point.lon, 0.0, point.lon - line_x(c + 1)}) * x_scale;
    const double y = std::max({line_y(r) - point.lat, 0.0, point.lat - line_y(r + 1)}) * y_scale;
    return x * x + y * y;
  };

  // Search rings of cells around the point's cell (which may lie outside the grid), nearest first. A cell in ring r
  // is at least r - 1 whole cells away along one axis, so once that exceeds the best distance nothing nearer is left;
  // within a ring, a cell farther than the best distance is skipped.
  const int column = column_of(point.lon);
  const int row = row_of(point.lat);
  const int first_ring = std::max({0, -column, column - (columns_ - 1), -row, row - (rows_ - 1)});
  const int last_ring = std::max({column, columns_ - 1 - column, row, rows_ - 1 - row});
  const double cell_km = cell_degrees_ * std::min(x_scale, y_scale);
  std::optional<Nearest> nearest;
  double best_squared = max_km * max_km;
  for (int ring = first_ring; ring <= last_ring; ++ring) {
    const double ring_km = std::max(0, ring - 1) * cell_km;
    if (ring_km * ring_km > best_squared) break;
    for_each_cell_in_ring(columns_, rows_, column, row, ring, [&](int c, int r) {
      const Cell& cell = cells_[cell_index(c, r)];
      if (cell.segment_count == 0 || squared_km_to_cell(c, r) > best_squared) return;
      const auto first = cell_segments_.begin() + cell.first_segment;
      for (auto s = first; s != first + cell.segment_count; ++s) {
        const double squared = squared_km_to_segment(*s);
        // At most max_km away counts, so the first hit may equal the bound; later ones must be nearer.
        if (squared < best_squared || (!nearest && squared <= best_squared)) {
          best_squared = squared;
          nearest = Nearest{s->state_index, 0};
        }
      }
    });
  }
  if (nearest) nearest->distance_km = std::sqrt(best_squared);
  return nearest;
}

// ---- Queries ------------------------------------------------------------------------------------------------------

const State* StateMap::find(std::string_view name_or_code) const {
  for (const State& state : states_) {
    if (equal_ignoring_ascii_case(state.code, name_or_code) || equal_ignoring_ascii_case(state.name, name_or_code)) {
      return &state;
    }
  }
  return nullptr;
}

namespace {

void require_valid(LatLon point, const char* operation) {
  if (!is_valid(point)) {
    throw std::invalid_argument(std::string(operation) + ": (" + std::to_string(point.lat) + ", " +
                                std::to_string(point.lon) +
                                ") is not a coordinate; latitude must be in [-90, 90] and longitude in [-180, 180]");
  }
}

}  // namespace

std::optional<StateMap::Location> StateMap::locate(LatLon point, double snap_km) const {
  require_valid(point, "StateMap::locate");
  if (std::isnan(snap_km) || snap_km < 0) throw std::invalid_argument("StateMap::locate: snap_km must be >= 0");
  if (const auto inside = locate_inside(point)) return Location{&states_[*inside], 0.0};
  if (const auto nearest = nearest_boundary(point, snap_km)) {
    return Location{&states_[nearest->state_index], nearest->distance_km};
  }
  return std::nullopt;
}

std::uint32_t StateMap::state_index_at(LatLon point) const {
  if (const auto inside = locate_inside(point)) return *inside;
  // parse_geojson guarantees at least one segment, and an unbounded search visits the whole grid.
  return nearest_boundary(point, std::numeric_limits<double>::infinity())->state_index;
}

std::vector<StateMap::Crossing> StateMap::split_by_state(std::span<const LatLon> path) const {
  for (const LatLon& point : path) require_valid(point, "StateMap::split_by_state");
  std::vector<Crossing> crossings;
  for (std::size_t k = 1; k < path.size(); ++k) {
    const double length_km = great_circle_km(path[k - 1], path[k]);
    if (length_km > 0) split_segment(path[k - 1], path[k], length_km, crossings);
  }
  return crossings;
}

void StateMap::split_segment(LatLon from, LatLon to, double length_km, std::vector<Crossing>& out) const {
  // Sample the state every kSampleKm or less; where two samples differ, bisect to the borders between them.
  const int steps = std::max(1, static_cast<int>(std::ceil(length_km / kSampleKm)));
  const std::uint32_t first_state = state_index_at(from);
  std::vector<Border> borders;
  double previous_fraction = 0;
  std::uint32_t previous_state = first_state;
  for (int step = 1; step <= steps; ++step) {
    const double fraction = static_cast<double>(step) / steps;
    const std::uint32_t state = state_index_at(step == steps ? to : interpolate(from, to, fraction));
    if (state != previous_state) {
      find_borders(from, to, length_km, {previous_fraction, previous_state}, {fraction, state}, borders);
    }
    previous_fraction = fraction;
    previous_state = state;
  }

  // Each stretch between borders goes to its state; the fractions telescope, so the km add up to length_km.
  const auto add = [&](std::uint32_t state_index, double km) {
    const State* state = &states_[state_index];
    if (!out.empty() && out.back().state == state) {
      out.back().km += km;
    } else {
      out.push_back({state, km});
    }
  };
  std::uint32_t current_state = first_state;
  double current_start = 0;
  for (const Border& border : borders) {
    add(current_state, (border.fraction - current_start) * length_km);
    current_state = border.state_after;
    current_start = border.fraction;
  }
  add(current_state, (1.0 - current_start) * length_km);
}

void StateMap::find_borders(LatLon from, LatLon to, double length_km, Sample low, Sample high,
                            std::vector<Border>& borders) const {
  if ((high.fraction - low.fraction) * length_km <= kBorderPrecisionKm) {
    borders.push_back({(low.fraction + high.fraction) / 2, high.state_index});
    return;
  }
  // The middle may be in a third state (a narrow one crossed between the samples): then there are borders on both
  // sides of it, found in order.
  const double middle_fraction = (low.fraction + high.fraction) / 2;
  const Sample middle{middle_fraction, state_index_at(interpolate(from, to, middle_fraction))};
  if (middle.state_index != low.state_index) find_borders(from, to, length_km, low, middle, borders);
  if (middle.state_index != high.state_index) find_borders(from, to, length_km, middle, high, borders);
}

}  // namespace intercab::location
