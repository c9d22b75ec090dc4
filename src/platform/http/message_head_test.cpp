#include "platform/http/message_head.hpp"

#include <gtest/gtest.h>

#include <string>

namespace intercab::http {
namespace {

struct Parsed {
  RequestHead head;
  Request request;
  std::optional<errors::Problem> problem;
};

Parsed parse(const std::string& text) {
  Parsed parsed;
  parsed.problem = parse_request_head(text, parsed.head, parsed.request);
  return parsed;
}

// The status of the refusal, or 0 when the head is accepted.
int refusal(const std::string& text) {
  const auto parsed = parse(text);
  return parsed.problem ? parsed.problem->status() : 0;
}

TEST(RequestHead, ParsesRequestLineFieldsAndFraming) {
  const auto parsed = parse(
      "POST /api/v1/bookings?limit=5 HTTP/1.1\r\nHost: example.in\r\nX-Empty:\r\n"
      "Authorization: \t Bearer abc.def \t\r\ncontent-length: 42\r\n\r\n");
  ASSERT_FALSE(parsed.problem) << parsed.problem->detail();
  EXPECT_EQ(parsed.request.method, "POST");
  EXPECT_EQ(parsed.request.target, "/api/v1/bookings?limit=5");
  EXPECT_EQ(parsed.head.version, 11U);
  EXPECT_TRUE(parsed.head.keep_alive);
  EXPECT_EQ(parsed.head.content_length, 42U);
  EXPECT_FALSE(parsed.head.chunked);
  EXPECT_TRUE(parsed.head.has_body());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"Host", "example.in"}, {"X-Empty", ""}, {"Authorization", "Bearer abc.def"}, {"content-length", "42"}};
  EXPECT_EQ(parsed.request.headers.fields(), expected);
}

TEST(RequestHead, KeepAliveFollowsVersionAndConnection) {
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  const auto kept = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_EQ(kept.head.version, 10U);
  EXPECT_TRUE(kept.head.keep_alive);
  EXPECT_FALSE(kept.head.has_body());
}

TEST(RequestHead, ChunkedIsTheOnlyTransferCoding) {
  const auto chunked = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n");
  ASSERT_FALSE(chunked.problem);
  EXPECT_TRUE(chunked.head.chunked);
  EXPECT_TRUE(chunked.head.has_body());
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(RequestHead, RefusesAmbiguousContentLength) {
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n").head.content_length,
            9999999999999999999ULL);
  EXPECT_FALSE(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").head.has_body());
}

TEST(RequestHead, RefusesLinesTwoParsersCouldReadTwoWays) {
  EXPECT_EQ(refusal("GET / HTTP/1.1\nHost: x\r\n\r\n"), 400);               // bare LF
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"), 400);       // bare CR
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400);  // obs-fold
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\n\tHost: x\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);  // space before the colon
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\n: x\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX-A: a\x01"
                    "b\r\n\r\n"),
            400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX-A: " + std::string(40, 'a') + "\x7f\r\n\r\n"), 400);  // past a whole word
  EXPECT_EQ(refusal(std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 27)), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX-A: abcdefghij\x01\r\n\r\n"), 400);  // in the overlapping last word
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX-A: abcdefgh\x1b"
                    "abcdefgh\r\n\r\n"),
            400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\n\r\n"), 400);  // one head only
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: x\r\n"), 400);                                  // no empty line
}

// Values of every length from 0 to 40 with one control character at every position: the SSE2
// blocks, the eight-byte words and the bytewise rest (and their overlaps) all look at every byte.
TEST(RequestHead, FindsAControlCharacterAtEveryPositionOfEveryLength) {
  for (std::size_t length = 1; length <= 40; ++length) {
    const std::string clean(length, 'v');
    EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX-A: " + clean + "\r\n\r\n"), 0) << length;
    for (std::size_t position = 0; position < length; ++position) {
      for (const char control : {'\x01', '\x1f', '\x7f', '\n'}) {
        auto value = clean;
        value[position] = control;
        EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX-A: " + value + "\r\n\r\n"), 400) << length << " " << position;
      }
      auto tabbed = clean;
      tabbed[position] = '\t';
      EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX-A: " + tabbed + "\r\n\r\n"), 0) << "HTAB " << length << " " << position;
    }
  }
}

