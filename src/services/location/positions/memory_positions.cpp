// The memory adapter: drivers bucketed in a uniform latitude/longitude grid behind one shared_mutex (pings
// write, searches read). A search visits rings of cells around the query's cell until no cell further out
// can hold a point nearer than the limit-th best found, or the radius is passed; within a ring, cells that
// cannot beat what was found are skipped unread. 0.05-degree cells (about 5.5 km) hold hundreds of drivers
// in a dense city, scanned as packed unit vectors, and need only a few rings where drivers are spread over
// a country. When a search has stepped over more cells than a scan of every allocated tile would read, it
// scans instead, so sparse indexes and huge radii cost no more than a scan.
#include "services/location/positions/memory_positions.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numbers>
#include <tuple>

namespace intercab::location {
namespace {

constexpr double kRadiansPerDegree = std::numbers::pi / 180.0;
constexpr double kKmPerDegreeOfLatitude = kEarthRadiusKm * kRadiansPerDegree;
// Bounds come from floating-point cell edges, and rounding may put a point a hair across an edge:
// shrinking every bound by a millimetre keeps it a lower bound.
constexpr double kBoundSlackKm = 1e-6;
// Far more than the absolute error of a chord computed from unit vectors (a few ulps); 6 micrometres on the
// ground. Chords only rule points out; what is kept is ranked by the exact great-circle distance, since the
// relative error of a chord grows as points get closer than a metre.
constexpr double kChordSlack = 1e-12;

double squared(double value) { return value * value; }

struct UnitVector {
  double x;
  double y;
  double z;
};

UnitVector unit_vector(LatLon point) {
  const double lat = point.lat * kRadiansPerDegree;
  const double lon = point.lon * kRadiansPerDegree;
  return {std::cos(lat) * std::cos(lon), std::cos(lat) * std::sin(lon), std::sin(lat)};
}

// The straight-line distance through the Earth between two points on the unit sphere, for a great-circle
// distance: both grow together, so either orders points.
double chord_of_km(double km) { return 2.0 * std::sin(std::min(km / kEarthRadiusKm, std::numbers::pi) / 2.0); }

}  // namespace

// One nearby() call: the state of a ring-by-ring search under the index's shared lock.
class MemoryPositions::Search {
 public:
  Search(const MemoryPositions& index, LatLon center, double radius_km, std::size_t limit, Clock::time_point cutoff)
      : index_(index),
        center_(center),
        grid_center_{center.lat, center.lon >= 180.0 ? center.lon - 360.0 : center.lon},
        center_vector_(unit_vector(center)),
        center_cell_(index.cell_of(grid_center_)),
        radius_km_(radius_km),
        limit_(limit),
        cutoff_(cutoff),
        half_lon_cells_(index.lon_cells_ / 2),
        center_cell_west_(-180.0 + static_cast<double>(center_cell_.lon) * index.cell_deg_),
        cos_center_lat_(std::cos(center.lat * kRadiansPerDegree)),
        rejected_above_(squared(chord_of_km(radius_km) + kChordSlack)) {
    best_.reserve(std::min<std::size_t>(limit_, 1024));
  }

  std::vector<NearbyDriver> run() {
    if (limit_ == 0) return {};
    const auto scan_cost = static_cast<std::int64_t>(index_.allocated_tiles_) * kTileSide * kTileSide;
    std::int64_t stepped_over = 0;
    for (std::int64_t ring = 0;; ++ring) {
      if (stepped_over > scan_cost) {
        scan_allocated_tiles_from(ring);
        break;
      }
      stepped_over += visit_ring(ring);
      if (covers_everything(ring)) break;
      const double bound_km = bound_beyond_km(ring);
      if (bound_km > radius_km_) break;
      if (best_.size() == limit_ && bound_km > best_.front().distance_km) break;
    }
    return result();
  }

 private:
  struct Candidate {
    double distance_km;
    double chord_squared;
    const Driver* driver;
  };
  // Orders candidates nearest first, ties by driver id so that every adapter returns the same drivers.
  static bool nearer(const Candidate& a, const Candidate& b) {
    return std::tie(a.distance_km, a.driver->position.driver_id) <
           std::tie(b.distance_km, b.driver->position.driver_id);
  }

