// W3C Trace Context level 1: parsing, creating and printing `traceparent`/`tracestate`.
#include "platform/trace/trace.hpp"

#include <algorithm>
#include <random>
#include <span>
#include <unordered_set>
#include <vector>

namespace intercab::trace {
namespace {

constexpr std::size_t kTraceparentLength = 55;  // "00-" + 32 + "-" + 16 + "-" + 2
constexpr std::size_t kTraceIdOffset = 3;
constexpr std::size_t kSpanIdOffset = 36;
constexpr std::size_t kFlagsOffset = 53;
constexpr std::size_t kMaxTracestateMembers = 32;
constexpr std::size_t kMaxTracestateLength = 512;
constexpr std::size_t kLongTracestateEntry = 128;

constexpr char kHexDigits[] = "0123456789abcdef";

// Writes two lowercase hex digits per byte at `out`; returns the position after them.
char* write_hex(char* out, std::span<const uint8_t> bytes) {
  for (uint8_t byte : bytes) {
    *out++ = kHexDigits[byte >> 4];
    *out++ = kHexDigits[byte & 0x0F];
  }
  return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2, '0');
  write_hex(out.data(), bytes);
  return out;
}

// Lowercase hex only: the spec's HEXDIGLC, so "AB" is as invalid as "zz".
int lowercase_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool decode_hex(std::string_view text, std::span<uint8_t> out) {
  if (text.size() != out.size() * 2) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    int high = lowercase_hex_value(text[2 * i]);
    int low = lowercase_hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return true;
}

bool all_zero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t byte) { return byte == 0; });
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_key_char(char c) { return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/'; }

// simple-key = lcalpha 0*255(keychar); tenant-id = (lcalpha / DIGIT) 0*240(keychar); system-id = lcalpha
// 0*13(keychar).
bool is_valid_key_part(std::string_view part, std::size_t max_length, bool may_start_with_digit) {
  if (part.empty() || part.size() > max_length) return false;
  if (!is_lcalpha(part.front()) && !(may_start_with_digit && is_digit(part.front()))) return false;
  return std::all_of(part.begin(), part.end(), is_key_char);
}

bool is_valid_key(std::string_view key) {
  auto at = key.find('@');
  if (at == std::string_view::npos) return is_valid_key_part(key, 256, false);
  return is_valid_key_part(key.substr(0, at), 241, true) && is_valid_key_part(key.substr(at + 1), 14, false);
}

// value = 0*255(chr) nblk-chr: printable ASCII without ',' and '=', not ending in a space.
bool is_valid_value(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7E && c != ',' && c != '='; });
}

std::size_t joined_length(const std::vector<std::string_view>& members) {
  std::size_t length = members.empty() ? 0 : members.size() - 1;
  for (auto member : members) length += member.size();
  return length;
}

// Returns the tracestate without optional whitespace and empty members, or "" when it breaks any rule (a partial
// list could misattribute another vendor's state, so an invalid header is dropped whole).
std::string normalise_tracestate(std::string_view header) {
  std::vector<std::string_view> members;
  std::unordered_set<std::string_view> keys;
  while (true) {
    auto comma = header.find(',');
    auto member = trim_ows(header.substr(0, comma));
    if (!member.empty()) {
      auto equals = member.find('=');
      if (equals == std::string_view::npos) return {};
      auto key = member.substr(0, equals);
      if (!is_valid_key(key) || !is_valid_value(member.substr(equals + 1))) return {};
      if (!keys.insert(key).second) return {};  // one entry per vendor: a duplicate means a broken sender
      members.push_back(member);
      if (members.size() > kMaxTracestateMembers) return {};
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }

  // Truncation as the spec asks: whole entries, those over 128 characters first, then from the end.
  while (joined_length(members) > kMaxTracestateLength) {
    auto long_entry = std::find_if(members.rbegin(), members.rend(),
                                   [](std::string_view member) { return member.size() > kLongTracestateEntry; });
    if (long_entry != members.rend()) {
      members.erase(std::next(long_entry).base());
    } else {
      members.pop_back();
    }
  }

  std::string out;
  for (auto member : members) {
    if (!out.empty()) out += ',';
    out += member;
  }
  return out;
}

template <std::size_t N>
std::array<uint8_t, N> random_id(Random& random) {
  std::array<uint8_t, N> id{};
  for (std::size_t i = 0; i < N; i += 8) {
    uint64_t word = random.next();
    for (std::size_t j = 0; j < 8 && i + j < N; ++j) id[i + j] = static_cast<uint8_t>(word >> (8 * (7 - j)));
  }
  // All zeros means "invalid" on the wire. Patching one bit instead of drawing again keeps a broken or scripted
  // source (one that returns 0 forever) from hanging us.
  if (all_zero(id)) id[N - 1] = 1;
  return id;
}

class ThreadRandom final : public Random {
 public:
  ThreadRandom() {
    // One random_device word is only 32 bits; fill more of the engine's state so threads never collide.
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    engine_.seed(seed);
  }
  uint64_t next() override { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace

std::string TraceContext::trace_id_hex() const { return to_hex(trace_id); }
std::string TraceContext::span_id_hex() const { return to_hex(span_id); }

Random& thread_random() {
  thread_local ThreadRandom random;
  return random;
}

std::optional<TraceContext> parse_traceparent(std::string_view header, std::string_view tracestate) {
  header = trim_ows(header);
  if (header.size() < kTraceparentLength) return std::nullopt;

  std::array<uint8_t, 1> version{};
  if (!decode_hex(header.substr(0, 2), version) || version[0] == 0xFF) return std::nullopt;
  // Version 00 has exactly four fields; a later version may append fields after another dash, which we ignore.
  if (version[0] == 0x00 && header.size() != kTraceparentLength) return std::nullopt;
  if (header.size() > kTraceparentLength && header[kTraceparentLength] != '-') return std::nullopt;
  if (header[2] != '-' || header[kSpanIdOffset - 1] != '-' || header[kFlagsOffset - 1] != '-') return std::nullopt;

  TraceContext context;
  std::array<uint8_t, 1> flags{};
  if (!decode_hex(header.substr(kTraceIdOffset, 32), context.trace_id) ||
      !decode_hex(header.substr(kSpanIdOffset, 16), context.span_id) ||
      !decode_hex(header.substr(kFlagsOffset, 2), flags)) {
    return std::nullopt;
  }
  if (all_zero(context.trace_id) || all_zero(context.span_id)) return std::nullopt;
  context.flags = flags[0] & kSampledFlag;
  context.tracestate = normalise_tracestate(tracestate);
  return context;
}

TraceContext new_root(Random& random) {
  TraceContext context;
  context.trace_id = random_id<16>(random);
  context.span_id = random_id<8>(random);
  context.flags = kSampledFlag;
  return context;
}

TraceContext child_of(const TraceContext& parent, Random& random) {
  TraceContext context = parent;
  context.span_id = random_id<8>(random);
  return context;
}

std::string to_traceparent(const TraceContext& context) {
  // Filled in place: this runs for every request the gateway forwards.
  std::string out(kTraceparentLength, '-');
  out[0] = '0';
  out[1] = '0';
  write_hex(out.data() + kTraceIdOffset, context.trace_id);
  write_hex(out.data() + kSpanIdOffset, context.span_id);
  const std::array<uint8_t, 1> flags{context.flags};
  write_hex(out.data() + kFlagsOffset, flags);
  return out;
}

}  // namespace intercab::trace
