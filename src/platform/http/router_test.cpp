#include "platform/http/router.hpp"

#include <gtest/gtest.h>

namespace intercab::http {
namespace {

Handler named(std::string name) {
  return [name](Request&) { return Response::text(name, "text/plain"); };
}

std::string run(const RouteMatch& match) {
  Request request;
  return match.route->handler(request).body;
}

TEST(Router, MatchesStaticAndParameterSegments) {
  Router router;
  router.add("GET", "/api/v1/bookings", named("list"));
  router.add("GET", "/api/v1/bookings/{id}", named("get"));
  router.add("POST", "/api/v1/bookings/{id}/cancel", named("cancel"));
  auto match = router.match("GET", "/api/v1/bookings/bkg_1");
  ASSERT_EQ(match.status, MatchStatus::kFound);
  EXPECT_EQ(run(match), "get");
  EXPECT_EQ(match.params.at("id"), "bkg_1");
  match = router.match("POST", "/api/v1/bookings/bkg_2/cancel");
  ASSERT_EQ(match.status, MatchStatus::kFound);
  EXPECT_EQ(match.params.at("id"), "bkg_2");
  EXPECT_EQ(router.match("GET", "/api/v1/booking").status, MatchStatus::kNotFound);
  EXPECT_EQ(router.match("GET", "/api/v1/bookings/").status, MatchStatus::kNotFound);  // empty parameter
  EXPECT_EQ(router.match("GET", "/api/v1/bookings/a/b").status, MatchStatus::kNotFound);
}

TEST(Router, StaticSegmentsWinOverParameters) {
  Router router;
  router.add("GET", "/cities/{id}", named("city"));
  router.add("GET", "/cities/attribution", named("attribution"));
  EXPECT_EQ(run(router.match("GET", "/cities/attribution")), "attribution");
  EXPECT_EQ(run(router.match("GET", "/cities/1275339")), "city");
}

TEST(Router, WrongMethodListsAllowedOnes) {
  Router router;
  router.add("GET", "/items/{id}", named("get"));
  router.add("DELETE", "/items/{id}", named("delete"));
  auto match = router.match("POST", "/items/7");
  EXPECT_EQ(match.status, MatchStatus::kMethodNotAllowed);
  EXPECT_EQ(match.allowed_methods, (std::vector<std::string>{"DELETE", "GET", "HEAD"}));
}

TEST(Router, HeadIsServedByGet) {
  Router router;
  router.add("GET", "/health", named("health"));
  EXPECT_EQ(router.match("HEAD", "/health").status, MatchStatus::kFound);
}

TEST(Router, RejectsBadRegistrations) {
  Router router;
  router.add("GET", "/a", named("a"));
  EXPECT_THROW(router.add("GET", "/a", named("again")), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "a", named("relative")), std::invalid_argument);
}

TEST(Router, HostilePathsDoNotMatchOrCrash) {
  Router router;
  router.add("GET", "/a/{id}", named("a"));
  for (const char* path : {"", "a", "//", "/a//", "/../a/1", "/a/1/..", "/\x01"}) {
    auto match = router.match("GET", path);
    EXPECT_NE(match.status, MatchStatus::kFound) << path;
  }
}

}  // namespace
}  // namespace intercab::http

namespace intercab::http {
namespace {

TEST(HeaderLists, SplitTrimAndSpanEveryField) {
  EXPECT_EQ(split_list(" gzip ,chunked,, \t"), (std::vector<std::string_view>{"gzip", "chunked"}));
  Headers headers;
  headers.add("Connection", "keep-alive, X-Secret");
  headers.add("connection", "Upgrade");
  EXPECT_EQ(header_list(headers, "Connection"), (std::vector<std::string_view>{"keep-alive", "X-Secret", "Upgrade"}));
  EXPECT_TRUE(header_list(headers, "TE").empty());
}

TEST(HeaderLists, TokensAreRfc9110Tokens) {
  EXPECT_TRUE(is_token("X-Request-Id"));
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~09azAZ"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("Bad Name"));
  EXPECT_FALSE(is_token("Name:"));
  EXPECT_FALSE(is_token("Caf\xC3\xA9"));
}

TEST(HeaderLists, HopByHopAndFramingFieldsInAnyCase) {
  for (const auto* name : {"Connection", "keep-alive", "Proxy-Connection", "PROXY-AUTHENTICATE", "Proxy-Authorization",
                           "TE", "trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}) {
    EXPECT_TRUE(is_hop_by_hop_or_framing(name)) << name;
  }
  for (const auto* name : {"Content-Type", "Expect", "Authorization", "Host", "T", "Connections", ""}) {
    EXPECT_FALSE(is_hop_by_hop_or_framing(name)) << name;
  }
}

}  // namespace
}  // namespace intercab::http
