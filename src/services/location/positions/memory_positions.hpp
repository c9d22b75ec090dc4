// The memory adapter of the driver position index: a uniform latitude/longitude grid in one process, for
// a single instance and for tests. Searches visit rings of cells outwards from the query's cell.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "services/location/positions/driver_positions.hpp"

namespace intercab::location {

class MemoryPositions final : public DriverPositions {
 public:
  // Throws std::invalid_argument for a staleness below 1 s or a cell size that does not divide 180 degrees
  // or lies outside [0.01, 10].
  explicit MemoryPositions(const PositionsOptions& options);

  UpsertResult upsert(const DriverPosition& position) override;
  std::optional<DriverPosition> latest(std::string_view driver_id, Clock::time_point now) override;
  std::vector<NearbyDriver> nearby(LatLon center, double radius_km, std::size_t limit, Clock::time_point now) override;
  std::size_t purge_stale(Clock::time_point now) override;
  std::string_view adapter_name() const override { return "memory"; }

  // Cells holding at least one driver, stale or not: empty cells are dropped (tests check a moved driver
  // does not linger in its old cell).
  std::size_t occupied_cells() const;

 private:
  struct Driver;
  // What a search reads, packed per cell so that it never follows a pointer to a driver it does not keep:
  // the point as a unit vector too, because the chord between two unit vectors rules a point out for three
  // multiplications instead of a haversine.
  struct CellEntry {
    double x;
    double y;
    double z;
    LatLon position;
    Clock::time_point recorded_at;
    Driver* driver;
  };
  struct CellIndex {
    std::int64_t lat;  // 0 at -90 degrees
    std::int64_t lon;  // 0 at -180 degrees
  };
  struct Driver {
    DriverPosition position;
    CellIndex cell;
    std::size_t slot;  // index in its cell
  };
  // The grid is stored as square tiles of cells, allocated while they hold a driver: a cell is found by
  // indexing two arrays, and a country's worth of tiles costs a few megabytes.
  static constexpr std::int64_t kTileSide = 16;
  struct Tile {
    std::array<std::vector<CellEntry>, kTileSide * kTileSide> cells;
    std::size_t drivers = 0;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  class Search;

  CellIndex cell_of(LatLon point) const;
  // The cell's entries, or null when its tile is not allocated.
  const std::vector<CellEntry>* find_cell(CellIndex cell) const;
  void place(Driver& driver);   // appends to the driver's cell
  void remove(Driver& driver);  // swaps out of its cell, releasing the cell's memory and its tile when empty

  const Clock::duration staleness_;
  const double cell_deg_;
  const std::int64_t lat_cells_;
  const std::int64_t lon_cells_;
  const std::int64_t tile_columns_;

  mutable std::shared_mutex mutex_;
  // Nodes of an unordered_map never move, so cells can point at drivers.
  std::unordered_map<std::string, Driver, StringHash, std::equal_to<>> drivers_;
  std::vector<std::unique_ptr<Tile>> tiles_;  // row-major, tile_columns_ per row
  std::size_t allocated_tiles_ = 0;
  std::size_t occupied_cells_ = 0;
};

}  // namespace intercab::location
