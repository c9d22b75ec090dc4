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

TEST(FieldLines, WritesFieldLinesAndReadsThemBackInOrder) {
  FieldLines fields;
  EXPECT_TRUE(fields.empty());
  fields.add("Host", "api.example:8000");
  fields.add("X-Empty", "");
  fields.add("Link", "<https://a.example/x:y>; rel=preload");
  EXPECT_EQ(fields.text(), "Host: api.example:8000\r\nX-Empty: \r\nLink: <https://a.example/x:y>; rel=preload\r\n");
  std::vector<std::pair<std::string_view, std::string_view>> read;
  fields.for_each([&](std::string_view name, std::string_view value) { read.emplace_back(name, value); });
  const std::vector<std::pair<std::string_view, std::string_view>> expected = {
      {"Host", "api.example:8000"}, {"X-Empty", ""}, {"Link", "<https://a.example/x:y>; rel=preload"}};
  EXPECT_EQ(read, expected);
  FieldLines none;
  none.for_each([](std::string_view, std::string_view) { ADD_FAILURE() << "no field expected"; });
}

}  // namespace
}  // namespace intercab::http
