// The city catalog: RFC 4180 parsing of the GeoNames extract, the name fold, ranked name matching with alternate
// spellings and bounded Damerau-Levenshtein typos, free-text geocoding and a one-degree grid for nearest().
#include "services/location/domain/cities.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace intercab::location {
namespace {

constexpr std::array<std::string_view, 9> kHeader{"geonameid", "name", "name_ascii", "state",       "state_code",
                                                  "lat",       "lon",  "population", "feature_code"};

// Former and colloquial names people still type, mapped to the city as the GeoNames extract spells it (which is
// sometimes the old name: Mysore, Cochin, Allahabad). The state code picks the right city where a name is shared:
// only the Maharashtra Aurangabad became Chhatrapati Sambhajinagar, and "Berhampur" is left out because it is both
// Brahmapur (Odisha) and Baharampur (West Bengal). Entries whose city is not in the catalog are skipped, and a test
// checks that no alternate spelling is another city's name.
struct AlternateSpelling {
  std::string_view alternate;
  std::string_view name_ascii;
  std::string_view state_code;
};
constexpr AlternateSpelling kAlternateSpellings[] = {
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
    {"Dehradun", "Dehra Dun", "IN-UK"},  // same fold as the name; kept so the table reads as the list of renames
    {"Bhubaneswar", "Bhubaneshwar", "IN-OD"},
    {"Chhatrapati Sambhajinagar", "Aurangabad", "IN-MH"},
    {"Sambhajinagar", "Aurangabad", "IN-MH"},
    {"Pondicherry", "Puducherry", "IN-PY"},
    {"Simla", "Shimla", "IN-HP"},
    {"Calicut", "Kozhikode", "IN-KL"},
    {"Vizag", "Visakhapatnam", "IN-AP"},
    {"Belagavi", "Belgaum", "IN-KA"},
    {"Hubballi", "Hubli", "IN-KA"},
    {"Tuticorin", "Thoothukudi", "IN-TN"},
    {"Trichy", "Tiruchirappalli", "IN-TN"},
    {"Tiruchi", "Tiruchirappalli", "IN-TN"},
    {"Kalaburagi", "Gulbarga", "IN-KA"},
    {"Cawnpore", "Kanpur", "IN-UP"},
    {"Bezawada", "Vijayawada", "IN-AP"},
    {"Shivamogga", "Shimoga", "IN-KA"},
    {"Ballari", "Bellary", "IN-KA"},
    {"Tumakuru", "Tumkur", "IN-KA"},
    {"Panjim", "Panaji", "IN-GA"},
    {"Nasik", "Nashik", "IN-MH"},
    {"Palakkad", "Palghat", "IN-KL"},
    {"Alleppey", "Alappuzha", "IN-KL"},
    {"Quilon", "Kollam", "IN-KL"},
    {"Trichur", "Thrissur", "IN-KL"},
    {"Cannanore", "Kannur", "IN-KL"},
    {"Kanhangad", "Kannangad", "IN-KL"},
    {"Darjeeling", "Darjiling", "IN-WB"},
    {"Howrah", "Haora", "IN-WB"},
    {"Bardhaman", "Barddhaman", "IN-WB"},
    {"Burdwan", "Barddhaman", "IN-WB"},
    {"English Bazar", "Ingraj Bazar", "IN-WB"},
    {"Cooch Behar", "Koch Bihar", "IN-WB"},
    {"Barrackpore", "Barakpur", "IN-WB"},
    {"Midnapore", "Medinipur", "IN-WB"},
    {"Serampore", "Shrirampur", "IN-WB"},
    {"Chandernagore", "Chandannagar", "IN-WB"},
    {"Berhampore", "Baharampur", "IN-WB"},
    {"Hooghly", "Hugli", "IN-WB"},
    {"Sholapur", "Solapur", "IN-MH"},
    {"Dhule", "Dhulia", "IN-MH"},
    {"Chandrapur", "Chanda", "IN-MH"},
    {"Ahmednagar", "Ahmadnagar", "IN-MH"},
    {"Ahilyanagar", "Ahmadnagar", "IN-MH"},
    {"Dharashiv", "Osmanabad", "IN-MH"},
    {"Udhagamandalam", "Ooty", "IN-TN"},
    {"Thanjavur", "Tanjore", "IN-TN"},
    {"Kadapa", "Cuddapah", "IN-AP"},
    {"Rajamahendravaram", "Rajahmundry", "IN-AP"},
    {"Eluru", "Ellore", "IN-AP"},
    {"Anantapuramu", "Anantapur", "IN-AP"},
    {"Hosapete", "Hospet", "IN-KA"},
    {"Davanagere", "Davangere", "IN-KA"},
    {"Vijayapura", "Bijapur", "IN-KA"},
    {"Chikkamagaluru", "Chikmagalur", "IN-KA"},
    {"Doddaballapura", "Dod Ballapur", "IN-KA"},
    {"Chikkaballapur", "Chik Ballapur", "IN-KA"},
    {"Gauhati", "Guwahati", "IN-AS"},
    {"Sivasagar", "Sibsagar", "IN-AS"},
    {"Jullundur", "Jalandhar", "IN-PB"},
    {"Faizabad", "Fyzabad", "IN-UP"},
    {"Hardwar", "Haridwar", "IN-UK"},
    {"Rourkela", "Raurkela", "IN-OD"},
    {"Katni", "Murwara", "IN-MP"},
    {"Narmadapuram", "Hoshangabad", "IN-MP"},
    {"Sri Ganganagar", "Ganganagar", "IN-RJ"},
    {"Jhunjhunu", "Jhunjhunun", "IN-RJ"},
    {"Suryapet", "Suriapet", "IN-TS"},
    {"Miryalaguda", "Mirialguda", "IN-TS"},
    {"Mancherial", "Mancheral", "IN-TS"},
    {"Kothagudem", "Kottagudem", "IN-TS"},
    {"Bhuvanagiri", "Bhongir", "IN-TS"},
    {"Baramulla", "Baramula", "IN-JK"},
    {"Margao", "Madgaon", "IN-GA"},
};

// Former names and codes of states. Pre-2023 codes are only accepted with their "IN-" prefix: bare "or" or "ut"
// would turn ordinary words of a geocoding query into a state.
struct StateAlternate {
  std::string_view alternate;
  std::string_view code;
};
constexpr StateAlternate kStateAlternates[] = {
    {"IN-CT", "IN-CG"},
    {"IN-OR", "IN-OD"},
    {"IN-TG", "IN-TS"},
    {"IN-UT", "IN-UK"},
    {"Orissa", "IN-OD"},
    {"Uttaranchal", "IN-UK"},
    {"Chattisgarh", "IN-CG"},
    {"Pondicherry", "IN-PY"},
    {"Jammu & Kashmir", "IN-JK"},
    {"Andaman & Nicobar", "IN-AN"},
    {"Andaman and Nicobar", "IN-AN"},
    {"NCT of Delhi", "IN-DL"},
};

// Words of a geocoding query that never name a place ("near kochi", "pune in maharashtra, india").
constexpr std::string_view kFillerWords[] = {"near", "in", "at", "around", "the", "india", "district"};

// Match scores; see CityCatalog::search. An alternate spelling scores kAlternatePenalty less than the same kind of
// match on the name, so the name wins ties between two cities.
constexpr double kExactScore = 1.0;
constexpr double kPrefixScore = 0.85;
constexpr double kWordPrefixScore = 0.75;
constexpr double kTypoWholeScore[] = {0.0, 0.6, 0.45};   // by edit distance
constexpr double kTypoPrefixScore[] = {0.0, 0.5, 0.35};  // by edit distance
constexpr double kAlternatePenalty = 0.05;
constexpr std::size_t kMinWordPrefixLength = 3;

// Longer queries can only match exactly; this bounds the edit-distance work per name to 64 x 5 cells.
constexpr std::size_t kMaxFuzzyQueryLength = 64;

constexpr std::size_t kMaxGeocodeWords = 8;
constexpr std::size_t kMaxStateWords = 4;  // "andaman and nicobar islands"
constexpr std::size_t kMaxCityWords = 3;   // "lal bahadur nagar", "vasco da gama"
constexpr double kStateAgrees = 1.0;
constexpr double kStateUnknown = 0.9;
constexpr double kStateContradicts = 0.5;

constexpr double kGridCellDegrees = 1.0;
// Points farther than this outside the catalog's bounding box are answered by a plain scan, which keeps the grid's
// distance bound simple (no wrap-around at the antimeridian, latitudes away from the poles).
constexpr double kGridMarginDegrees = 5.0;

// Base letters of U+00C0..U+017F (Latin-1 Supplement, Latin Extended-A) and U+1E00..U+1EFF (Latin Extended
// Additional), from the first character of each code point's NFD decomposition ('.' = no single base letter;
// ligatures are handled in append_folded). Generated with Python's unicodedata; Đ, Ħ, Ł, Ø, Ŧ, ı, ŀ, ĸ, Ŋ, ð and ſ,
// which have no decomposition, were mapped by hand.
constexpr std::string_view kLatin1AndExtendedA =
    "aaaaaa.ceeeeiiiidnooooo.ouuuuy..aaaaaa.ceeeeiiiidnooooo.ouuuuy.y"   // U+00C0
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii..jjkkklllllll"   // U+0100
    "lllnnnnnn.nnoooooo..rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";  // U+0140
constexpr std::string_view kLatinExtendedAdditional =
    "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmm"   // U+1E00
    "mmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvv"   // U+1E40
    "wwwwwwwwwwxxxxyyzzzzzzhtwy......aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee"   // U+1E80
    "eeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy......";  // U+1EC0
static_assert(kLatin1AndExtendedA.size() == 0x180 - 0xC0);
static_assert(kLatinExtendedAdditional.size() == 0x100);

bool is_ascii_alnum(unsigned char byte) {
  return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9');
}

void append_folded(char32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    const auto byte = static_cast<unsigned char>(code_point);
    if (byte >= 'A' && byte <= 'Z') {
      out += static_cast<char>(byte - 'A' + 'a');
    } else if (is_ascii_alnum(byte)) {
      out += static_cast<char>(byte);
    }
    return;
  }
  switch (code_point) {
    case U'Æ':
    case U'æ':
      out += "ae";
      return;
    case U'Œ':
    case U'œ':
      out += "oe";
      return;
    case U'Þ':
    case U'þ':
      out += "th";
      return;
    case U'ß':
    case U'ẞ':
      out += "ss";
      return;
    case U'Ĳ':
    case U'ĳ':
      out += "ij";
      return;
    case U'ŉ':
      out += "n";
      return;
    default:
      break;
  }
  char base = '.';
  if (code_point >= 0xC0 && code_point < 0x180) {
    base = kLatin1AndExtendedA[code_point - 0xC0];
  } else if (code_point >= 0x1E00 && code_point < 0x1F00) {
    base = kLatinExtendedAdditional[code_point - 0x1E00];
  }
  if (base != '.') out += base;
}

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; });
}

