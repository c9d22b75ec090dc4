#include "platform/text/text.hpp"

#include <gtest/gtest.h>

#include <set>

namespace intercab::text {
namespace {

TEST(Utf8, DecodesEveryLength) {
  EXPECT_EQ(decode_utf8("A", 0).value, U'A');
  const std::string rupee = "\xE2\x82\xB9";  // ₹
  auto decoded = decode_utf8(rupee, 0);
  EXPECT_TRUE(decoded.valid);
  EXPECT_EQ(decoded.size, 3U);
  EXPECT_EQ(decoded.value, U'\u20B9');
  const std::string devanagari = "\xE0\xA4\x85";  // अ
  EXPECT_EQ(decode_utf8(devanagari, 0).value, U'\u0905');
  const std::string emoji = "\xF0\x9F\x9A\x95";  // 🚕
  EXPECT_EQ(decode_utf8(emoji, 0).value, U'\U0001F695');
}

TEST(Utf8, RejectsIllFormedSequencesByMaximalSubpart) {
  EXPECT_FALSE(decode_utf8("\xC0\xAF", 0).valid);          // overlong
  EXPECT_FALSE(decode_utf8("\xED\xA0\x80", 0).valid);      // surrogate
  EXPECT_FALSE(decode_utf8("\xF4\x90\x80\x80", 0).valid);  // past U+10FFFF
  EXPECT_EQ(decode_utf8("\xE2\x82", 0).size, 2U);          // truncated: one replacement for both bytes
  EXPECT_FALSE(is_valid_utf8("ok\xFF"));
  EXPECT_TRUE(is_valid_utf8("Pune \xE2\x86\x92 Goa"));
}

TEST(Utf8, ReplacesWhatIsInvalidAndKeepsTheRest) {
  EXPECT_EQ(replace_invalid_utf8("a\xFF"
                                 "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(replace_invalid_utf8("\xE2\x82"
                                 "x"),
            "\xEF\xBF\xBD"
            "x");
  EXPECT_EQ(replace_invalid_utf8("\xE2\x82\xB9"), "\xE2\x82\xB9");
  EXPECT_TRUE(is_valid_utf8(replace_invalid_utf8(std::string("\x00\x80\xC2\xF5\xE0\x80", 6))));
}

TEST(Join, SeparatesOnlyBetweenParts) {
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(join({"GET"}, ", "), "GET");
  EXPECT_EQ(join({"GET", "POST"}, " or "), "GET or POST");
}

}  // namespace
}  // namespace intercab::text

namespace intercab::text {
namespace {

TEST(Uuid, IsVersion4TextAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = new_uuid_v4();
    ASSERT_EQ(id.size(), 36U);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[13], '-');
    EXPECT_EQ(id[18], '-');
    EXPECT_EQ(id[23], '-');
    EXPECT_EQ(id.find('-', 24), std::string::npos) << id;
    EXPECT_EQ(id[14], '4');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000U);
}

TEST(Uuid, Version7CarriesTheMillisecondsAndSortsByTime) {
  const auto earlier = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'000));
  const auto later = earlier + std::chrono::milliseconds(1);
  const auto first = new_uuid_v7(earlier);
  const auto second = new_uuid_v7(later);
  ASSERT_EQ(first.size(), 36U);
  EXPECT_EQ(first[14], '7');
  EXPECT_TRUE(first[19] == '8' || first[19] == '9' || first[19] == 'a' || first[19] == 'b') << first;
  EXPECT_EQ(first.substr(0, 13), "018bcfe5-6800");  // 1700000000000 ms = 0x18bcfe56800
  EXPECT_LT(first, second);
  EXPECT_NE(new_uuid_v7(earlier), new_uuid_v7(earlier));
}

TEST(Time, FormatsRfc3339InUtcWithWholeSeconds) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'795'501'800'750));
  EXPECT_EQ(format_rfc3339_utc(time), "2026-11-24T06:30:00Z");
}

TEST(Rfc3339, ParsesUtcTimestampsAndRejectsEverythingElse) {
  using namespace std::chrono;
  const auto whole = parse_rfc3339_utc("2026-11-24T06:30:00Z");
  ASSERT_TRUE(whole);
  EXPECT_EQ(format_rfc3339_utc(*whole), "2026-11-24T06:30:00Z");
  const auto fractional = parse_rfc3339_utc("2026-11-24T06:30:00.250Z");
  ASSERT_TRUE(fractional);
  EXPECT_EQ(duration_cast<milliseconds>(*fractional - *whole).count(), 250);
  EXPECT_EQ(parse_rfc3339_utc("2024-02-29T00:00:00Z").has_value(), true);
  for (const char* bad : {"", "2026-11-24", "2026-11-24T06:30:00", "2026-11-24T06:30:00+05:30", "2026-02-30T00:00:00Z",
                          "2026-11-24T24:00:00Z", "2026-11-24T06:30:00.Z", "2026-11-24T06:30:00.1234567890Z",
                          "2026-11-24 06:30:00Z", "2026-11-24T06:30:00Zjunk", "+026-11-24T06:30:00Z"}) {
    EXPECT_FALSE(parse_rfc3339_utc(bad)) << bad;
  }
}

}  // namespace
}  // namespace intercab::text
