// The whole "Continue with ..." flow against a real OpenID Provider (npm oidc-provider, tests/support): discovery,
// the authorization URL, a scripted browser through login and consent, the code exchange with PKCE and the
// verification of the ID token the provider signed.
#include <gtest/gtest.h>

#include <memory>

#include "oidc_provider.hpp"
#include "platform/auth/oidc.hpp"
#include "platform/http/client.hpp"
#include "platform/http/server.hpp"

namespace intercab::auth {
namespace {

class OidcFlowTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    provider_ = new testing::OidcProvider();
    runtime_ = new http::Runtime(1, 1);
    http_ = new http::Client(*runtime_, http::ClientOptions{});
  }
  static void TearDownTestSuite() {
    delete http_;
    delete runtime_;
    delete provider_;
  }

  OidcFlowTest() : oidc_(settings(), *http_) {}

  static OidcProviderSettings settings() {
    OidcProviderSettings settings;
    settings.name = "fixture";
    settings.issuer = provider_->issuer();
    settings.client_id = provider_->client().client_id;
    settings.client_secret = provider_->client().client_secret;
    settings.redirect_uri = provider_->client().redirect_uri;
    return settings;
  }

  // begin_login, then the browser through the provider back to the redirect_uri.
  std::pair<AuthorizationRequest, testing::AuthorizationRedirect> authorize() {
    auto login = oidc_.begin_login();
    auto redirect = testing::follow_authorization(*provider_, login.url, provider_->client().redirect_uri);
    EXPECT_EQ(redirect.param("error"), "") << redirect.url;
    EXPECT_EQ(redirect.param("state"), login.state);
    EXPECT_EQ(redirect.param("iss"), provider_->issuer());  // RFC 9207
    EXPECT_FALSE(redirect.param("code").empty()) << redirect.url;
    return {std::move(login), std::move(redirect)};
  }

  static LoginProblem problem_of_completing(OidcClient& oidc, const std::string& code, const std::string& verifier,
                                            const std::string& nonce) {
    try {
      oidc.complete_login(code, verifier, nonce);
    } catch (const LoginRejected& rejected) {
      EXPECT_EQ(rejected.status(), 401);
      return rejected.problem();
    }
    ADD_FAILURE() << "the login was accepted";
    return LoginProblem::invalid_claims;
  }

  static inline testing::OidcProvider* provider_ = nullptr;
  static inline http::Runtime* runtime_ = nullptr;
  static inline http::Client* http_ = nullptr;
  OidcClient oidc_;
};

TEST_F(OidcFlowTest, ALoginReturnsTheProvidersUser) {
  oidc_.discover();
  const auto [login, redirect] = authorize();
  const auto identity = oidc_.complete_login(redirect.param("code"), login.code_verifier, login.nonce);
  EXPECT_EQ(identity.issuer, provider_->issuer());
  EXPECT_EQ(identity.subject, provider_->account().subject);
  EXPECT_EQ(identity.email, provider_->account().email);
  EXPECT_TRUE(identity.email_verified);
  EXPECT_EQ(identity.name, provider_->account().name);
}

TEST_F(OidcFlowTest, TheProviderRefusesAWrongCodeVerifier) {
  const auto [login, redirect] = authorize();
  const auto other_verifier = oidc_.begin_login().code_verifier;
  EXPECT_EQ(problem_of_completing(oidc_, redirect.param("code"), other_verifier, login.nonce),
            LoginProblem::code_rejected);
}

TEST_F(OidcFlowTest, ACodeCannotBeRedeemedTwice) {
  const auto [login, redirect] = authorize();
  EXPECT_EQ(oidc_.complete_login(redirect.param("code"), login.code_verifier, login.nonce).subject,
            provider_->account().subject);
  EXPECT_EQ(problem_of_completing(oidc_, redirect.param("code"), login.code_verifier, login.nonce),
            LoginProblem::code_rejected);
}

TEST_F(OidcFlowTest, AnIdTokenOfAnotherLoginIsRefused) {
  const auto [login, redirect] = authorize();
  EXPECT_EQ(problem_of_completing(oidc_, redirect.param("code"), login.code_verifier, "nonce-of-another-login"),
            LoginProblem::nonce_mismatch);
}

TEST_F(OidcFlowTest, AnotherClientsSecretIsAProviderFailure) {
  auto wrong_secret = settings();
  wrong_secret.client_secret = "not-the-secret";
  OidcClient oidc(wrong_secret, *http_);
  const auto login = oidc.begin_login();
  const auto redirect = testing::follow_authorization(*provider_, login.url, provider_->client().redirect_uri);
  EXPECT_THROW(oidc.complete_login(redirect.param("code"), login.code_verifier, login.nonce), IdentityProviderFailed);
}

}  // namespace
}  // namespace intercab::auth