TEST(RequestHead, AcceptsTabsAndObsTextInValues) {
  const auto parsed = parse("GET / HTTP/1.1\r\nX-A: a\tb \xc3\xa9 " + std::string(30, 'z') + "\r\n\r\n");
  ASSERT_FALSE(parsed.problem) << parsed.problem->detail();
  EXPECT_EQ(parsed.request.headers.get("x-a"), "a\tb \xc3\xa9 " + std::string(30, 'z'));
}

TEST(RequestHead, RefusesMalformedRequestLines) {
  for (const std::string line :
       {"GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", "G(T / HTTP/1.1", "GET /\t HTTP/1.1", "GET / http/1.1",
        "GET / HTTP/1.10", "GET / HTTP/1", " GET / HTTP/1.1", "GET /a b HTTP/1.1", "GET /\x7f HTTP/1.1", ""}) {
    EXPECT_EQ(refusal(line + "\r\nHost: x\r\n\r\n"), 400) << line;
  }
  EXPECT_EQ(refusal("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
  EXPECT_EQ(refusal("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 505);
  EXPECT_EQ(refusal("GET / HTTP/0.9\r\nHost: x\r\n\r\n"), 505);
  EXPECT_EQ(refusal("PROPFIND http://example.in/a?b=%20c HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
}

std::optional<std::string> parse_response(const std::string& text, ResponseHead& head) {
  return parse_response_head(text, head);
}

TEST(ResponseHead, ParsesStatusLineFieldsAndFraming) {
  const std::string text =
      "HTTP/1.1 201 Created\r\nServer: up\r\nContent-Length: 12\r\nX-Empty:  \r\nConnection: keep-alive\r\n\r\n";
  ResponseHead head;
  ASSERT_FALSE(parse_response(text, head));
  EXPECT_EQ(head.version, 11U);
  EXPECT_EQ(head.status, 201);
  EXPECT_EQ(head.reason, "Created");
  const std::vector<std::pair<std::string_view, std::string_view>> expected = {
      {"Server", "up"}, {"Content-Length", "12"}, {"X-Empty", ""}, {"Connection", "keep-alive"}};
  EXPECT_EQ(head.fields, expected);
  EXPECT_EQ(head.get("content-length"), "12");
  EXPECT_EQ(head.content_length, 12U);
  EXPECT_FALSE(head.connection_close);
  EXPECT_EQ(head.body(false), ResponseHead::Body::kLength);
  EXPECT_EQ(head.body(true), ResponseHead::Body::kNone) << "the answer to HEAD has no body";
}

TEST(ResponseHead, BodyFramingFollowsRfc9112) {
  ResponseHead head;
  ASSERT_FALSE(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", head));
  EXPECT_EQ(head.body(false), ResponseHead::Body::kChunked);
  ASSERT_FALSE(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", head));
  EXPECT_EQ(head.body(false), ResponseHead::Body::kUntilClose);
  ASSERT_FALSE(parse_response("HTTP/1.1 200 OK\r\n\r\n", head));
  EXPECT_EQ(head.body(false), ResponseHead::Body::kUntilClose);
  ASSERT_FALSE(parse_response("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", head));
  EXPECT_EQ(head.reason, "");
  EXPECT_EQ(head.body(false), ResponseHead::Body::kNone);
  for (const std::string status : {"204 No Content", "304 Not Modified", "103 Early Hints"}) {
    ASSERT_FALSE(parse_response("HTTP/1.1 " + status + "\r\nContent-Length: 5\r\n\r\n", head));
    EXPECT_EQ(head.body(false), ResponseHead::Body::kNone) << status;
  }
  ASSERT_FALSE(parse_response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", head));
  EXPECT_TRUE(head.connection_close) << "HTTP/1.0 closes unless it says keep-alive";
  ASSERT_FALSE(parse_response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", head));
  EXPECT_TRUE(head.connection_close);
}

TEST(ResponseHead, RefusesHeadsTwoParsersCouldReadTwoWays) {
  ResponseHead head;
  for (const std::string text : {
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
           "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\rX-B: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX-A: 1\r\n",
           "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1 20 OK\r\n\r\n",
           "HTTP/1.1 099 Low\r\n\r\n",
           "HTTP/1.1 600 High\r\n\r\n",
           "HTTP/1.1  200 OK\r\n\r\n",
           "HTTP/2.0 200 OK\r\n\r\n",
           "HTTP/1.1 200 O\x01K\r\n\r\n",
           "ICY 200 OK\r\n\r\n",
       }) {
    EXPECT_TRUE(parse_response(text, head)) << text;
  }
}

}  // namespace
}  // namespace intercab::http
