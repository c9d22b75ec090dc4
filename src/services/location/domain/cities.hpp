// The catalog of Indian cities the location service resolves names against (issue 7): parsing the GeoNames
// extract in data/india_cities.csv, autocomplete that tolerates old names, diacritics and typos, free-text
// geocoding ("pune maharashtra") and nearest-city lookup. Pure domain code: the caller reads the file.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "services/location/domain/geo.hpp"

namespace intercab::location {

struct City {
  std::int64_t id = 0;  // GeoNames geonameid
  std::string name;     // GeoNames spelling, may carry diacritics ("Allahābād")
  std::string name_ascii;
  std::string state;       // e.g. "Maharashtra"
  std::string state_code;  // ISO 3166-2 after the 2023 update, e.g. "IN-MH"
  LatLon position;
  std::int64_t population = 0;
};

class CityCatalog {
 public:
  // Throws std::invalid_argument naming the line and field on malformed input (wrong header, bad number,
  // lat/lon out of range, duplicate id, one state code with two state names).
  static CityCatalog parse_csv(std::string_view csv_text);

  std::span<const City> all() const;        // population descending, then id ascending
  const City* find(std::int64_t id) const;  // O(1); nullptr if unknown

  // A state's name or ISO 3166-2 code, case- and diacritic-insensitive ("maharashtra", "IN-MH", "mh") -> canonical
  // code "IN-MH". Also accepts the pre-2023 codes with their "IN-" prefix ("IN-OR") and a few former names
  // ("Orissa"). nullopt if no city of the catalog is in that state.
  std::optional<std::string> resolve_state(std::string_view name_or_code) const;

  struct Match {
    const City* city;
    double score;              // in (0, 1], 1 = exact name
    std::string matched_name;  // the spelling that matched: the city's name or an alternate spelling
  };

  // Autocomplete: ALL matches (or the first `limit`), best first. Tiers: exact name (1.0) > exact alternate
  // spelling (0.95) > name prefix (0.85) > alternate-spelling prefix (0.8) > prefix of a later word of a name
  // ("delhi" -> New Delhi, 0.75/0.7) > typo (Damerau-Levenshtein 1, or 2 for queries of 8+ letters, against the
  // whole name or a prefix of it; 0.6 down to 0.3). Ties: population descending, then id. Names and queries are
  // compared after fold_name(). An empty (or blank) query lists every city by population; a query that has
  // characters but folds to nothing (another script, only symbols) matches nothing. `state_code` is a canonical
  // code (see resolve_state) and filters. Queries longer than 64 folded characters only match exactly.
  std::vector<Match> search(std::string_view query, std::optional<std::string_view> state_code) const;
  std::vector<Match> search(std::string_view query, std::optional<std::string_view> state_code,
                            std::size_t limit) const;

  struct AlternateName {
    std::string spelling;  // as written in the table, e.g. "Bangalore"
    const City* city;
  };
  // The alternate spellings search() knows for this catalog: the table in cities.cpp without the cities it lacks.
  std::vector<AlternateName> alternate_names() const;

  struct GeocodeCandidate {
    const City* city;
    double confidence;  // in (0, 1]
  };

  // Free-text geocoding ("pune maharashtra", "Bangalore, Karnataka", "mysuru ka", "near kochi kerala"): splits the
  // text into words, recognises a state (name, code or a close misspelling of a long name) among them and matches
  // the other words as a city with the same rules as search(). Confidence multiplies the name score, the state
  // agreement (agrees 1.0, none given 0.9, contradicts 0.5: demoted, not dropped), the share of the words the city
  // explains and a small population weight. Best first, at most `limit`. Only the first 8 words count.
  std::vector<GeocodeCandidate> geocode(std::string_view text, std::size_t limit) const;

  struct Nearest {
    const City* city;
    double distance_km;
  };

  // The city closest to `point` by great-circle distance, through a one-degree grid. nullopt only for an empty
  // catalog; throws std::invalid_argument if `point` is not a valid coordinate.
  std::optional<Nearest> nearest(LatLon point) const;

 private:
  // One spelling a city can be found by: its own name or an alternate spelling from the table in cities.cpp.
  struct SearchName {
    std::string folded;
    std::string display;
    std::size_t city_index = 0;
    bool alternate = false;
    std::vector<std::size_t> word_starts;          // offsets in `folded` where the 2nd, 3rd... word of `display` begins
    std::array<std::uint8_t, 36> letter_counts{};  // of 'a'..'z' and '0'..'9' in `folded`, for the typo filter
    std::uint64_t letter_mask = 0;                 // bit i set when letter_counts[i] > 0
  };
  struct ScoredName {
    std::size_t city_index;
    double score;
    std::size_t name_index;
  };
  struct StateName {
    std::string folded;
    std::string code;
  };

  void build_indexes();
  void add_search_name(std::string_view display, std::size_t city_index, bool alternate);
  // Best score per city for an already folded query, unordered.
  std::vector<ScoredName> match_folded(std::string_view folded_query, std::optional<std::string_view> state_code) const;
  std::optional<std::string> resolve_state_folded(std::string_view folded, bool allow_typos) const;
  const City* nearest_by_scan(LatLon point, double& distance_km) const;

  std::vector<City> cities_;
  std::unordered_map<std::int64_t, std::size_t> index_by_id_;
  std::vector<SearchName> names_;
  std::unordered_map<std::string, std::vector<std::size_t>> names_by_folded_;  // folded spelling -> names_ indices
  std::unordered_map<std::string, std::string> state_by_key_;                  // folded name or code -> code
  std::vector<StateName> state_names_;                                         // for misspelt state names
  std::vector<double> population_weight_;                                      // per city, in [0, 1]

  // Grid over the catalog's bounding box: cities of cell (row, col) are
  // grid_cities_[grid_cell_start_[row * grid_cols_ + col] .. grid_cell_start_[row * grid_cols_ + col + 1]).
  double grid_lat0_ = 0;
  double grid_lon0_ = 0;
  int grid_rows_ = 0;
  int grid_cols_ = 0;
  std::vector<std::size_t> grid_cell_start_;
  std::vector<std::size_t> grid_cities_;
};

// Lowercase ASCII fold used above (exposed for tests and for the road-graph calibration by name): ASCII letters are
// lowercased, digits kept, Latin letters with diacritics (Latin-1, Latin Extended-A and Extended Additional, which
// covers IAST transliteration such as "ś", "ṇ") become their base letter, and everything else -- spaces,
// punctuation, control characters, other scripts, invalid UTF-8 -- is dropped. "Dehra Dūn" -> "dehradun".
std::string fold_name(std::string_view text);

}  // namespace intercab::location