  void consider(const CellEntry& entry) {
    if (entry.recorded_at < cutoff_) return;
    const double dx = entry.x - center_vector_.x;
    const double dy = entry.y - center_vector_.y;
    const double dz = entry.z - center_vector_.z;
    const double chord_squared = dx * dx + dy * dy + dz * dz;
    if (chord_squared > rejected_above_) return;  // outside the radius, or further than every kept candidate
    const Candidate candidate{great_circle_km(center_, entry.position), chord_squared, entry.driver};
    if (candidate.distance_km > radius_km_) return;
    if (best_.size() < limit_) {
      best_.push_back(candidate);
      std::push_heap(best_.begin(), best_.end(), nearer);  // the worst kept candidate on top
    } else if (nearer(candidate, best_.front())) {
      std::pop_heap(best_.begin(), best_.end(), nearer);
      best_.back() = candidate;
      std::push_heap(best_.begin(), best_.end(), nearer);
    } else {
      return;
    }
    if (best_.size() == limit_) {
      rejected_above_ = std::min(rejected_above_, squared(std::sqrt(best_.front().chord_squared) + kChordSlack));
    }
  }

  // `lon_offset` in [-half, half - 1] names every longitude column once. A cell that cannot hold a point
  // within the radius, or nearer than every kept candidate, is not even read.
  void visit(std::int64_t lat, std::int64_t lon_offset) {
    const double bound_km = cell_bound_km(lat, lon_offset);
    if (bound_km > radius_km_ || (best_.size() == limit_ && bound_km > best_.front().distance_km)) return;
    const std::int64_t lon = (center_cell_.lon + lon_offset + index_.lon_cells_) % index_.lon_cells_;
    const auto* entries = index_.find_cell({lat, lon});
    if (entries == nullptr) return;
    for (const CellEntry& entry : *entries) consider(entry);
  }

  // The cells at Chebyshev distance `ring` from the center's cell; returns how many it stepped over.
  std::int64_t visit_ring(std::int64_t ring) {
    const std::int64_t first_lat = std::max<std::int64_t>(center_cell_.lat - ring, 0);
    const std::int64_t last_lat = std::min(center_cell_.lat + ring, index_.lat_cells_ - 1);
    const std::int64_t first_offset = std::max(-ring, -half_lon_cells_);
    const std::int64_t last_offset = std::min(ring, half_lon_cells_ - 1);
    std::int64_t stepped_over = 0;
    for (std::int64_t lat = first_lat; lat <= last_lat; ++lat) {
      if (std::abs(lat - center_cell_.lat) == ring) {
        for (std::int64_t offset = first_offset; offset <= last_offset; ++offset) visit(lat, offset);
        stepped_over += last_offset - first_offset + 1;
        continue;
      }
      if (-ring >= -half_lon_cells_) {
        visit(lat, -ring);
        ++stepped_over;
      }
      if (ring > 0 && ring <= half_lon_cells_ - 1) {
        visit(lat, ring);
        ++stepped_over;
      }
    }
    return stepped_over;
  }

  // Every occupied cell at Chebyshev distance `ring` or more: the end of a search that would otherwise
  // step over more cells than there are in allocated tiles.
  void scan_allocated_tiles_from(std::int64_t ring) {
    for (std::size_t tile_index = 0; tile_index < index_.tiles_.size(); ++tile_index) {
      const Tile* tile = index_.tiles_[tile_index].get();
      if (tile == nullptr) continue;
      const auto tile_row = static_cast<std::int64_t>(tile_index) / index_.tile_columns_;
      const auto tile_column = static_cast<std::int64_t>(tile_index) % index_.tile_columns_;
      for (std::int64_t slot = 0; slot < kTileSide * kTileSide; ++slot) {
        const auto& entries = tile->cells[static_cast<std::size_t>(slot)];
        if (entries.empty()) continue;
        const std::int64_t lat = tile_row * kTileSide + slot / kTileSide;
        const std::int64_t lon = tile_column * kTileSide + slot % kTileSide;
        std::int64_t lon_offset = (lon - center_cell_.lon + index_.lon_cells_) % index_.lon_cells_;
        if (lon_offset >= half_lon_cells_) lon_offset -= index_.lon_cells_;
        if (std::max(std::abs(lat - center_cell_.lat), std::abs(lon_offset)) < ring) continue;
        for (const CellEntry& entry : entries) consider(entry);
      }
    }
  }

  bool covers_everything(std::int64_t ring) const {
    return ring >= half_lon_cells_ && center_cell_.lat - ring <= 0 && center_cell_.lat + ring >= index_.lat_cells_ - 1;
  }

  // A lower bound of the distance from the center to any point of one cell, without trigonometry: the
  // larger of the latitude gap and the longitude bound of bound_beyond_km(), using asin(y) >= y and
  // sin(x) >= x - x^3/6.
  double cell_bound_km(std::int64_t lat, std::int64_t lon_offset) const {
    const double cell_deg = index_.cell_deg_;
    const double south = -90.0 + static_cast<double>(lat) * cell_deg;
    const double lat_gap = std::max({0.0, south - grid_center_.lat, grid_center_.lat - (south + cell_deg)});
    const double west = center_cell_west_ + static_cast<double>(lon_offset) * cell_deg;
    const double lon_gap = std::max({0.0, west - grid_center_.lon, grid_center_.lon - (west + cell_deg)});
    const double x = std::min(lon_gap, 90.0) * kRadiansPerDegree;
    const double lon_bound = kEarthRadiusKm * cos_center_lat_ * (x - x * x * x / 6.0);
    return std::max(lat_gap * kKmPerDegreeOfLatitude, lon_bound) - kBoundSlackKm;
  }