// --- CSV ---------------------------------------------------------------------------------------------------------

[[noreturn]] void fail(std::size_t line, std::string_view problem) {
  throw std::invalid_argument("city CSV line " + std::to_string(line) + ": " + std::string(problem));
}

[[noreturn]] void fail(std::size_t line, std::string_view field, std::string_view problem) {
  throw std::invalid_argument("city CSV line " + std::to_string(line) + ", field '" + std::string(field) +
                              "': " + std::string(problem));
}

struct CsvRecord {
  std::size_t line = 0;  // where the record starts (a quoted field may span lines)
  std::vector<std::string> fields;
};

// Splits RFC 4180 text into records: fields may be quoted, quotes inside them doubled, and quoted fields may hold
// commas and line breaks. Lines end in LF or CRLF; blank lines are skipped.
std::vector<CsvRecord> split_csv(std::string_view text) {
  std::vector<CsvRecord> records;
  std::size_t line = 1;
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // UTF-8 byte order mark
  const std::size_t size = text.size();
  while (i < size) {
    if (text[i] == '\n') {
      ++i;
      ++line;
      continue;
    }
    if (text[i] == '\r' && i + 1 < size && text[i + 1] == '\n') {
      i += 2;
      ++line;
      continue;
    }
    CsvRecord record{line, {}};
    for (;;) {
      std::string field;
      if (i < size && text[i] == '"') {
        ++i;
        for (;;) {
          if (i >= size) fail(record.line, "a quoted field is not closed");
          const char c = text[i++];
          if (c == '"') {
            if (i < size && text[i] == '"') {
              field += '"';
              ++i;
              continue;
            }
            break;
          }
          if (c == '\n') ++line;
          field += c;
        }
        if (i < size && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          fail(line, "text after the closing quote of a field");
        }
      } else {
        while (i < size && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') fail(line, "a quote inside an unquoted field (quote the whole field and double it)");
          field += text[i++];
        }
      }
      record.fields.push_back(std::move(field));
      if (i >= size) break;
      if (text[i] == ',') {
        ++i;
        continue;
      }
      if (text[i] == '\r') {
        if (i + 1 >= size || text[i + 1] != '\n') fail(line, "a carriage return not followed by a line feed");
        ++i;
      }
      ++i;  // the '\n'
      ++line;
      break;
    }
    records.push_back(std::move(record));
  }
  return records;
}

