#include "platform/auth/base64url.hpp"

#include <gtest/gtest.h>

namespace intercab::auth {
namespace {

TEST(Base64url, EncodesTheRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");  // the two url-safe characters
}

TEST(Base64url, RoundTripsEveryByteValueAtEveryLength) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t length = 0; length <= bytes.size(); length += 1) {
    const auto part = bytes.substr(bytes.size() - length);
    EXPECT_EQ(base64url_decode(base64url_encode(part)), part) << length;
  }
}

TEST(Base64url, RejectsEverythingButTheCanonicalUnpaddedForm) {
  for (const std::string_view bad : {"Zg==", "Zg=", "Zm9v+", "Zm9v/", "+_8", "/_8", "Z", "Zm9vY", "Zh", "Zm9", " Zg",
                                     "Zg\n", "Zm9v\tYg", "Zm.9", "Zg%3D"}) {
    EXPECT_FALSE(base64url_decode(bad).has_value()) << bad;
  }
  // "Zh" and "Zm9" carry non-zero bits after the last byte: another spelling of "f" and "fo".
  EXPECT_EQ(base64url_decode("Zg"), "f");
  EXPECT_EQ(base64url_decode("Zm8"), "fo");
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)).has_value());
}

}  // namespace
}  // namespace intercab::auth
