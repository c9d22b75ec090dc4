#include "services/user/domain/account.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

namespace intercab::services::user::domain {
namespace {

using std::chrono::minutes;

// Hands out the given 32-bit words, big-endian, then zeros.
RandomBytes scripted_random(std::deque<std::uint32_t> words) {
  auto queue = std::make_shared<std::deque<std::uint32_t>>(std::move(words));
  return [queue](std::uint8_t* data, std::size_t size) {
    for (std::size_t i = 0; i < size; i += 4) {
      std::uint32_t word = 0;
      if (!queue->empty()) {
        word = queue->front();
        queue->pop_front();
      }
      for (std::size_t b = 0; b < 4 && i + b < size; ++b) data[i + b] = static_cast<std::uint8_t>(word >> (24 - 8 * b));
    }
  };
}

TEST(Contacts, EmailsAreComparedWithoutCase) {
  EXPECT_EQ(normalize_email("Asha.Rao@Example.IN"), "asha.rao@example.in");
  EXPECT_EQ(parse_channel("email"), Channel::email);
  EXPECT_EQ(parse_channel("phone"), Channel::phone);
  EXPECT_EQ(parse_channel("sms"), std::nullopt);
}

TEST(VerificationCode, IsSixDigitsWithLeadingZeros) {
  EXPECT_EQ(new_verification_code(scripted_random({42})), "000042");
  EXPECT_EQ(new_verification_code(scripted_random({1'999'999})), "999999");
}

TEST(VerificationCode, DrawsAgainAboveTheLargestMultipleToAvoidBias) {
  // 4294967295 is above 4294000000 (the largest multiple of 10^6): it is discarded, 7 is used.
  EXPECT_EQ(new_verification_code(scripted_random({0xFFFFFFFFU, 7})), "000007");
}

TEST(VerificationCode, RealRandomnessCoversEveryDigitPosition) {
  std::uint64_t state = 88172645463325252ULL;
  RandomBytes xorshift = [&state](std::uint8_t* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      data[i] = static_cast<std::uint8_t>(state);
    }
  };
  std::map<char, int> first_digits;
  for (int i = 0; i < 2000; ++i) {
    const auto code = new_verification_code(xorshift);
    ASSERT_EQ(code.size(), 6U);
    ++first_digits[code[0]];
  }
  EXPECT_EQ(first_digits.size(), 10U);
}

std::string fake_hash(std::string_view code) { return "h:" + std::string(code); }

TEST(VerificationCode, CheckAcceptsTheRightCodeBeforeExpiry) {
  const TimePoint now{};
  const PendingCode pending{fake_hash("123456"), now + minutes(10), 0};
  EXPECT_EQ(check_code(pending, "123456", now, 5, fake_hash), CodeCheck::accepted);
  EXPECT_EQ(check_code(pending, "123457", now, 5, fake_hash), CodeCheck::wrong);
  EXPECT_EQ(check_code(pending, "12345", now, 5, fake_hash), CodeCheck::wrong);
  EXPECT_EQ(check_code(pending, "123456", now + minutes(10), 5, fake_hash), CodeCheck::expired);
}

TEST(VerificationCode, IsVoidAfterTheMaximumOfWrongAttemptsEvenWithTheRightCode) {
  const TimePoint now{};
  const PendingCode pending{fake_hash("123456"), now + minutes(10), 5};
  EXPECT_EQ(check_code(pending, "123456", now, 5, fake_hash), CodeCheck::too_many_attempts);
}

TEST(RefreshToken, OpaqueTokensArePrefixedBase64urlOf32Bytes) {
  const auto token = new_opaque_token("rt_", scripted_random({1, 2, 3}));
  EXPECT_EQ(token.substr(0, 3), "rt_");
  EXPECT_EQ(token.size(), 3U + 43U);
  EXPECT_NE(token, new_opaque_token("rt_", scripted_random({1, 2, 4})));
}

TEST(RefreshToken, RotationReuseRevocationAndExpiry) {
  const TimePoint now{};
  StoredRefreshToken token{false, false, now + minutes(1)};
  EXPECT_EQ(decide_refresh(token, now), RefreshDecision::rotate);
  token.already_used = true;
  EXPECT_EQ(decide_refresh(token, now), RefreshDecision::revoke_family);
  token.session_revoked = true;
  EXPECT_EQ(decide_refresh(token, now), RefreshDecision::reject_revoked);
  EXPECT_EQ(decide_refresh({false, false, now}, now), RefreshDecision::reject_expired);
}

TEST(LoginThrottle, LocksPerAccountOrPerAddress) {
  const LoginLimits limits{5, 50};
  EXPECT_FALSE(login_locked({4, 49}, limits));
  EXPECT_TRUE(login_locked({5, 0}, limits));
  EXPECT_TRUE(login_locked({0, 50}, limits));
}

TEST(Profile, SavedPlaceLabelsAreUniqueIgnoringCaseAndBlanks) {
  EXPECT_EQ(first_duplicate_label({"Home", "Office"}), std::nullopt);
  EXPECT_EQ(first_duplicate_label({"Home", "Office", " home "}), 2U);
}

TEST(Roles, ColumnIsSortedUniqueAndDropsUnknownNames) {
  EXPECT_EQ(roles_to_column({"rider", "driver", "rider"}), "driver,rider");
  EXPECT_EQ(roles_from_column("driver,rider"), (std::vector<std::string>{"driver", "rider"}));
  EXPECT_EQ(roles_from_column("driver,superuser"), (std::vector<std::string>{"driver"}));
  EXPECT_TRUE(roles_from_column("").empty());
}

}  // namespace
}  // namespace intercab::services::user::domain