std::int64_t parse_integer(std::size_t line, std::string_view field, const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) {
    fail(line, field, "'" + text + "' is not an integer");
  }
  return value;
}

double parse_degrees(std::size_t line, std::string_view field, const std::string& text, double limit) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
    fail(line, field, "'" + text + "' is not a decimal number");
  }
  if (value < -limit || value > limit) {
    fail(line, field,
         "'" + text + "' is out of range [-" + std::to_string(static_cast<int>(limit)) + ", " +
             std::to_string(static_cast<int>(limit)) + "]");
  }
  return value;
}

bool is_state_code(std::string_view code) {
  return code.size() == 5 && code.starts_with("IN-") && code[3] >= 'A' && code[3] <= 'Z' && code[4] >= 'A' &&
         code[4] <= 'Z';
}

// --- Matching ----------------------------------------------------------------------------------------------------

int allowed_typos(std::size_t query_length) {
  if (query_length >= 8) return 2;
  if (query_length >= 4) return 1;
  return 0;
}

struct TypoDistances {
  int whole;   // to the whole name
  int prefix;  // smallest to a strict prefix of the name of the query's length +-1
};

// Optimal-string-alignment (restricted Damerau-Levenshtein) distances of `query` to `name` and to its prefixes,
// computed only inside the diagonal band |i - j| <= max_edits; anything above max_edits is reported as
// max_edits + 1. The query must be at most kMaxFuzzyQueryLength long. Each row writes exactly the cells the next
// rows read (its band plus one cell on each side), so the arrays need no clearing.
TypoDistances typo_distances(std::string_view query, std::string_view name, int max_edits) {
  constexpr int kColumns = static_cast<int>(kMaxFuzzyQueryLength) + 4;
  const int query_length = static_cast<int>(query.size());
  const int name_length = static_cast<int>(name.size());
  const int columns = std::min(name_length, query_length + max_edits);  // no prefix longer than this can be close
  const int too_far = max_edits + 1;
  if (query_length > static_cast<int>(kMaxFuzzyQueryLength) || max_edits < 1 || max_edits > 2) {
    return {too_far, too_far};
  }

  std::array<int, kColumns> rows[3];
  int* two_back = rows[0].data();
  int* previous = rows[1].data();
  int* current = rows[2].data();
  for (int j = 0; j <= std::min(columns, max_edits + 1); ++j) previous[j] = std::min(j, too_far);
  for (int i = 1; i <= query_length; ++i) {
    const int first = std::max(1, i - max_edits);
    const int last = std::min(columns, i + max_edits);
    current[first - 1] = first == 1 ? std::min(i, too_far) : too_far;
    int row_minimum = current[first - 1];
    const char query_char = query[i - 1];
    for (int j = first; j <= last; ++j) {
      int value = previous[j - 1] + (query_char == name[j - 1] ? 0 : 1);
      value = std::min(value, previous[j] + 1);
      value = std::min(value, current[j - 1] + 1);
      if (i > 1 && j > 1 && query_char == name[j - 2] && query[i - 2] == name[j - 1]) {
        value = std::min(value, two_back[j - 2] + 1);
      }
      current[j] = std::min(value, too_far);
      row_minimum = std::min(row_minimum, current[j]);
    }
    if (last + 1 <= columns) current[last + 1] = too_far;
    if (row_minimum >= too_far) return {too_far, too_far};
    int* const oldest = two_back;
    two_back = previous;
    previous = current;
    current = oldest;
  }
  // `previous` is now the last row; its band is [query_length - max_edits, query_length + max_edits].
  TypoDistances distances{too_far, too_far};
  if (std::abs(name_length - query_length) <= max_edits) distances.whole = previous[name_length];
  const int last_prefix = std::min({query_length + 1, name_length - 1, columns});
  for (int j = std::max(1, query_length - 1); j <= last_prefix; ++j) {
    distances.prefix = std::min(distances.prefix, previous[j]);
  }
  return distances;
}

