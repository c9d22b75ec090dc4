#include "platform/http/message.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>

namespace intercab::http {
namespace {

TEST(JsonText, WritesDoublesInShortestDecimalFormThatParseBackAsDoubles) {
  const boost::json::object body{{"lat", 28.499},
                                 {"km", 12.0},
                                 {"tiny", 0.5},
                                 {"huge", 1e21},
                                 {"negative", -73.85535},
                                 {"count", 3},
                                 {"name", "Pune \"east\"\n"},
                                 {"ok", true},
                                 {"none", nullptr}};
  const auto text = to_json_text(body);
  EXPECT_EQ(text, R"({"lat":28.499,"km":12.0,"tiny":0.5,"huge":1e+21,"negative":-73.85535,"count":3,)"
                  R"("name":"Pune \"east\"\n","ok":true,"none":null})");
  const auto parsed = boost::json::parse(text).as_object();
  EXPECT_TRUE(parsed.at("km").is_double());
  EXPECT_TRUE(parsed.at("count").is_int64());
  EXPECT_EQ(parsed, body);
}

TEST(JsonText, NestsAndTurnsNonFiniteNumbersIntoNull) {
  const boost::json::value nested = {
      {"rows", boost::json::array{boost::json::array{1.5, nullptr}, boost::json::array{}}},
      {"empty", boost::json::object{}},
      {"bad", std::numeric_limits<double>::infinity()}};
  EXPECT_EQ(to_json_text(nested), R"({"rows":[[1.5,null],[]],"empty":{},"bad":null})");
  EXPECT_EQ(Response::json(boost::json::object{{"x", 0.1}}).body, R"({"x":0.1})");
}

}  // namespace
}  // namespace intercab::http
