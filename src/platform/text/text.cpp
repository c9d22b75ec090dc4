// UTF-8 decoding and repair, and joining.
#include "platform/text/text.hpp"

#include <array>
#include <cstdint>
#include <ctime>
#include <random>

namespace intercab::text {

Utf8Char decode_utf8(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) return {lead, 1, true};
  std::size_t length = 0;
  char32_t value = 0;
  unsigned char low = 0x80;  // bounds of the second byte; later bytes are always 80..BF
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    value = lead & 0x0F;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    value = lead & 0x07;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // nothing past U+10FFFF
  } else {
    return {0, 1, false};
  }
  for (std::size_t i = 1; i < length; ++i) {
    if (at + i >= text.size()) return {0, i, false};
    const auto next = static_cast<unsigned char>(text[at + i]);
    if (next < low || next > high) return {0, i, false};
    value = (value << 6) | (next & 0x3F);
    low = 0x80;
    high = 0xBF;
  }
  return {value, length, true};
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const auto decoded = decode_utf8(text, at);
    if (!decoded.valid) return false;
    at += decoded.size;
  }
  return true;
}

std::string replace_invalid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t at = 0; at < text.size();) {
    const auto decoded = decode_utf8(text, at);
    if (decoded.valid) {
      out.append(text.substr(at, decoded.size));
    } else {
      out.append(kReplacementCharacter);
    }
    at += decoded.size;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

namespace {

std::string format_uuid(std::array<std::uint64_t, 2> words) {
  constexpr char kHex[] = "0123456789abcdef";
  // Where each of the 16 bytes goes in 8-4-4-4-12 (a request id is made for every request).
  constexpr std::array<std::size_t, 16> kByteOffsets = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
  std::string id(36, '-');
  for (std::size_t i = 0; i < kByteOffsets.size(); ++i) {
    const auto byte = (words[i / 8] >> (56 - 8 * (i % 8))) & 0xff;
    id[kByteOffsets[i]] = kHex[byte >> 4];
    id[kByteOffsets[i] + 1] = kHex[byte & 0xf];
  }
  return id;
}

}  // namespace

std::string new_uuid_v4() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  // Unique, not secret: a fast per-thread generator, not a cryptographic one.
  std::array<std::uint64_t, 2> words{random(), random()};
  words[0] = (words[0] & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  words[1] = (words[1] & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  return format_uuid(words);
}

std::string new_uuid_v7(std::chrono::system_clock::time_point now) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const auto millis =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  std::array<std::uint64_t, 2> words{random(), random()};
  words[0] = (millis << 16) | 0x7000ULL | (words[0] & 0x0fffULL);         // unix_ts_ms, version 7, rand_a
  words[1] = (words[1] & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10, rand_b
  return format_uuid(words);
}

std::string format_rfc3339_utc(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(time));
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  std::array<char, 32> text{};
  const auto length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return std::string(text.data(), length);
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339_utc(std::string_view text) {
  using namespace std::chrono;
  auto digits = [&text](std::size_t at, std::size_t count) -> std::optional<int> {
    if (at + count > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':')
    return std::nullopt;
  const auto year = digits(0, 4);
  const auto month = digits(5, 2);
  const auto day = digits(8, 2);
  const auto hour = digits(11, 2);
  const auto minute = digits(14, 2);
  const auto second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
  const year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                            std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  std::size_t at = 19;
  microseconds fraction{0};
  if (text[at] == '.') {
    ++at;
    const std::size_t start = at;
    long long scaled = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (at - start < 6) scaled = scaled * 10 + (text[at] - '0');
      ++at;
    }
    const std::size_t count = at - start;
    if (count == 0 || count > 9) return std::nullopt;
    for (std::size_t i = count; i < 6; ++i) scaled *= 10;
    fraction = microseconds(scaled);
  }
  if (at + 1 != text.size() || text[at] != 'Z') return std::nullopt;
  return system_clock::time_point(sys_days(date)) + hours(*hour) + minutes(*minute) + seconds(*second) + fraction;
}

}  // namespace intercab::text