// Counts of the folded characters 'a'..'z' and '0'..'9' of a spelling, saturating at 255.
using LetterCounts = std::array<std::uint8_t, 36>;

LetterCounts count_letters(std::string_view folded) {
  LetterCounts counts{};
  for (const char c : folded) {
    const std::size_t slot = c >= 'a' ? static_cast<std::size_t>(c - 'a') : 26 + static_cast<std::size_t>(c - '0');
    if (counts[slot] < 255) ++counts[slot];
  }
  return counts;
}

// Bit i set when slot i of LetterCounts is non-zero.
std::uint64_t letter_mask(const LetterCounts& counts) {
  std::uint64_t mask = 0;
  for (std::size_t slot = 0; slot < counts.size(); ++slot) {
    if (counts[slot] > 0) mask |= std::uint64_t{1} << slot;
  }
  return mask;
}

// A folded query with what the typo filter needs, computed once per search.
struct FoldedQuery {
  std::string_view folded;
  int max_edits = 0;
  LetterCounts counts{};
  std::uint64_t mask = 0;
  std::vector<std::size_t> slots;  // the slots with a non-zero count
};

FoldedQuery make_query(std::string_view folded) {
  FoldedQuery query{folded, allowed_typos(folded.size()), count_letters(folded), 0, {}};
  query.mask = letter_mask(query.counts);
  for (std::size_t slot = 0; slot < query.counts.size(); ++slot) {
    if (query.counts[slot] > 0) query.slots.push_back(slot);
  }
  return query;
}

struct NameView {
  std::string_view folded;
  bool alternate;
  std::span<const std::size_t> word_starts;
  const LetterCounts& counts;
  std::uint64_t mask;
};

// How many letters of the query the name lacks, with multiplicity. One edit accounts for at most one of them (a
// substitution or an extra letter in the query; a missing letter or a transposition for none), and a prefix of the
// name lacks at least as many as the whole name, so more than max_edits rules out every kind of typo match. This
// cheap test skips the edit-distance work for almost every name.
bool may_be_a_typo(const FoldedQuery& query, const LetterCounts& name_counts) {
  int missing = 0;
  for (const std::size_t slot : query.slots) {
    if (query.counts[slot] > name_counts[slot]) missing += query.counts[slot] - name_counts[slot];
  }
  return missing <= query.max_edits;
}

// How well the query (folded, non-empty, at most kMaxFuzzyQueryLength) matches one spelling; 0 = not at all.
double name_score(const FoldedQuery& query, const NameView& name) {
  // Every kind of match needs all but max_edits of the query's distinct letters in the name (see may_be_a_typo);
  // one AND and a popcount reject most names before any string work.
  if (std::popcount(query.mask & ~name.mask) > query.max_edits) return 0.0;
  const double penalty = name.alternate ? kAlternatePenalty : 0.0;
  const std::string_view text = query.folded;
  if (name.folded == text) return kExactScore - penalty;
  if (name.folded.size() > text.size() && name.folded.starts_with(text)) return kPrefixScore - penalty;
  if (text.size() >= kMinWordPrefixLength) {
    for (const std::size_t start : name.word_starts) {
      if (name.folded.compare(start, text.size(), text) == 0) return kWordPrefixScore - penalty;
    }
  }
  if (query.max_edits == 0 || !may_be_a_typo(query, name.counts)) return 0.0;
  const TypoDistances distances = typo_distances(text, name.folded, query.max_edits);
  if (distances.whole <= query.max_edits) return kTypoWholeScore[distances.whole] - penalty;
  if (distances.prefix <= query.max_edits) return kTypoPrefixScore[distances.prefix] - penalty;
  return 0.0;
}

// Where the 2nd, 3rd... word of `display` starts in its fold ("Navi Mumbai" -> {4}).
std::vector<std::size_t> folded_word_starts(std::string_view display) {
  std::vector<std::size_t> starts;
  std::size_t folded_length = 0;
  std::size_t word_begin = 0;
  for (std::size_t i = 0; i <= display.size(); ++i) {
    const bool separator = i == display.size() || (static_cast<unsigned char>(display[i]) < 0x80 &&
                                                   !is_ascii_alnum(static_cast<unsigned char>(display[i])));
    if (!separator) continue;
    const std::size_t word_length = fold_name(display.substr(word_begin, i - word_begin)).size();
    if (word_length > 0) {
      if (folded_length > 0) starts.push_back(folded_length);
      folded_length += word_length;
    }
    word_begin = i + 1;
  }
  return starts;
}