  // A lower bound of the distance from the center to any point in a cell beyond `ring`.
  double bound_beyond_km(std::int64_t ring) const {
    const double cell_deg = index_.cell_deg_;
    double bound = std::numeric_limits<double>::infinity();
    // A point north of a parallel is at least the difference of latitudes away, whatever its longitude.
    if (center_cell_.lat + ring + 1 < index_.lat_cells_) {
      const double north_edge = -90.0 + static_cast<double>(center_cell_.lat + ring + 1) * cell_deg;
      bound = std::min(bound, (north_edge - grid_center_.lat) * kKmPerDegreeOfLatitude);
    }
    if (center_cell_.lat - ring - 1 >= 0) {
      const double south_edge = -90.0 + static_cast<double>(center_cell_.lat - ring) * cell_deg;
      bound = std::min(bound, (grid_center_.lat - south_edge) * kKmPerDegreeOfLatitude);
    }
    // A point at least `gap` degrees of longitude away is reached across the meridian `gap` away (or over
    // a pole, which is further), and the distance to that meridian's great circle is
    // asin(cos(lat) * sin(gap)).
    if (ring < half_lon_cells_) {
      const double east_gap = center_cell_west_ + static_cast<double>(ring + 1) * cell_deg - grid_center_.lon;
      const double west_gap = grid_center_.lon - (center_cell_west_ - static_cast<double>(ring) * cell_deg);
      const double gap = std::clamp(std::min(east_gap, west_gap), 0.0, 90.0) * kRadiansPerDegree;
      const double across = cos_center_lat_ * std::sin(gap);
      bound = std::min(bound, kEarthRadiusKm * std::asin(std::clamp(across, 0.0, 1.0)));
    }
    return std::max(0.0, bound - kBoundSlackKm);
  }

  std::vector<NearbyDriver> result() const {
    std::vector<NearbyDriver> found;
    found.reserve(best_.size());
    for (const Candidate& candidate : best_) {
      const DriverPosition& position = candidate.driver->position;
      found.push_back({position.driver_id, position.position, candidate.distance_km, position.recorded_at});
    }
    std::sort(found.begin(), found.end(), [](const NearbyDriver& a, const NearbyDriver& b) {
      return std::tie(a.distance_km, a.driver_id) < std::tie(b.distance_km, b.driver_id);
    });
    return found;
  }

