#include "platform/errors/errors.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace intercab::errors {
namespace {

TEST(Problem, ValidationListsEveryField) {
  Invalid error(std::vector<FieldError>{{"pickup_time", "must be at least 2 hours from now"},
                                        {"vehicle_class", "must be one of sedan, suv"}});
  auto doc = to_problem_json(error, "/api/v1/quotes", "req-1");
  EXPECT_EQ(doc.at("status").as_int64(), 422);
  EXPECT_EQ(doc.at("type").as_string(), "/problems/validation");
  EXPECT_EQ(doc.at("detail").as_string(), "2 fields are invalid");
  EXPECT_EQ(doc.at("instance").as_string(), "/api/v1/quotes");
  EXPECT_EQ(doc.at("request_id").as_string(), "req-1");
  ASSERT_EQ(doc.at("errors").as_array().size(), 2U);
  EXPECT_EQ(doc.at("errors").as_array()[0].at("field").as_string(), "pickup_time");
}

TEST(Problem, MethodNotAllowedCarriesAllowHeader) {
  MethodNotAllowed error("DELETE", {"GET", "POST"});
  EXPECT_EQ(error.status(), 405);
  ASSERT_EQ(error.headers().size(), 1U);
  EXPECT_EQ(error.headers()[0].first, "Allow");
  EXPECT_EQ(error.headers()[0].second, "GET, POST");
}

TEST(Problem, ConflictIncludesCurrentState) {
  Conflict error("booking cannot be cancelled", "completed");
  auto doc = to_problem_json(error, "/x", "");
  EXPECT_EQ(doc.at("current_state").as_string(), "completed");
  EXPECT_FALSE(doc.contains("request_id"));
}

TEST(Problem, InternalNeverCarriesExceptionText) {
  Internal error;
  auto text = boost::json::serialize(to_problem_json(error, "/x", "r"));
  EXPECT_EQ(error.status(), 500);
  EXPECT_EQ(text.find("what()"), std::string::npos);
}

TEST(Problem, TooManyRequestsHasRetryAfter) {
  TooManyRequests error("slow down", 7);
  ASSERT_EQ(error.headers().size(), 1U);
  EXPECT_EQ(error.headers()[0].second, "7");
}

}  // namespace
}  // namespace intercab::errors