// Words of a geocoding query, folded: separated by ASCII whitespace and punctuation (bytes of UTF-8 sequences stay
// inside words), without filler words and words too long to be a place, at most kMaxGeocodeWords of them.
std::vector<std::string> geocode_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t word_begin = 0;
  for (std::size_t i = 0; i <= text.size() && words.size() < kMaxGeocodeWords; ++i) {
    const bool separator = i == text.size() || (static_cast<unsigned char>(text[i]) < 0x80 &&
                                                !is_ascii_alnum(static_cast<unsigned char>(text[i])));
    if (!separator) continue;
    std::string word = fold_name(text.substr(word_begin, i - word_begin));
    word_begin = i + 1;
    if (word.empty() || word.size() > kMaxFuzzyQueryLength) continue;
    if (std::find(std::begin(kFillerWords), std::end(kFillerWords), word) != std::end(kFillerWords)) continue;
    words.push_back(std::move(word));
  }
  return words;
}

}  // namespace

// --- Folding -----------------------------------------------------------------------------------------------------

std::string fold_name(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    char32_t code_point = 0;
    if (lead < 0x80) {
      length = 1;
      code_point = lead;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      code_point = lead & 0x1Fu;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      code_point = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      code_point = lead & 0x07u;
    } else {
      ++i;  // a continuation byte or an invalid lead byte: drop it
      continue;
    }
    bool valid = i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      valid = (byte & 0xC0u) == 0x80u;
      code_point = (code_point << 6) | (byte & 0x3Fu);
    }
    // Overlong forms and surrogates are invalid UTF-8; dropping them keeps "A" from hiding as three bytes.
    if (valid && length == 3 && (code_point < 0x800 || (code_point >= 0xD800 && code_point <= 0xDFFF))) valid = false;
    if (valid && length == 4 && (code_point < 0x10000 || code_point > 0x10FFFF)) valid = false;
    if (!valid) {
      ++i;
      continue;
    }
    append_folded(code_point, out);
    i += length;
  }
  return out;
}

// --- CityCatalog -------------------------------------------------------------------------------------------------

CityCatalog CityCatalog::parse_csv(std::string_view csv_text) {
  const std::vector<CsvRecord> records = split_csv(csv_text);
  if (records.empty()) fail(1, "the header is missing");

  std::string expected_header;
  for (const std::string_view column : kHeader) {
    if (!expected_header.empty()) expected_header += ',';
    expected_header += column;
  }
  const std::vector<std::string>& header = records.front().fields;
  if (!std::equal(header.begin(), header.end(), kHeader.begin(), kHeader.end())) {
    std::string actual;
    for (const std::string& column : header) actual += (actual.empty() ? "" : ",") + column;
    fail(records.front().line, "the header must be '" + expected_header + "', not '" + actual + "'");
  }

  CityCatalog catalog;
  std::unordered_map<std::int64_t, std::size_t> line_of_id;
  std::unordered_map<std::string, std::pair<std::string, std::size_t>> state_name_of_code;  // code -> name, line
  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    const std::vector<std::string>& f = record.fields;
    if (f.size() != kHeader.size()) {
      fail(record.line, "expected " + std::to_string(kHeader.size()) + " fields, found " + std::to_string(f.size()));
    }
    City city;
    city.id = parse_integer(record.line, "geonameid", f[0]);
    if (city.id <= 0) fail(record.line, "geonameid", "'" + f[0] + "' is not a positive id");
    if (const auto [it, inserted] = line_of_id.emplace(city.id, record.line); !inserted) {
      fail(record.line, "geonameid", "duplicate id " + f[0] + " (first on line " + std::to_string(it->second) + ")");
    }
    for (std::size_t column = 1; column <= 4; ++column) {
      if (f[column].empty()) fail(record.line, kHeader[column], "must not be empty");
    }
    city.name = f[1];
    city.name_ascii = f[2];
    city.state = f[3];
    city.state_code = f[4];
    if (!is_state_code(city.state_code)) {
      fail(record.line, "state_code", "'" + city.state_code + "' is not an ISO 3166-2:IN code such as IN-MH");
    }
    if (const auto [it, inserted] = state_name_of_code.try_emplace(city.state_code, city.state, record.line);
        !inserted && it->second.first != city.state) {
      fail(record.line, "state",
           "'" + city.state + "' but " + city.state_code + " is '" + it->second.first + "' on line " +
               std::to_string(it->second.second));
    }
    city.position.lat = parse_degrees(record.line, "lat", f[5], 90);
    city.position.lon = parse_degrees(record.line, "lon", f[6], 180);
    city.population = parse_integer(record.line, "population", f[7]);
    if (city.population < 0) fail(record.line, "population", "'" + f[7] + "' is negative");
    catalog.cities_.push_back(std::move(city));
  }

  std::sort(catalog.cities_.begin(), catalog.cities_.end(), [](const City& a, const City& b) {
    return a.population != b.population ? a.population > b.population : a.id < b.id;
  });
  catalog.build_indexes();
  return catalog;
}

