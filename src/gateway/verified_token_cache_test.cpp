// The gateway's cache of verified access tokens (auth::VerifiedTokenCache): a remembered token is
// accepted exactly while TokenVerifier::verify would accept it, and rejections are never remembered.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "platform/auth/jwt.hpp"

namespace intercab::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kLifetime = 15 * 60;  // AccessTokenIssuer's default

TimePoint at(std::int64_t unix_seconds) { return TimePoint(std::chrono::seconds(unix_seconds)); }

class VerifiedTokenCacheTest : public ::testing::Test {
 protected:
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(kNow);
  Clock clock = [now = now] { return at(now->load()); };
  std::shared_ptr<const KeySet> keys = std::make_shared<const KeySet>(SigningKey::hs256(std::string(48, 's'), "k1"));
  AccessTokenIssuer issuer{keys, {"intercab", "intercab-api"}, clock};
  std::shared_ptr<const TokenVerifier> verifier =
      std::make_shared<const TokenVerifier>(keys, VerifierSettings::access_tokens("intercab", "intercab-api"), clock);

  std::string token(const std::string& subject) { return issuer.issue({subject, "web", {"rider"}, true}).token; }
};

TokenProblem rejection(VerifiedTokenCache& cache, const std::string& token) {
  try {
    cache.verify(token);
  } catch (const TokenRejected& rejected) {
    return rejected.problem();
  }
  ADD_FAILURE() << "the token was accepted";
  return TokenProblem::malformed;
}

TEST_F(VerifiedTokenCacheTest, VerifiesEachTokenOnceWhileItIsValid) {
  VerifiedTokenCache cache(verifier);
  const auto issued = token("usr_1");
  const auto first = cache.verify(issued);
  EXPECT_EQ(first->subject, "usr_1");
  EXPECT_EQ(first->roles, std::vector<std::string>{"rider"});
  now->store(kNow + kLifetime - 1);
  EXPECT_EQ(cache.verify(issued), first);  // the same claims: not verified again
  EXPECT_EQ(cache.size(), 1U);
}

TEST_F(VerifiedTokenCacheTest, NeverAnswersFromMemoryAtOrPastExp) {
  VerifiedTokenCache cache(verifier);
  const auto issued = token("usr_1");
  const auto first = cache.verify(issued);
  // Within the verifier's leeway after exp the token is still accepted, but verified afresh.
  now->store(kNow + kLifetime + 10);
  const auto again = cache.verify(issued);
  EXPECT_NE(again, first);
  EXPECT_EQ(again->subject, "usr_1");
  now->store(kNow + kLifetime + 30);
  EXPECT_EQ(rejection(cache, issued), TokenProblem::expired);
}

TEST_F(VerifiedTokenCacheTest, AClockSetBackBeforeTheVerificationVerifiesAgain) {
  VerifiedTokenCache cache(verifier);
  const auto issued = token("usr_1");
  const auto first = cache.verify(issued);
  now->store(kNow - 60);  // before nbf, beyond the 30 s leeway
  EXPECT_EQ(rejection(cache, issued), TokenProblem::not_yet_valid);
  now->store(kNow);
  EXPECT_NE(cache.verify(issued), first);
}

TEST_F(VerifiedTokenCacheTest, RejectionsAreNotRemembered) {
  VerifiedTokenCache cache(verifier);
  auto tampered = token("usr_1");
  auto& signature_char = tampered[tampered.size() - 10];  // a whole base64url digit of the signature
  signature_char = signature_char == 'A' ? 'B' : 'A';
  EXPECT_EQ(rejection(cache, tampered), TokenProblem::bad_signature);
  EXPECT_EQ(rejection(cache, tampered), TokenProblem::bad_signature);
  EXPECT_EQ(rejection(cache, "not-a-token"), TokenProblem::malformed);
  EXPECT_EQ(cache.size(), 0U);
}

TEST_F(VerifiedTokenCacheTest, KeepsAtMostMaxEntriesDroppingTheLeastRecentlyUsed) {
  VerifiedTokenCache cache(verifier, 2);
  const auto a = token("usr_a");
  const auto b = token("usr_b");
  const auto c = token("usr_c");
  const auto claims_a = cache.verify(a);
  const auto claims_b = cache.verify(b);
  EXPECT_EQ(cache.verify(a), claims_a);  // a is now the most recently used
  cache.verify(c);                       // evicts b
  EXPECT_EQ(cache.size(), 2U);
  EXPECT_EQ(cache.verify(a), claims_a);
  EXPECT_NE(cache.verify(b), claims_b);
}

TEST_F(VerifiedTokenCacheTest, RefusesANullVerifierOrNoRoom) {
  EXPECT_THROW(VerifiedTokenCache(nullptr), std::invalid_argument);
  EXPECT_THROW(VerifiedTokenCache(verifier, 0), std::invalid_argument);
}

}  // namespace
}  // namespace intercab::auth
