#include "platform/auth/strict_json.hpp"

#include <gtest/gtest.h>

namespace intercab::auth {
namespace {

TEST(StrictJson, ParsesWhatBoostJsonParses) {
  const auto value = parse_json_strict(R"({"a":[1,-2,3.5,true,null,"x"],"b":{"a":18446744073709551615}})");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->at("a").as_array().size(), 6U);
  EXPECT_EQ(value->at("a").as_array()[1].as_int64(), -2);
  EXPECT_EQ(value->at("b").at("a").as_uint64(), 18446744073709551615ULL);
  EXPECT_TRUE(parse_json_strict("\"only a string\"").has_value());
}

TEST(StrictJson, RejectsDuplicateKeysAtAnyDepth) {
  EXPECT_FALSE(parse_json_strict(R"({"sub":"alice","sub":"mallory"})").has_value());
  EXPECT_FALSE(parse_json_strict(R"({"a":{"x":1,"y":2,"x":3}})").has_value());
  EXPECT_FALSE(parse_json_strict(R"([{"k":1},{"k":1,"k":2}])").has_value());
  // The same key in different objects is fine, and so are escapes that spell different keys.
  EXPECT_TRUE(parse_json_strict(R"({"x":{"x":{"x":1}},"y":[{"x":1},{"x":2}]})").has_value());
  EXPECT_TRUE(parse_json_strict(R"({"a":1,"\u0061b":2})").has_value());
  // An escaped spelling of the same key is the same key.
  EXPECT_FALSE(parse_json_strict(R"({"alg":"EdDSA","\u0061lg":"none"})").has_value());
}

TEST(StrictJson, RejectsWhatIsNotExactlyOneStrictDocument) {
  for (const std::string_view bad : {"", "{", "{}{}", "{} x", R"({"a":1,})", "{/*c*/}", "[1,]", "{'a':1}", "nul",
                                     "\"\xff\"", "{\"a\":\"\xc3\x28\"}"}) {
    EXPECT_FALSE(parse_json_strict(bad).has_value()) << bad;
  }
  EXPECT_TRUE(parse_json_strict("{} ").has_value());  // trailing whitespace is part of JSON
}

TEST(StrictJson, LimitsNesting) {
  EXPECT_TRUE(parse_json_strict("[[[[1]]]]", 4).has_value());
  EXPECT_FALSE(parse_json_strict("[[[[[1]]]]]", 4).has_value());
  EXPECT_FALSE(parse_json_strict(std::string(10000, '[') + std::string(10000, ']')).has_value());
}

}  // namespace
}  // namespace intercab::auth