void CityCatalog::build_indexes() {
  for (std::size_t i = 0; i < cities_.size(); ++i) {
    const City& city = cities_[i];
    index_by_id_.emplace(city.id, i);
    // 10^4 -> 0, 10^7.5 (about 30 million) -> 1: a small nudge towards the place most people mean.
    const double magnitude = std::log10(static_cast<double>(std::max<std::int64_t>(city.population, 1)));
    population_weight_.push_back(std::clamp((magnitude - 4.0) / 3.5, 0.0, 1.0));
    add_search_name(city.name, i, false);
    if (fold_name(city.name_ascii) != names_.back().folded) add_search_name(city.name_ascii, i, false);
  }

  std::unordered_map<std::string, std::size_t> city_by_name_and_state;
  for (std::size_t i = 0; i < cities_.size(); ++i) {
    city_by_name_and_state.emplace(fold_name(cities_[i].name_ascii) + "|" + cities_[i].state_code, i);
  }
  for (const AlternateSpelling& spelling : kAlternateSpellings) {
    const auto it =
        city_by_name_and_state.find(fold_name(spelling.name_ascii) + "|" + std::string(spelling.state_code));
    if (it == city_by_name_and_state.end()) continue;
    if (fold_name(spelling.alternate) == fold_name(cities_[it->second].name)) continue;
    add_search_name(spelling.alternate, it->second, true);
  }
  for (std::size_t n = 0; n < names_.size(); ++n) names_by_folded_[names_[n].folded].push_back(n);

  for (const City& city : cities_) {
    if (state_by_key_.contains(fold_name(city.state_code))) continue;
    state_by_key_.emplace(fold_name(city.state), city.state_code);
    state_by_key_.emplace(fold_name(city.state_code), city.state_code);  // "in-mh" -> "inmh"
    state_by_key_.emplace(fold_name(std::string_view(city.state_code).substr(3)), city.state_code);  // "mh"
    state_names_.push_back({fold_name(city.state), city.state_code});
  }
  for (const StateAlternate& alternate : kStateAlternates) {
    const auto known = std::find_if(state_names_.begin(), state_names_.end(),
                                    [&](const StateName& state) { return state.code == alternate.code; });
    if (known == state_names_.end()) continue;
    state_by_key_.emplace(fold_name(alternate.alternate), std::string(alternate.code));
    if (!alternate.alternate.starts_with("IN-")) {
      state_names_.push_back({fold_name(alternate.alternate), std::string(alternate.code)});
    }
  }

  if (cities_.empty()) return;
  double min_lat = 90;
  double max_lat = -90;
  double min_lon = 180;
  double max_lon = -180;
  for (const City& city : cities_) {
    min_lat = std::min(min_lat, city.position.lat);
    max_lat = std::max(max_lat, city.position.lat);
    min_lon = std::min(min_lon, city.position.lon);
    max_lon = std::max(max_lon, city.position.lon);
  }
  grid_lat0_ = std::floor(min_lat / kGridCellDegrees) * kGridCellDegrees;
  grid_lon0_ = std::floor(min_lon / kGridCellDegrees) * kGridCellDegrees;
  grid_rows_ = static_cast<int>(std::floor((max_lat - grid_lat0_) / kGridCellDegrees)) + 1;
  grid_cols_ = static_cast<int>(std::floor((max_lon - grid_lon0_) / kGridCellDegrees)) + 1;
  const auto cell_of = [&](const City& city) {
    const int row = std::min(static_cast<int>((city.position.lat - grid_lat0_) / kGridCellDegrees), grid_rows_ - 1);
    const int col = std::min(static_cast<int>((city.position.lon - grid_lon0_) / kGridCellDegrees), grid_cols_ - 1);
    return static_cast<std::size_t>(row) * static_cast<std::size_t>(grid_cols_) + static_cast<std::size_t>(col);
  };
  const std::size_t cells = static_cast<std::size_t>(grid_rows_) * static_cast<std::size_t>(grid_cols_);
  grid_cell_start_.assign(cells + 1, 0);
  for (const City& city : cities_) ++grid_cell_start_[cell_of(city) + 1];
  for (std::size_t c = 0; c < cells; ++c) grid_cell_start_[c + 1] += grid_cell_start_[c];
  grid_cities_.resize(cities_.size());
  std::vector<std::size_t> next = grid_cell_start_;
  for (std::size_t i = 0; i < cities_.size(); ++i) grid_cities_[next[cell_of(cities_[i])]++] = i;
}

void CityCatalog::add_search_name(std::string_view display, std::size_t city_index, bool alternate) {
  std::string folded = fold_name(display);
  const LetterCounts counts = count_letters(folded);
  names_.push_back({std::move(folded), std::string(display), city_index, alternate, folded_word_starts(display), counts,
                    letter_mask(counts)});
}

std::span<const City> CityCatalog::all() const { return cities_; }

const City* CityCatalog::find(std::int64_t id) const {
  const auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &cities_[it->second];
}

std::optional<std::string> CityCatalog::resolve_state(std::string_view name_or_code) const {
  return resolve_state_folded(fold_name(name_or_code), false);
}

