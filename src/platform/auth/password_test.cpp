#include "platform/auth/password.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <thread>

namespace intercab::auth {
namespace {

// Tests hash with the cheapest parameters libsodium allows; production() is measured in bench/auth.
const PasswordHasher& hasher() {
  static const PasswordHasher instance(PasswordHashing::minimum());
  return instance;
}

std::vector<std::string> reasons(std::string_view password, PasswordContext context = {}) {
  std::vector<std::string> out;
  for (const auto& problem : check_password_policy(password, context)) {
    EXPECT_EQ(problem.field, "password");
    out.push_back(problem.reason);
  }
  return out;
}

constexpr std::string_view kTooCommon =
    "is too common; choose a password that others are unlikely to use (a few unrelated words work well)";

TEST(PasswordHashing, ProductionIsLibsodiumInteractiveAndTestsUseTheMinimum) {
  EXPECT_EQ(PasswordHashing::production().ops_limit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  EXPECT_EQ(PasswordHashing::production().mem_limit_bytes, crypto_pwhash_MEMLIMIT_INTERACTIVE);
  EXPECT_EQ(PasswordHashing::minimum().ops_limit, crypto_pwhash_OPSLIMIT_MIN);
  EXPECT_EQ(PasswordHashing::minimum().mem_limit_bytes, crypto_pwhash_MEMLIMIT_MIN);
  EXPECT_THROW(PasswordHasher({0, crypto_pwhash_MEMLIMIT_MIN}), std::invalid_argument);
}

TEST(PasswordHasher, HashesWithArgon2idAndVerifies) {
  const auto stored = hasher().hash("plinth-orbit-mango-47");
  EXPECT_TRUE(stored.starts_with("$argon2id$v=19$m=8,t=1,p=1$")) << stored;
  EXPECT_TRUE(hasher().verify("plinth-orbit-mango-47", stored));
  EXPECT_FALSE(hasher().verify("plinth-orbit-mango-48", stored));
  EXPECT_FALSE(hasher().verify("", stored));
  EXPECT_NE(hasher().hash("plinth-orbit-mango-47"), stored);  // a fresh salt each time
  // Unicode passwords are bytes to argon2id: the same bytes verify, others do not.
  const auto unicode = hasher().hash("पासवर्ड-बहुत-लंबा");
  EXPECT_TRUE(hasher().verify("पासवर्ड-बहुत-लंबा", unicode));
  EXPECT_FALSE(hasher().verify("पासवर्ड-बहुत-लंबी", unicode));
}

TEST(PasswordHasher, RejectsMalformedStoredHashesAndOversizedPasswords) {
  const auto stored = hasher().hash("plinth-orbit-mango-47");
  EXPECT_FALSE(hasher().verify("plinth-orbit-mango-47", ""));
  EXPECT_FALSE(hasher().verify("plinth-orbit-mango-47", "not a hash"));
  EXPECT_FALSE(hasher().verify("plinth-orbit-mango-47", stored.substr(0, stored.size() - 2)));
  EXPECT_FALSE(hasher().verify("plinth-orbit-mango-47", stored + std::string(200, 'A')));
  EXPECT_FALSE(hasher().verify("plinth-orbit-mango-47", std::string(stored).insert(10, std::string(1, '\0'))));
  EXPECT_THROW(static_cast<void>(hasher().hash(std::string(kMaxPasswordBytes + 1, 'x'))), std::invalid_argument);
  EXPECT_FALSE(hasher().verify(std::string(kMaxPasswordBytes + 1, 'x'), stored));
  EXPECT_NO_THROW(hasher().verify_without_account("anything at all"));
}

TEST(PasswordHasher, NeedsRehashWhenAlgorithmOrParametersDiffer) {
  const auto stored = hasher().hash("plinth-orbit-mango-47");
  EXPECT_FALSE(hasher().needs_rehash(stored));
  const PasswordHasher stronger({crypto_pwhash_OPSLIMIT_MIN + 1, crypto_pwhash_MEMLIMIT_MIN});
  EXPECT_TRUE(stronger.needs_rehash(stored));
  EXPECT_FALSE(stronger.needs_rehash(stronger.hash("plinth-orbit-mango-47")));
  // argon2i (not id), bcrypt and garbage all get a fresh argon2id hash at the next login.
  std::array<char, crypto_pwhash_STRBYTES> argon2i{};
  ASSERT_EQ(crypto_pwhash_str_alg(argon2i.data(), "pw", 2, crypto_pwhash_OPSLIMIT_MIN + 2, crypto_pwhash_MEMLIMIT_MIN,
                                  crypto_pwhash_ALG_ARGON2I13),
            0);
  EXPECT_TRUE(hasher().needs_rehash(argon2i.data()));
  EXPECT_TRUE(hasher().verify("pw", argon2i.data()));  // still verifies, so the upgrade can happen
  EXPECT_TRUE(hasher().needs_rehash("$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"));
  EXPECT_TRUE(hasher().needs_rehash(""));
}

TEST(PasswordHasher, IsSafeToShareBetweenThreads) {
  std::vector<std::thread> threads;
  std::array<bool, 4> ok{};
  for (std::size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&ok, t] {
      const auto password = "thread-password-" + std::to_string(t);
      const auto stored = hasher().hash(password);
      hasher().verify_without_account(password);
      ok[t] = hasher().verify(password, stored) && !hasher().verify(password + "x", stored);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const bool result : ok) EXPECT_TRUE(result);
}

TEST(PasswordPolicy, AcceptsLongUncommonPasswords) {
  EXPECT_TRUE(reasons("plinth-orbit-mango-47").empty());
  EXPECT_TRUE(reasons("Tr0ub4dor&3xyzzy").empty());
  EXPECT_TRUE(reasons("ñandú-ñandú").empty());     // 11 code points
  EXPECT_TRUE(reasons("पासवर्ड-बहुत-लंबा").empty());  // Devanagari counts characters, not bytes
  EXPECT_TRUE(reasons(std::string(kMaxPasswordBytes - 6, 'q') + "-wxyz7").empty());
  EXPECT_NO_THROW(require_password_policy("plinth-orbit-mango-47", {"asha@example.com", "+91 98765 43210"}));
}

TEST(PasswordPolicy, CountsCharactersNotBytes) {
  EXPECT_EQ(reasons("ñandúñand"), std::vector<std::string>{"must be at least 10 characters"});  // 9 chars, 11 bytes
  EXPECT_EQ(reasons("short"), std::vector<std::string>{"must be at least 10 characters"});
  EXPECT_EQ(reasons(std::string(kMaxPasswordBytes + 1, 'q') + "1"),
            std::vector<std::string>{"must be at most 256 bytes"});
  EXPECT_EQ(reasons("abc\xff\xfe-defghij"), std::vector<std::string>{"must be valid UTF-8 text"});
}

TEST(PasswordPolicy, RejectsCommonPasswordsCaseInsensitively) {
  for (const std::string_view common :
       {"password1234", "qwertyuiop", "1234567890", "iloveyou12", "QwertyUIOP", "PASSWORD1234", "1q2w3e4r5t"}) {
    EXPECT_TRUE(is_common_password(common)) << common;
    EXPECT_EQ(reasons(common), std::vector<std::string>{std::string(kTooCommon)}) << common;
  }
  // A common word dressed up with digits and symbols is still a common password.
  for (const std::string_view decorated : {"Sunshine2024!!", "**dragon12345", "Password@123", "monkey 1234567"}) {
    EXPECT_EQ(reasons(decorated), std::vector<std::string>{std::string(kTooCommon)}) << decorated;
  }
  EXPECT_FALSE(is_common_password("plinth-orbit-mango-47"));
}

TEST(PasswordPolicy, RejectsRepeatedAndSequentialRuns) {
  for (const std::string_view run : {"zzzzzzzzzzzzzz", "abcdefghijklmn", "9876543210", "zyxwvutsrqpo"}) {
    const auto found = reasons(run);
    ASSERT_EQ(found.size(), 1U) << run;
    EXPECT_TRUE(found[0] == kTooCommon || found[0] == "must not be a repeated or sequential run of characters") << run;
  }
  EXPECT_EQ(reasons("mnopqrstuvwxyz"),
            std::vector<std::string>{"must not be a repeated or sequential run of characters"});
}

TEST(PasswordPolicy, RejectsTheAccountsOwnEmailAndPhone) {
  const PasswordContext context{"Rahul.Sharma@example.com", "+91 98765 43210"};
  EXPECT_EQ(reasons("rahul.sharma", context), std::vector<std::string>{"must not contain your email address"});
  EXPECT_EQ(reasons("xxRAHUL.SHARMAxx-2031", context), std::vector<std::string>{"must not contain your email address"});
  EXPECT_EQ(reasons("call-9876543210", context), std::vector<std::string>{"must not contain your phone number"});
  EXPECT_EQ(reasons("919876543210ab", context), std::vector<std::string>{"must not contain your phone number"});
  EXPECT_TRUE(reasons("plinth-orbit-mango-47", context).empty());
  // Very short local parts and phone numbers are not compared (they would forbid too much).
  EXPECT_TRUE(reasons("plinth-orbit-mango-47", {"ab@example.com", "123"}).empty());
  EXPECT_TRUE(reasons("plinth-orbit-mango-47", {"no-at-sign", ""}).empty());
}

TEST(PasswordPolicy, RequireThrowsA422WithEveryReason) {
  try {
    require_password_policy("rahul", {"rahul@example.com", ""}, "new_password");
    FAIL() << "accepted";
  } catch (const errors::Invalid& error) {
    EXPECT_EQ(error.status(), 422);
    ASSERT_EQ(error.field_errors().size(), 2U);
    EXPECT_EQ(error.field_errors()[0].field, "new_password");
    EXPECT_EQ(error.field_errors()[0].reason, "must be at least 10 characters");
    EXPECT_EQ(error.field_errors()[1].reason, "must not contain your email address");
  }
}

}  // namespace
}  // namespace intercab::auth