  const MemoryPositions& index_;
  const LatLon center_;       // as asked: distances are measured from it
  const LatLon grid_center_;  // longitude in [-180, 180), for cell arithmetic
  const UnitVector center_vector_;
  const CellIndex center_cell_;
  const double radius_km_;
  const std::size_t limit_;
  const Clock::time_point cutoff_;
  const std::int64_t half_lon_cells_;
  const double center_cell_west_;  // longitude of the western edge of the center's cell
  const double cos_center_lat_;
  double rejected_above_;        // squared chord beyond which a point cannot be kept
  std::vector<Candidate> best_;  // a max-heap by nearer(): the candidate to drop first is on top
};

namespace {

// The number of cell rows, checked before anything is sized from it.
std::int64_t latitude_cells(const PositionsOptions& options) {
  if (options.staleness < std::chrono::seconds(1)) {
    throw std::invalid_argument("memory positions: staleness must be at least 1 s");
  }
  const double cell_deg = options.memory_cell_deg;
  if (!(cell_deg >= 0.01 && cell_deg <= 10.0) ||
      std::abs(static_cast<double>(std::llround(180.0 / cell_deg)) * cell_deg - 180.0) > 1e-9) {
    throw std::invalid_argument("memory positions: memory_cell_deg must divide 180 and lie in [0.01, 10]");
  }
  return std::llround(180.0 / cell_deg);
}

}  // namespace

MemoryPositions::MemoryPositions(const PositionsOptions& options)
    : staleness_(options.staleness),
      cell_deg_(options.memory_cell_deg),
      lat_cells_(latitude_cells(options)),
      lon_cells_(2 * lat_cells_),
      tile_columns_((lon_cells_ + kTileSide - 1) / kTileSide) {
  const std::int64_t tile_rows = (lat_cells_ + kTileSide - 1) / kTileSide;
  tiles_.resize(static_cast<std::size_t>(tile_rows * tile_columns_));
}

MemoryPositions::CellIndex MemoryPositions::cell_of(LatLon point) const {
  const auto lat = static_cast<std::int64_t>(std::floor((point.lat + 90.0) / cell_deg_));
  const auto lon = static_cast<std::int64_t>(std::floor((point.lon + 180.0) / cell_deg_));
  return {std::clamp<std::int64_t>(lat, 0, lat_cells_ - 1), ((lon % lon_cells_) + lon_cells_) % lon_cells_};
}

namespace {

std::size_t tile_of(std::int64_t lat, std::int64_t lon, std::int64_t tile_columns, std::int64_t side) {
  return static_cast<std::size_t>((lat / side) * tile_columns + lon / side);
}

std::size_t slot_of(std::int64_t lat, std::int64_t lon, std::int64_t side) {
  return static_cast<std::size_t>((lat % side) * side + lon % side);
}

}  // namespace

const std::vector<MemoryPositions::CellEntry>* MemoryPositions::find_cell(CellIndex cell) const {
  const Tile* tile = tiles_[tile_of(cell.lat, cell.lon, tile_columns_, kTileSide)].get();
  if (tile == nullptr) return nullptr;
  return &tile->cells[slot_of(cell.lat, cell.lon, kTileSide)];
}

void MemoryPositions::place(Driver& driver) {
  const UnitVector vector = unit_vector(driver.position.position);
  driver.cell = cell_of(driver.position.position);
  auto& tile = tiles_[tile_of(driver.cell.lat, driver.cell.lon, tile_columns_, kTileSide)];
  if (!tile) {
    tile = std::make_unique<Tile>();
    ++allocated_tiles_;
  }
  ++tile->drivers;
  auto& entries = tile->cells[slot_of(driver.cell.lat, driver.cell.lon, kTileSide)];
  if (entries.empty()) ++occupied_cells_;
  driver.slot = entries.size();
  entries.push_back({vector.x, vector.y, vector.z, driver.position.position, driver.position.recorded_at, &driver});
}

void MemoryPositions::remove(Driver& driver) {
  auto& tile = tiles_[tile_of(driver.cell.lat, driver.cell.lon, tile_columns_, kTileSide)];
  auto& entries = tile->cells[slot_of(driver.cell.lat, driver.cell.lon, kTileSide)];
  if (driver.slot + 1 != entries.size()) {
    entries[driver.slot] = entries.back();
    entries[driver.slot].driver->slot = driver.slot;
  }
  entries.pop_back();
  if (entries.empty()) {
    std::vector<CellEntry>().swap(entries);  // a fleet moving across a country leaves no capacity behind
    --occupied_cells_;
  }
  if (--tile->drivers == 0) {
    tile.reset();
    --allocated_tiles_;
  }
}

UpsertResult MemoryPositions::upsert(const DriverPosition& position) {
  check_driver_position(position);
  DriverPosition stored = position;
  stored.recorded_at = stored_precision(position.recorded_at);
  std::unique_lock lock(mutex_);
  const auto found = drivers_.find(stored.driver_id);
  if (found == drivers_.end()) {
    const std::string id = stored.driver_id;
    auto& driver = drivers_.emplace(id, Driver{std::move(stored), {}, 0}).first->second;
    place(driver);
    return {true, std::nullopt};
  }
  Driver& driver = found->second;
  if (stored.recorded_at <= driver.position.recorded_at) return {false, driver.position};
  UpsertResult result{true, driver.position};
  remove(driver);
  driver.position = std::move(stored);
  place(driver);
  return result;
}

std::optional<DriverPosition> MemoryPositions::latest(std::string_view driver_id, Clock::time_point now) {
  std::shared_lock lock(mutex_);
  const auto found = drivers_.find(driver_id);
  if (found == drivers_.end() || found->second.position.recorded_at < now - staleness_) return std::nullopt;
  return found->second.position;
}

std::vector<NearbyDriver> MemoryPositions::nearby(LatLon center, double radius_km, std::size_t limit,
                                                  Clock::time_point now) {
  check_nearby_query(center, radius_km);
  std::shared_lock lock(mutex_);
  return Search(*this, center, radius_km, limit, now - staleness_).run();
}

std::size_t MemoryPositions::purge_stale(Clock::time_point now) {
  const auto cutoff = now - staleness_;
  std::unique_lock lock(mutex_);
  std::size_t purged = 0;
  for (auto it = drivers_.begin(); it != drivers_.end();) {
    if (it->second.position.recorded_at < cutoff) {
      remove(it->second);
      it = drivers_.erase(it);
      ++purged;
    } else {
      ++it;
    }
  }
  return purged;
}

std::size_t MemoryPositions::occupied_cells() const {
  std::shared_lock lock(mutex_);
  return occupied_cells_;
}

std::unique_ptr<DriverPositions> make_memory_positions(const PositionsOptions& options) {
  return std::make_unique<MemoryPositions>(options);
}

}  // namespace intercab::location