std::optional<std::string> CityCatalog::resolve_state_folded(std::string_view folded, bool allow_typos) const {
  if (folded.empty()) return std::nullopt;
  if (const auto it = state_by_key_.find(std::string(folded)); it != state_by_key_.end()) return it->second;
  // Only long names get typo tolerance: short ones ("goa", "bihar") are too close to ordinary words and city names.
  const int max_edits = folded.size() >= 10 ? 2 : folded.size() >= 7 ? 1 : 0;
  if (!allow_typos || max_edits == 0 || folded.size() > kMaxFuzzyQueryLength) return std::nullopt;
  const StateName* best = nullptr;
  int best_distance = max_edits + 1;
  for (const StateName& state : state_names_) {
    const int distance = typo_distances(folded, state.folded, max_edits).whole;
    if (distance < best_distance) {
      best = &state;
      best_distance = distance;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->code;
}

std::vector<CityCatalog::ScoredName> CityCatalog::match_folded(std::string_view folded_query,
                                                               std::optional<std::string_view> state_code) const {
  std::vector<ScoredName> best;
  const auto consider = [&](std::size_t name_index, double score) {
    const std::size_t city_index = names_[name_index].city_index;
    if (state_code && cities_[city_index].state_code != *state_code) return;
    for (ScoredName& existing : best) {
      if (existing.city_index != city_index) continue;
      if (score > existing.score) existing = {city_index, score, name_index};
      return;
    }
    best.push_back({city_index, score, name_index});
  };

  if (folded_query.size() > kMaxFuzzyQueryLength) {
    // Too long for fuzzy matching; an exact spelling is still a hash lookup away.
    if (const auto it = names_by_folded_.find(std::string(folded_query)); it != names_by_folded_.end()) {
      for (const std::size_t n : it->second)
        consider(n, names_[n].alternate ? kExactScore - kAlternatePenalty : kExactScore);
    }
    return best;
  }

  // One slot per city keeps the best spelling in O(1); the list above is only for the rare exact-only path.
  const FoldedQuery query = make_query(folded_query);
  std::vector<double> city_score(cities_.size(), 0.0);
  std::vector<std::size_t> city_name(cities_.size(), 0);
  for (std::size_t n = 0; n < names_.size(); ++n) {
    const SearchName& name = names_[n];
    if (state_code && cities_[name.city_index].state_code != *state_code) continue;
    const double score =
        name_score(query, {name.folded, name.alternate, name.word_starts, name.letter_counts, name.letter_mask});
    if (score > city_score[name.city_index]) {
      city_score[name.city_index] = score;
      city_name[name.city_index] = n;
    }
  }
  for (std::size_t c = 0; c < cities_.size(); ++c) {
    if (city_score[c] > 0) best.push_back({c, city_score[c], city_name[c]});
  }
  return best;
}

std::vector<CityCatalog::Match> CityCatalog::search(std::string_view query,
                                                    std::optional<std::string_view> state_code) const {
  return search(query, state_code, std::numeric_limits<std::size_t>::max());
}

std::vector<CityCatalog::Match> CityCatalog::search(std::string_view query, std::optional<std::string_view> state_code,
                                                    std::size_t limit) const {
  std::vector<Match> matches;
  if (limit == 0) return matches;
  const std::string folded = fold_name(query);
  if (folded.empty()) {
    // A blank box lists everything; text that folds to nothing (another script, only symbols) matches nothing.
    if (!is_blank(query)) return matches;
    for (const City& city : cities_) {
      if (state_code && city.state_code != *state_code) continue;
      matches.push_back({&city, kExactScore, city.name});
      if (matches.size() == limit) break;
    }
    return matches;
  }

  std::vector<ScoredName> scored = match_folded(folded, state_code);
  // Cities are stored by population descending then id, so the index breaks score ties as required.
  const auto better = [](const ScoredName& a, const ScoredName& b) {
    return a.score != b.score ? a.score > b.score : a.city_index < b.city_index;
  };
  const std::size_t count = std::min(limit, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(count), scored.end(), better);
  matches.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    matches.push_back({&cities_[scored[i].city_index], scored[i].score, names_[scored[i].name_index].display});
  }
  return matches;
}

std::vector<CityCatalog::AlternateName> CityCatalog::alternate_names() const {
  std::vector<AlternateName> alternates;
  for (const SearchName& name : names_) {
    if (name.alternate) alternates.push_back({name.display, &cities_[name.city_index]});
  }
  return alternates;
}

std::vector<CityCatalog::GeocodeCandidate> CityCatalog::geocode(std::string_view text, std::size_t limit) const {
  std::vector<GeocodeCandidate> candidates;
  if (limit == 0) return candidates;
  const std::vector<std::string> words = geocode_words(text);
  if (words.empty()) return candidates;

  // Every run of up to kMaxStateWords words that names a state ("uttar pradesh", "ka", "maharastra").
  struct StateSpan {
    std::size_t begin;
    std::size_t end;
    std::string code;
    std::size_t chars;
  };
  std::vector<StateSpan> state_spans;
  std::size_t total_chars = 0;
  for (std::size_t begin = 0; begin < words.size(); ++begin) {
    total_chars += words[begin].size();
    std::string key;
    for (std::size_t end = begin + 1; end <= std::min(words.size(), begin + kMaxStateWords); ++end) {
      key += words[end - 1];
      if (auto code = resolve_state_folded(key, true))
        state_spans.push_back({begin, end, std::move(*code), key.size()});
    }
  }

  // Every run of up to kMaxCityWords words is tried as a city name; each city keeps its best reading of the text.
  std::vector<double> confidence(cities_.size(), 0.0);
  for (std::size_t begin = 0; begin < words.size(); ++begin) {
    std::string key;
    for (std::size_t end = begin + 1; end <= std::min(words.size(), begin + kMaxCityWords); ++end) {
      key += words[end - 1];
      if (key.size() > kMaxFuzzyQueryLength) break;
      for (const ScoredName& match : match_folded(key, std::nullopt)) {
        const City& city = cities_[match.city_index];
        const StateSpan* agreeing = nullptr;
        const StateSpan* contradicting = nullptr;
        for (const StateSpan& span : state_spans) {
          if (span.end > begin && span.begin < end) continue;  // the same words cannot be city and state
          const StateSpan*& slot = span.code == city.state_code ? agreeing : contradicting;
          if (slot == nullptr || span.chars > slot->chars) slot = &span;
        }
        const StateSpan* state = agreeing != nullptr ? agreeing : contradicting;
        const double state_factor = agreeing != nullptr        ? kStateAgrees
                                    : contradicting != nullptr ? kStateContradicts
                                                               : kStateUnknown;
        // Words that are neither this city nor the chosen state lower the confidence: "koramangala bangalore".
        const std::size_t explainable = total_chars - (state != nullptr ? state->chars : 0);
        const double coverage = static_cast<double>(key.size()) / static_cast<double>(explainable);
        const double value =
            match.score * state_factor * (0.6 + 0.4 * coverage) * (0.9 + 0.1 * population_weight_[match.city_index]);
        confidence[match.city_index] = std::max(confidence[match.city_index], value);
      }
    }
  }

  for (std::size_t c = 0; c < cities_.size(); ++c) {
    if (confidence[c] > 0) candidates.push_back({&cities_[c], confidence[c]});
  }
  const auto better = [](const GeocodeCandidate& a, const GeocodeCandidate& b) {
    return a.confidence != b.confidence ? a.confidence > b.confidence : a.city < b.city;  // same array: by population
  };
  const std::size_t count = std::min(limit, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(count), candidates.end(),
                    better);
  candidates.resize(count);
  return candidates;
}

const City* CityCatalog::nearest_by_scan(LatLon point, double& distance_km) const {
  const City* best = nullptr;
  distance_km = std::numeric_limits<double>::infinity();
  for (const City& city : cities_) {
    const double distance = great_circle_km(point, city.position);
    if (distance < distance_km) {
      best = &city;
      distance_km = distance;
    }
  }
  return best;
}

std::optional<CityCatalog::Nearest> CityCatalog::nearest(LatLon point) const {
  if (!is_valid(point)) throw std::invalid_argument("nearest(): the point is not a valid latitude/longitude");
  if (cities_.empty()) return std::nullopt;

  const double grid_lat1 = grid_lat0_ + grid_rows_ * kGridCellDegrees;
  const double grid_lon1 = grid_lon0_ + grid_cols_ * kGridCellDegrees;
  double best_km = 0;
  if (point.lat < grid_lat0_ - kGridMarginDegrees || point.lat > grid_lat1 + kGridMarginDegrees ||
      point.lon < grid_lon0_ - kGridMarginDegrees || point.lon > grid_lon1 + kGridMarginDegrees) {
    const City* city = nearest_by_scan(point, best_km);
    return Nearest{city, best_km};
  }

  // Search rings of cells around the point's cell until no unvisited cell can hold a closer city. A city in a cell
  // outside ring r differs from the point by more than r cells in latitude or in longitude, and with every latitude
  // involved at most phi_max from the equator, haversine gives d >= 2 R asin(cos(phi_max) sin(delta / 2)) for a
  // difference delta in either coordinate.
  const double phi_max =
      std::min(90.0, std::max(std::abs(grid_lat0_ - kGridMarginDegrees), std::abs(grid_lat1 + kGridMarginDegrees)));
  const double cos_phi_max = std::cos(phi_max * std::numbers::pi / 180.0);
  const int point_row = static_cast<int>(std::floor((point.lat - grid_lat0_) / kGridCellDegrees));
  const int point_col = static_cast<int>(std::floor((point.lon - grid_lon0_) / kGridCellDegrees));

  const City* best = nullptr;
  best_km = std::numeric_limits<double>::infinity();
  const auto visit = [&](int row, int col) {
    if (row < 0 || row >= grid_rows_ || col < 0 || col >= grid_cols_) return;
    const std::size_t cell =
        static_cast<std::size_t>(row) * static_cast<std::size_t>(grid_cols_) + static_cast<std::size_t>(col);
    for (std::size_t k = grid_cell_start_[cell]; k < grid_cell_start_[cell + 1]; ++k) {
      const City& city = cities_[grid_cities_[k]];
      const double distance = great_circle_km(point, city.position);
      // Equal distances go to the bigger city (lower index), whatever order the cells are visited in.
      if (distance < best_km || (distance == best_km && &city < best)) {
        best = &city;
        best_km = distance;
      }
    }
  };
  for (int ring = 0;; ++ring) {
    for (int row = point_row - ring; row <= point_row + ring; ++row) {
      if (row == point_row - ring || row == point_row + ring) {
        for (int col = point_col - ring; col <= point_col + ring; ++col) visit(row, col);
      } else {
        visit(row, point_col - ring);
        visit(row, point_col + ring);
      }
    }
    const bool covers_grid = point_row - ring <= 0 && point_row + ring >= grid_rows_ - 1 && point_col - ring <= 0 &&
                             point_col + ring >= grid_cols_ - 1;
    if (covers_grid) break;
    const double gap_radians = std::min(ring * kGridCellDegrees, 180.0) * std::numbers::pi / 180.0;
    const double unvisited_km = 2 * kEarthRadiusKm * std::asin(cos_phi_max * std::sin(gap_radians / 2));
    if (best != nullptr && best_km <= unvisited_km) break;
  }
  return Nearest{best, best_km};
}

}  // namespace intercab::location
