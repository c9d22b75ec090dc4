// The state map: which Indian state or union territory contains a point, and how many km of a path lie in
// each one (pricing needs the km per state for state permits). Pure domain code: GeoJSON text in, answers out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "services/location/domain/geo.hpp"

namespace intercab::location {

// One state or union territory of the map, as its GeoJSON feature's properties name it.
struct State {
  std::string code;  // ISO 3166-2:IN, e.g. "IN-MH"
  std::string name;  // e.g. "Maharashtra"
  std::string type;  // "State" or "Union Territory" (empty when the feature does not say)
};

// Polygons of the states with a spatial index built once at parse time, so that a lookup touches only the few
// boundary segments near the point.
//
// Geometry is planar in degrees (x = longitude, y = latitude), as GeoJSON defines it: a point is inside a
// feature when a ray from it crosses the feature's rings an odd number of times. For valid GeoJSON (parts that do
// not overlap, holes inside their outer ring) that is exactly "inside some part's outer ring and outside its
// holes". Distances to boundaries are in km, measured in a local equirectangular projection centred on the point
// (accurate to well under 1% at the tens of km used for snapping).
//
// Immutable once parsed, so any number of threads may query one map. The State pointers it returns live as long as
// the map (moving the map keeps them valid).
class StateMap {
 public:
  // Throws std::invalid_argument with a message naming the feature and what is wrong on malformed GeoJSON: not
  // JSON, not a FeatureCollection, no features, a feature without a code or name, duplicate codes or names, a
  // geometry that is not a Polygon or MultiPolygon, a ring that is not closed or has fewer than 4 positions,
  // coordinates that are not numbers or out of range, or more than kMaxStates features.
  static StateMap parse_geojson(std::string_view geojson_text);

  // The index keeps one bit per feature for the ray-crossing parity at each cell corner.
  static constexpr std::size_t kMaxStates = 64;

  // In the order of the GeoJSON features.
  std::span<const State> states() const { return states_; }

  // The state whose name or code equals `name_or_code` ignoring ASCII case, or nullptr.
  const State* find(std::string_view name_or_code) const;

  struct Location {
    const State* state;
    double distance_km;  // 0 when the point is inside the state
  };
  // The state containing `point` (holes respected, every MultiPolygon part counts). If the point is inside none
  // (sea, a neighbouring country, a gap from generalised borders): the state with the nearest boundary segment if
  // that is at most `snap_km` away (infinity allowed), else nullopt. Where polygons overlap, the first feature wins.
  // Throws std::invalid_argument for a point that is not a valid coordinate or a negative or NaN snap_km.
  std::optional<Location> locate(LatLon point, double snap_km) const;

  struct Crossing {
    const State* state;
    double km;
  };
  // The states a path passes through, in order, with the km in each; the path joins consecutive points by
  // great-circle segments. Consecutive stretches in the same state are merged. The km add up to the path's total
  // great-circle length (up to floating-point rounding); stretches outside every polygon (sea, generalised coast,
  // a neighbouring country) count for the nearest state. Borders are found by sampling every kSampleKm along each
  // segment and bisecting to kBorderPrecisionKm, so a state crossed for less than kSampleKm between two samples
  // of the same state can be missed (its km then go to that state). A path with fewer than two distinct points
  // gives no crossings. Throws std::invalid_argument for a point that is not a valid coordinate.
  std::vector<Crossing> split_by_state(std::span<const LatLon> path) const;

  static constexpr double kSampleKm = 2.0;
  static constexpr double kBorderPrecisionKm = 0.01;

 private:
  // A boundary segment of one feature's ring in degrees (x = longitude, y = latitude), in ring order.
  struct Segment {
    double x0, y0, x1, y1;
    std::uint32_t state_index;  // into states_
  };
  // A uniform grid over the polygons' bounding box. Each cell stores the ray-crossing parity of every feature at
  // its south-east corner (one bit per feature) and the segments that touch the cell; see locate_inside().
  struct Cell {
    std::uint64_t corner_parity = 0;
    std::uint32_t first_segment = 0;  // into cell_segments_
    std::uint32_t segment_count = 0;
  };
  struct Nearest {
    std::uint32_t state_index;
    double distance_km;
  };
  // A point along a path segment: its fraction of the segment's length and the state there.
  struct Sample {
    double fraction;
    std::uint32_t state_index;
  };
  struct Border {
    double fraction;
    std::uint32_t state_after;
  };

  StateMap() = default;
  void build_index(const std::vector<Segment>& segments);
  double line_x(int column) const;                    // longitude of the grid line west of `column`
  double line_y(int row) const;                       // latitude of the grid line south of `row`
  int column_of(double x) const;                      // the column holding longitude x; may be outside [0, columns_)
  int row_of(double y) const;                         // the row holding latitude y; may be outside [0, rows_)
  std::size_t cell_index(int column, int row) const;  // into cells_, for a column and row inside the grid
  // The index of the first feature containing the point, or nullopt when it is inside none.
  std::optional<std::uint32_t> locate_inside(LatLon point) const;
  // The feature with the boundary segment nearest to the point, if that is within max_km.
  std::optional<Nearest> nearest_boundary(LatLon point, double max_km) const;
  // The feature containing the point, or the one with the nearest boundary when it is in none.
  std::uint32_t state_index_at(LatLon point) const;
  // Appends the states along one great-circle segment of `length_km` to `out`, merging with out.back().
  void split_segment(LatLon from, LatLon to, double length_km, std::vector<Crossing>& out) const;
  // Appends, in order, the borders between two samples of different states, each to kBorderPrecisionKm.
  void find_borders(LatLon from, LatLon to, double length_km, Sample low, Sample high,
                    std::vector<Border>& borders) const;

  std::vector<State> states_;
  double cell_degrees_ = 0;  // side of a (square, in degrees) grid cell
  double grid_x0_ = 0;       // longitude of the grid's west edge
  double grid_y0_ = 0;       // latitude of the grid's south edge
  int columns_ = 0;
  int rows_ = 0;
  std::vector<Cell> cells_;             // row-major, south to north, west to east
  std::vector<Segment> cell_segments_;  // each cell's segments, copied so that a lookup reads contiguous memory
};

}  // namespace intercab::location
