// Tests of the city catalog against the real GeoNames extract (data/india_cities.csv): parsing, spellings,
// ranking, geocoding, nearest city, malformed files and hostile queries.
#include "services/location/domain/cities.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace intercab::location {
namespace {

const CityCatalog& catalog() {
  static const CityCatalog loaded = [] {
    const char* source_dir = std::getenv("INTERCAB_SOURCE_DIR");
    if (source_dir == nullptr || *source_dir == '\0') {
      throw std::runtime_error("INTERCAB_SOURCE_DIR is not set; run through ctest or export it as the repository root");
    }
    const std::string path = std::string(source_dir) + "/data/india_cities.csv";
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot open " + path);
    std::ostringstream text;
    text << file.rdbuf();
    return CityCatalog::parse_csv(text.str());
  }();
  return loaded;
}

// The catalog's city with this ASCII name in this state; fails the test if there is none.
const City* city(std::string_view name_ascii, std::string_view state_code) {
  for (const City& candidate : catalog().all()) {
    if (candidate.name_ascii == name_ascii && candidate.state_code == state_code) return &candidate;
  }
  ADD_FAILURE() << "no city " << name_ascii << " in " << state_code << " in the catalog";
  return nullptr;
}

std::string describe(const std::vector<CityCatalog::Match>& matches, std::size_t count = 5) {
  std::string text;
  for (std::size_t i = 0; i < std::min(count, matches.size()); ++i) {
    text += matches[i].city->name_ascii + " (" + matches[i].city->state_code + ", " + matches[i].matched_name + ", " +
            std::to_string(matches[i].score) + ") ";
  }
  return text.empty() ? "(no match)" : text;
}

std::string describe(const std::vector<CityCatalog::GeocodeCandidate>& candidates) {
  std::string text;
  for (std::size_t i = 0; i < std::min<std::size_t>(5, candidates.size()); ++i) {
    text += candidates[i].city->name_ascii + " (" + candidates[i].city->state_code + ", " +
            std::to_string(candidates[i].confidence) + ") ";
  }
  return text.empty() ? "(no candidate)" : text;
}

struct Expected {
  std::string_view query;
  std::string_view name_ascii;
  std::string_view state_code;
};

void expect_first(const std::vector<Expected>& table) {
  for (const Expected& row : table) {
    const std::vector<CityCatalog::Match> matches = catalog().search(row.query, std::nullopt);
    const City* expected = city(row.name_ascii, row.state_code);
    ASSERT_FALSE(matches.empty()) << "query '" << row.query << "' found nothing";
    EXPECT_EQ(matches.front().city, expected) << "query '" << row.query << "' ranked " << describe(matches);
  }
}

// --- Loading -----------------------------------------------------------------------------------------------------

TEST(CityCatalog, LoadsTheWholeExtractByPopulation) {
  const auto cities = catalog().all();
  ASSERT_EQ(cities.size(), 889u);
  EXPECT_EQ(cities.front().name, "Mumbai");
  for (std::size_t i = 1; i < cities.size(); ++i) {
    const bool ordered = cities[i - 1].population > cities[i].population ||
                         (cities[i - 1].population == cities[i].population && cities[i - 1].id < cities[i].id);
    ASSERT_TRUE(ordered) << cities[i - 1].name << " before " << cities[i].name;
  }
  const City* bengaluru = catalog().find(1277333);
  ASSERT_NE(bengaluru, nullptr);
  EXPECT_EQ(bengaluru->name, "Bengaluru");
  EXPECT_EQ(bengaluru->state, "Karnataka");
  EXPECT_EQ(bengaluru->state_code, "IN-KA");
  EXPECT_NEAR(bengaluru->position.lat, 12.97194, 1e-9);
  EXPECT_NEAR(bengaluru->position.lon, 77.59369, 1e-9);
  EXPECT_EQ(catalog().find(1264527)->name, "Chennai");
  EXPECT_EQ(catalog().find(0), nullptr);
  EXPECT_EQ(catalog().find(-1), nullptr);
  EXPECT_EQ(catalog().find(std::numeric_limits<std::int64_t>::max()), nullptr);
  // `name` keeps the diacritics; `name_ascii` has none.
  EXPECT_EQ(catalog().find(1278994)->name, "Allahābād");
  EXPECT_EQ(catalog().find(1278994)->name_ascii, "Allahabad");
}

TEST(CityCatalog, ParsesQuotedFieldsAndCrlf) {
  const std::string csv =
      "geonameid,name,name_ascii,state,state_code,lat,lon,population,feature_code\r\n"
      "1,\"Vasco, \"\"da\"\" Gama\",Vasco da Gama,Goa,IN-GA,15.3959,73.8157,100000,PPL\r\n"
      "2,\"Two\nLines\",Two Lines,Goa,IN-GA,15.5,73.9,200000,\"\"\r\n"
      "\r\n";
  const CityCatalog small = CityCatalog::parse_csv(csv);
  ASSERT_EQ(small.all().size(), 2u);
  EXPECT_EQ(small.all()[0].name, "Two\nLines");
  EXPECT_EQ(small.all()[1].name, "Vasco, \"da\" Gama");
  EXPECT_EQ(small.resolve_state("goa"), "IN-GA");
  EXPECT_EQ(small.resolve_state("maharashtra"), std::nullopt);  // only states with a city are known
  // Alternate spellings whose city is absent are skipped, not attached to something else.
  EXPECT_TRUE(small.alternate_names().empty());
  EXPECT_TRUE(small.search("bombay", std::nullopt).empty());
}

TEST(CityCatalog, RejectsMalformedFilesNamingLineAndField) {
  const std::string header = "geonameid,name,name_ascii,state,state_code,lat,lon,population,feature_code\n";
  const std::string good = "1,Pune,Pune,Maharashtra,IN-MH,18.51957,73.85535,2935744,PPL\n";
  struct Case {
    std::string csv;
    std::vector<std::string> message_parts;
  };
  const std::vector<Case> cases{
      {"", {"line 1", "header"}},
      {"id,name\n" + good, {"line 1", "header must be"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,north,73.85,100,PPL\n", {"line 2", "'lat'", "north"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,91.5,73.85,100,PPL\n", {"line 2", "'lat'", "out of range"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,18.5,180.01,100,PPL\n", {"line 2", "'lon'", "out of range"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,nan,73.85,100,PPL\n", {"line 2", "'lat'"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,inf,73.85,100,PPL\n", {"line 2", "'lat'"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,18.5,73.85,12e,PPL\n", {"line 2", "'population'"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,18.5,73.85,-5,PPL\n", {"line 2", "'population'", "negative"}},
      {header + "x1,Pune,Pune,Maharashtra,IN-MH,18.5,73.85,5,PPL\n", {"line 2", "'geonameid'"}},
      {header + "99999999999999999999,Pune,Pune,Maharashtra,IN-MH,18.5,73.85,5,PPL\n", {"line 2", "'geonameid'"}},
      {header + good + good, {"line 3", "'geonameid'", "duplicate id 1", "line 2"}},
      {header + "1,Pune,Pune,Maharashtra,IN-MH,18.5,73.85,5\n", {"line 2", "expected 9 fields, found 8"}},
      {header + "1,Pune,Pune,Maharashtra,MH,18.5,73.85,5,PPL\n", {"line 2", "'state_code'", "MH"}},
      {header + "1,,Pune,Maharashtra,IN-MH,18.5,73.85,5,PPL\n", {"line 2", "'name'", "empty"}},
      {header + good + "2,Thane,Thane,Maharastra,IN-MH,19.2,72.9,5,PPL\n", {"line 3", "'state'", "line 2"}},
      {header + "1,\"Pune,Pune,Maharashtra,IN-MH,18.5,73.85,5,PPL\n", {"line 2", "not closed"}},
      {header + "1,\"Pune\"x,Pune,Maharashtra,IN-MH,18.5,73.85,5,PPL\n", {"line 2", "closing quote"}},
      {header + "1,Pu\"ne,Pune,Maharashtra,IN-MH,18.5,73.85,5,PPL\n", {"line 2", "quote inside"}},
  };
  for (const Case& c : cases) {
    try {
      CityCatalog::parse_csv(c.csv);
      ADD_FAILURE() << "accepted: " << c.csv;
    } catch (const std::invalid_argument& error) {
      for (const std::string& part : c.message_parts) {
        EXPECT_NE(std::string(error.what()).find(part), std::string::npos)
            << "message '" << error.what() << "' lacks '" << part << "' for: " << c.csv;
      }
    }
  }
}

// --- Folding and spellings ---------------------------------------------------------------------------------------

TEST(FoldName, LowercasesStripsDiacriticsPunctuationAndSpaces) {
  const std::vector<std::pair<std::string_view, std::string_view>> table{
      {"Dehra Dūn", "dehradun"},
      {"Bhubaneśwar", "bhubaneswar"},
      {"ALLAHĀBĀD", "allahabad"},
      {"  New   Delhi, ", "newdelhi"},
      {"Rāj-Nāndgaon", "rajnandgaon"},
      {"Kāñcīpuram ṇṭḍṣṛḥṃ", "kancipuramntdsrhm"},  // IAST
      {"Bhubanes\xCC\x81war", "bhubaneswar"},       // combining acute accent (NFD input)
      {"Straße Æro Œuvre", "strasseaerooeuvre"},
      {"Sector 18", "sector18"},
      {"मुंबई", ""},
      {"\xFF\xFE"
       "abc\xC3",
       "abc"},                                      // invalid bytes and a truncated sequence are dropped
      {"\xC1\x81\xE0\x81\x81", ""},                 // overlong encodings of 'A' do not become letters
      {"\xED\xA0\x80x", "x"},                       // a UTF-16 surrogate in UTF-8
      {std::string_view("a\0b\x01\x7F", 5), "ab"},  // NUL and control characters
  };
  for (const auto& [input, folded] : table) EXPECT_EQ(fold_name(input), folded) << "input: " << input;
}

TEST(CitySearch, EveryAlternateSpellingFindsItsCityFirst) {
  const std::vector<Expected> table{
      {"Bangalore", "Bengaluru", "IN-KA"},
      {"Bombay", "Mumbai", "IN-MH"},
      {"Gurugram", "Gurgaon", "IN-HR"},
      {"Calcutta", "Kolkata", "IN-WB"},
      {"Madras", "Chennai", "IN-TN"},
      {"Benares", "Varanasi", "IN-UP"},
      {"Banaras", "Varanasi", "IN-UP"},
      {"Trivandrum", "Thiruvananthapuram", "IN-KL"},
      {"Poona", "Pune", "IN-MH"},
      {"Kochi", "Cochin", "IN-KL"},
      {"Mysuru", "Mysore", "IN-KA"},
      {"Prayagraj", "Allahabad", "IN-UP"},
      {"Mangaluru", "Mangalore", "IN-KA"},
      {"Baroda", "Vadodara", "IN-GJ"},
      {"Dehradun", "Dehra Dun", "IN-UK"},
      {"Bhubaneswar", "Bhubaneshwar", "IN-OD"},
      {"Chhatrapati Sambhajinagar", "Aurangabad", "IN-MH"},
      {"Pondicherry", "Puducherry", "IN-PY"},
      {"Simla", "Shimla", "IN-HP"},
      {"Calicut", "Kozhikode", "IN-KL"},
      {"Vizag", "Visakhapatnam", "IN-AP"},
      {"Belagavi", "Belgaum", "IN-KA"},
      {"Hubballi", "Hubli", "IN-KA"},
      {"Tuticorin", "Thoothukudi", "IN-TN"},
      {"Trichy", "Tiruchirappalli", "IN-TN"},
      {"Kalaburagi", "Gulbarga", "IN-KA"},
      {"Cawnpore", "Kanpur", "IN-UP"},
      {"Bezawada", "Vijayawada", "IN-AP"},
      {"Shivamogga", "Shimoga", "IN-KA"},
      {"Ballari", "Bellary", "IN-KA"},
      {"Tumakuru", "Tumkur", "IN-KA"},
      {"Panjim", "Panaji", "IN-GA"},
      {"Howrah", "Haora", "IN-WB"},
  };
  expect_first(table);
  // Both ways: the GeoNames name finds the same city, with score 1.
  for (const Expected& row : table) {
    const auto matches = catalog().search(row.name_ascii, std::nullopt);
    ASSERT_FALSE(matches.empty()) << row.name_ascii;
    EXPECT_EQ(matches.front().city, city(row.name_ascii, row.state_code)) << describe(matches);
    EXPECT_EQ(matches.front().score, 1.0) << row.name_ascii;
  }
  // The alternate spelling is reported as what matched.
  const auto bangalore = catalog().search("bangalore", std::nullopt);
  EXPECT_EQ(bangalore.front().matched_name, "Bangalore");
  EXPECT_DOUBLE_EQ(bangalore.front().score, 0.95);
}

TEST(CitySearch, AlternateSpellingsAreUnambiguous) {
  const auto alternates = catalog().alternate_names();
  EXPECT_GE(alternates.size(), 85u);  // the table has 88 rows; Dehradun folds like Dehra Dun
  for (const auto& alternate : alternates) {
    for (const City& other : catalog().all()) {
      EXPECT_NE(fold_name(other.name), fold_name(alternate.spelling))
          << "'" << alternate.spelling << "' (for " << alternate.city->name << ") is the name of " << other.name << ", "
          << other.state_code;
    }
    const auto matches = catalog().search(alternate.spelling, std::nullopt);
    ASSERT_FALSE(matches.empty()) << alternate.spelling;
    EXPECT_EQ(matches.front().city, alternate.city) << alternate.spelling << ": " << describe(matches);
  }
  // Aurangabad exists in Maharashtra and Bihar; only the Maharashtra one was renamed.
  const auto renamed = catalog().search("sambhajinagar", std::nullopt);
  ASSERT_FALSE(renamed.empty());
  EXPECT_EQ(renamed.front().city, city("Aurangabad", "IN-MH"));
  for (const auto& match : renamed) EXPECT_NE(match.city, city("Aurangabad", "IN-BR")) << describe(renamed);
}

TEST(CitySearch, PrefixesDiacriticsCaseAndSpaces) {
  expect_first({
      {"beng", "Bengaluru", "IN-KA"},
      {"new d", "New Delhi", "IN-DL"},
      {"New De", "New Delhi", "IN-DL"},
      {"hyd", "Hyderabad", "IN-TS"},
      {"navi", "Navi Mumbai", "IN-MH"},
      {"Bhubaneśwar", "Bhubaneshwar", "IN-OD"},
      {"dehradun", "Dehra Dun", "IN-UK"},
      {"DEHRA DUN", "Dehra Dun", "IN-UK"},
      {"  allahābād ", "Allahabad", "IN-UP"},
      {"raj nandgaon", "Raj-Nandgaon", "IN-CG"},
      {"vasco", "Vasco da Gama", "IN-GA"},
  });
  const auto dehradun = catalog().search("dehradun", std::nullopt);
  EXPECT_EQ(dehradun.front().score, 1.0);
  // A later word of a name is found too, after the names that start with the query.
  const auto delhi = catalog().search("delhi", std::nullopt);
  ASSERT_GE(delhi.size(), 2u);
  EXPECT_EQ(delhi[0].city, city("Delhi", "IN-DL"));
  EXPECT_EQ(delhi[1].city, city("New Delhi", "IN-DL")) << describe(delhi);
}

TEST(CitySearch, ToleratesTypos) {
  expect_first({
      {"Banglore", "Bengaluru", "IN-KA"},
      {"Hyderbad", "Hyderabad", "IN-TS"},
      {"Chenai", "Chennai", "IN-TN"},
      {"Ahmadabad", "Ahmedabad", "IN-GJ"},
      {"Jaipru", "Jaipur", "IN-RJ"},
      {"Mumbia", "Mumbai", "IN-MH"},
      {"Kolkatta", "Kolkata", "IN-WB"},
      {"Vishakapatnam", "Visakhapatnam", "IN-AP"},  // two edits, allowed for long queries
      {"Thiruvanantpuram", "Thiruvananthapuram", "IN-KL"},
      {"Lucknw", "Lucknow", "IN-UP"},
  });
  // Short queries are prefixes only: three letters with one typo would match half the country.
  EXPECT_TRUE(catalog().search("xqz", std::nullopt).empty());
  EXPECT_TRUE(catalog().search("zzzzzzzzzz", std::nullopt).empty());
  const auto typo = catalog().search("Banglore", std::nullopt);
  EXPECT_LT(typo.front().score, 0.95);
  EXPECT_GT(typo.front().score, 0.0);
}

TEST(CitySearch, RanksByTierThenPopulationThenId) {
  for (const std::string_view query : {"a", "ban", "aurangabad", "pur", "Kota", "Banglore", "gorakhpur", "delhi"}) {
    const auto matches = catalog().search(query, std::nullopt);
    ASSERT_FALSE(matches.empty()) << query;
    for (std::size_t i = 0; i < matches.size(); ++i) {
      ASSERT_GT(matches[i].score, 0.0);
      ASSERT_LE(matches[i].score, 1.0);
      if (i == 0) continue;
      const auto& a = matches[i - 1];
      const auto& b = matches[i];
      const bool ordered =
          a.score > b.score ||
          (a.score == b.score && (a.city->population > b.city->population ||
                                  (a.city->population == b.city->population && a.city->id < b.city->id)));
      ASSERT_TRUE(ordered) << query << ": " << a.city->name << " before " << b.city->name;
    }
  }
  // Exact name beats prefix beats typo.
  const auto kota = catalog().search("kota", std::nullopt);
  EXPECT_EQ(kota.front().city, city("Kota", "IN-RJ"));
  EXPECT_EQ(kota.front().score, 1.0);
  // Two cities share an exact name: both score 1, the bigger first.
  const auto aurangabad = catalog().search("Aurangabad", std::nullopt);
  ASSERT_GE(aurangabad.size(), 2u);
  EXPECT_EQ(aurangabad[0].city, city("Aurangabad", "IN-MH"));
  EXPECT_EQ(aurangabad[1].city, city("Aurangabad", "IN-BR"));
  EXPECT_EQ(aurangabad[1].score, 1.0);
  // An exact alternate spelling beats names that merely start with it.
  const auto kochi = catalog().search("kochi", std::nullopt);
  EXPECT_EQ(kochi.front().city, city("Cochin", "IN-KL"));
}

TEST(CitySearch, FiltersByState) {
  const auto karnataka = catalog().resolve_state("Karnataka");
  ASSERT_EQ(karnataka, "IN-KA");
  const auto all_karnataka = catalog().search("", *karnataka);
  EXPECT_EQ(all_karnataka.size(), 59u);
  EXPECT_EQ(all_karnataka.front().city, city("Bengaluru", "IN-KA"));
  for (const auto& match : all_karnataka) EXPECT_EQ(match.city->state_code, "IN-KA");

  const auto bihar = catalog().resolve_state("IN-BR");
  ASSERT_EQ(bihar, "IN-BR");
  const auto aurangabad = catalog().search("aurangabad", *bihar);
  ASSERT_EQ(aurangabad.size(), 1u) << describe(aurangabad);
  EXPECT_EQ(aurangabad.front().city, city("Aurangabad", "IN-BR"));

  for (const auto& match : catalog().search("pur", std::string_view("IN-UP"))) {
    EXPECT_EQ(match.city->state_code, "IN-UP");
  }
  EXPECT_TRUE(catalog().search("pune", std::string_view("IN-KA")).empty());
  EXPECT_TRUE(catalog().search("", std::string_view("IN-XX")).empty());
}

TEST(CitySearch, EmptyQueryListsEveryCityByPopulationAndLimitCuts) {
  const auto everything = catalog().search("", std::nullopt);
  ASSERT_EQ(everything.size(), catalog().all().size());
  for (std::size_t i = 0; i < everything.size(); ++i) EXPECT_EQ(everything[i].city, &catalog().all()[i]);
  EXPECT_EQ(catalog().search(" \t", std::nullopt).size(), everything.size());
  // Text that folds to nothing is not the empty query.
  EXPECT_TRUE(catalog().search("मुंबई", std::nullopt).empty());
  EXPECT_TRUE(catalog().search("!!!", std::nullopt).empty());

  const auto first_five = catalog().search("a", std::nullopt, 5);
  const auto all_a = catalog().search("a", std::nullopt);
  ASSERT_EQ(first_five.size(), 5u);
  ASSERT_GT(all_a.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(first_five[i].city, all_a[i].city);
  EXPECT_TRUE(catalog().search("a", std::nullopt, 0).empty());
  EXPECT_EQ(catalog().search("", std::nullopt, 3).size(), 3u);
}

TEST(CityCatalog, ResolvesStatesByNameOrCode) {
  const std::vector<std::pair<std::string_view, std::optional<std::string>>> table{
      {"maharashtra", "IN-MH"},
      {"IN-MH", "IN-MH"},
      {"mh", "IN-MH"},
      {"in-mh", "IN-MH"},
      {"Tamil Nadu", "IN-TN"},
      {"TAMILNADU", "IN-TN"},
      {"uttar pradesh", "IN-UP"},
      {"Odisha", "IN-OD"},
      {"Orissa", "IN-OD"},
      {"IN-OR", "IN-OD"},
      {"IN-TG", "IN-TS"},
      {"Telangana", "IN-TS"},
      {"J&K", "IN-JK"},
      {"Jammu and Kashmir", "IN-JK"},
      {"Andaman and Nicobar Islands", "IN-AN"},
      {"Pondicherry", "IN-PY"},
      {"Sikkim", std::nullopt},  // no city of 50,000 in the extract
      {"IN-SK", std::nullopt},
      {"or", std::nullopt},  // old codes only with their prefix
      {"maharastra", std::nullopt},
      {"", std::nullopt},
      {"\xFF", std::nullopt},
  };
  for (const auto& [input, code] : table) EXPECT_EQ(catalog().resolve_state(input), code) << "input: " << input;
}

// --- Geocoding ---------------------------------------------------------------------------------------------------

TEST(CityGeocode, ReadsCityAndStateFromFreeText) {
  const std::vector<Expected> table{
      {"pune maharashtra", "Pune", "IN-MH"},
      {"Bangalore, Karnataka", "Bengaluru", "IN-KA"},
      {"mysuru ka", "Mysore", "IN-KA"},
      {"near kochi kerala", "Cochin", "IN-KL"},
      {"aurangabad bihar", "Aurangabad", "IN-BR"},
      {"Aurangabad", "Aurangabad", "IN-MH"},
      {"hyderabad", "Hyderabad", "IN-TS"},
      {"Lucknow, Uttar Pradesh, India", "Lucknow", "IN-UP"},
      {"chennai tamil nadu", "Chennai", "IN-TN"},
      {"new delhi", "New Delhi", "IN-DL"},
      {"delhi", "Delhi", "IN-DL"},
      {"IN-MH nagpur", "Nagpur", "IN-MH"},
      {"banglore karnatka", "Bengaluru", "IN-KA"},
      {"gurgaon, maharastra", "Gurgaon", "IN-HR"},
      {"Koramangala, Bangalore", "Bengaluru", "IN-KA"},
      {"Bihar Sharif", "Bihar Sharif", "IN-BR"},
      {"port blair andaman and nicobar islands", "Port Blair", "IN-AN"},
  };
  for (const Expected& row : table) {
    const auto candidates = catalog().geocode(row.query, 5);
    ASSERT_FALSE(candidates.empty()) << row.query;
    EXPECT_EQ(candidates.front().city, city(row.name_ascii, row.state_code))
        << "'" << row.query << "' gave " << describe(candidates);
    EXPECT_LE(candidates.size(), 5u);
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      EXPECT_GT(candidates[i].confidence, 0.0);
      EXPECT_LE(candidates[i].confidence, 1.0);
      if (i > 0) {
        EXPECT_GE(candidates[i - 1].confidence, candidates[i].confidence);
      }
    }
  }
}

TEST(CityGeocode, StateAgreementRaisesAndContradictionDemotes) {
  const auto confidence_of = [](std::string_view text, const City* wanted) {
    for (const auto& candidate : catalog().geocode(text, 50)) {
      if (candidate.city == wanted) return candidate.confidence;
    }
    return 0.0;
  };
  const City* pune = city("Pune", "IN-MH");
  EXPECT_GT(confidence_of("pune maharashtra", pune), confidence_of("pune", pune));
  EXPECT_GT(confidence_of("pune", pune), confidence_of("pune karnataka", pune));
  // Demoted, not dropped: the Maharashtra Aurangabad is still offered for "aurangabad bihar".
  const City* aurangabad_mh = city("Aurangabad", "IN-MH");
  const double contradicted = confidence_of("aurangabad bihar", aurangabad_mh);
  EXPECT_GT(contradicted, 0.0);
  EXPECT_LT(contradicted, confidence_of("aurangabad bihar", city("Aurangabad", "IN-BR")));
  EXPECT_NEAR(confidence_of("Pune, Maharashtra", pune), 1.0, 0.05);

  EXPECT_EQ(catalog().geocode("pune", 1).size(), 1u);
  EXPECT_TRUE(catalog().geocode("pune", 0).empty());
  EXPECT_TRUE(catalog().geocode("", 5).empty());
  EXPECT_TRUE(catalog().geocode("near the", 5).empty());
  EXPECT_TRUE(catalog().geocode("xqzxqz wvwvwv", 5).empty());
}

// --- Nearest city ------------------------------------------------------------------------------------------------

const City* nearest_by_scan(LatLon point, double& distance_km) {
  const City* best = nullptr;
  distance_km = std::numeric_limits<double>::infinity();
  for (const City& candidate : catalog().all()) {
    const double distance = great_circle_km(point, candidate.position);
    if (distance < distance_km) {
      best = &candidate;
      distance_km = distance;
    }
  }
  return best;
}

TEST(CityNearest, FindsEachCityAtItsOwnPosition) {
  for (const City& each : catalog().all()) {
    const auto found = catalog().nearest(each.position);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->city, &each) << each.name;
    EXPECT_EQ(found->distance_km, 0.0) << each.name;
  }
}

TEST(CityNearest, AgreesWithAFullScanEverywhere) {
  // Points between cities: a lattice over and around India, plus far-away places answered by the fallback scan.
  std::vector<LatLon> points;
  for (double lat = 2.05; lat <= 42; lat += 0.37) {
    for (double lon = 62.1; lon <= 101; lon += 0.41) points.push_back({lat, lon});
  }
  for (const LatLon far : {LatLon{51.5, -0.12}, LatLon{-33.87, 151.21}, LatLon{0, 0}, LatLon{90, 0}, LatLon{-90, 180},
                           LatLon{20, -179.9}, LatLon{40.1, 80}}) {
    points.push_back(far);
  }
  for (const LatLon point : points) {
    double expected_km = 0;
    const City* expected = nearest_by_scan(point, expected_km);
    const auto found = catalog().nearest(point);
    ASSERT_TRUE(found.has_value());
    EXPECT_DOUBLE_EQ(found->distance_km, expected_km) << point.lat << "," << point.lon;
    EXPECT_EQ(found->city, expected) << point.lat << "," << point.lon;
  }
  // Midway between Mumbai and Pune the answer is a city between them, closer than either.
  const City* mumbai = city("Mumbai", "IN-MH");
  const City* pune = city("Pune", "IN-MH");
  const auto middle = catalog().nearest(interpolate(mumbai->position, pune->position, 0.5));
  ASSERT_TRUE(middle.has_value());
  EXPECT_LT(middle->distance_km, great_circle_km(mumbai->position, pune->position) / 2);
  // One kilometre north of Bengaluru's point.
  const auto near_bengaluru = catalog().nearest({12.97194 + 1.0 / 111.2, 77.59369});
  ASSERT_TRUE(near_bengaluru.has_value());
  EXPECT_EQ(near_bengaluru->city, city("Bengaluru", "IN-KA"));
  EXPECT_NEAR(near_bengaluru->distance_km, 1.0, 0.01);
}

TEST(CityNearest, EmptyCatalogAndInvalidPoints) {
  const CityCatalog empty =
      CityCatalog::parse_csv("geonameid,name,name_ascii,state,state_code,lat,lon,population,feature_code\n");
  EXPECT_EQ(empty.nearest({20, 78}), std::nullopt);
  EXPECT_TRUE(empty.search("", std::nullopt).empty());
  EXPECT_TRUE(empty.geocode("pune", 3).empty());
  EXPECT_THROW((void)catalog().nearest({91, 0}), std::invalid_argument);
  EXPECT_THROW((void)catalog().nearest({std::numeric_limits<double>::quiet_NaN(), 0}), std::invalid_argument);
}

// --- Hostile input and speed -------------------------------------------------------------------------------------

TEST(CitySearch, SurvivesHostileQueriesQuickly) {
  std::vector<std::string> queries{
      std::string("\xFF\xFE\xFD\xC0\x80\xED\xA0\x80\xF4\x90\x80\x80"),
      std::string("pu\0ne", 5),
      "\x01\x02\x03\x1B[31mpune\x1B[0m",
      "'; DROP TABLE cities; --",
      "%s%s%s%n%x",
      "\u202Eenup",  // right-to-left override
      "🏙️🚕 Bengaluru 🚕",
      "ＢＥＮＧＡＬＵＲＵ",  // fullwidth letters are another script here
      "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z",
      std::string(10 * 1024, 'a'),
      std::string(100 * 1024, 'x'),
      std::string(100 * 1024, '\xFF'),
      std::string(64, 'b'),
      std::string(65, 'b'),
  };
  std::string many_words;
  while (many_words.size() < 100 * 1024) many_words += "pune maharashtra ";
  queries.push_back(many_words);
  std::string long_utf8;
  while (long_utf8.size() < 100 * 1024) long_utf8 += "ā";
  queries.push_back(long_utf8);

  const auto started = std::chrono::steady_clock::now();
  for (const std::string& query : queries) {
    const auto matches = catalog().search(query, std::nullopt);
    for (const auto& match : matches) {
      ASSERT_NE(match.city, nullptr);
      ASSERT_GT(match.score, 0.0);
    }
    (void)catalog().search(query, std::string_view("IN-MH"), 10);
    (void)catalog().search("pune", std::string_view(query));
    const auto candidates = catalog().geocode(query, 10);
    ASSERT_LE(candidates.size(), 10u);
    (void)catalog().resolve_state(query);
    (void)fold_name(query);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("hostile queries: %zu in %.3f s\n", queries.size(), seconds);
  EXPECT_LT(seconds, 10.0);  // loose: a debug ASan build on a busy CI machine

  // Specific outcomes: the control characters are dropped, the long strings only match exactly (nothing).
  EXPECT_EQ(catalog().search(std::string("pu\0ne", 5), std::nullopt).front().city, city("Pune", "IN-MH"));
  EXPECT_TRUE(catalog().search(std::string(100 * 1024, 'x'), std::nullopt).empty());
  EXPECT_EQ(catalog().geocode(many_words, 1).front().city, city("Pune", "IN-MH"));
}

TEST(CitySearch, TypoSearchOverTheWholeCatalogIsFast) {
  (void)catalog();
  const std::vector<std::string_view> typos{"Banglore", "Hyderbad", "Chenai", "Ahmadabad", "Jaipru", "Vishakapatnam"};
  constexpr int kRounds = 30;
  auto started = std::chrono::steady_clock::now();
  std::size_t found = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (const std::string_view query : typos) found += catalog().search(query, std::nullopt).size();
  }
  const double search_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count() /
      (kRounds * static_cast<double>(typos.size()));

  const std::vector<std::string_view> texts{"pune maharashtra", "Bangalore, Karnataka", "near kochi kerala",
                                            "aurangabad bihar", "port blair andaman and nicobar islands"};
  started = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (const std::string_view text : texts) found += catalog().geocode(text, 10).size();
  }
  const double geocode_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count() /
      (kRounds * static_cast<double>(texts.size()));

  std::printf("average search (typo, whole catalog): %.3f ms; average geocode: %.3f ms\n", search_ms, geocode_ms);
  EXPECT_GT(found, 0u);
  EXPECT_LT(search_ms, 20.0);  // well under 1 ms in a release build; the bound only catches pathologies
  EXPECT_LT(geocode_ms, 200.0);
}

}  // namespace
}  // namespace intercab::location
