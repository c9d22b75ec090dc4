// Test support: a real OpenID Provider (npm oidc-provider, run by node from tests/support/oidc_provider/) on a
// free loopback port, and a scripted browser that takes an authorization URL through its login and consent
// to the client's redirect_uri, the way a person's browser would.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "process.hpp"

namespace intercab::testing {

// The one client registered at the provider (client_secret_basic, PKCE S256 required).
struct OidcTestClient {
  std::string client_id = "intercab-test-client";
  std::string client_secret = "fixture-client-secret";
  // Never fetched by the browser: it stops at the redirect and hands back the parameters.
  std::string redirect_uri = "http://127.0.0.1:9/api/v1/auth/oidc/callback";
};

// The account every login logs in as.
struct OidcTestAccount {
  std::string subject = "fixture-user-1";
  std::string email = "rider.one@example.com";
  bool email_verified = true;
  std::string name = "Rider One";
};

class OidcProvider {
 public:
  // Starts `node provider.mjs` (from INTERCAB_SOURCE_DIR) and waits until it serves. Throws std::runtime_error
  // when node (Debian package nodejs) or the npm package is missing (run scripts/bootstrap), or with the
  // provider's log when it does not come up.
  explicit OidcProvider(OidcTestClient client = {}, OidcTestAccount account = {});
  ~OidcProvider();  // stops the provider by its pid
  OidcProvider(const OidcProvider&) = delete;
  OidcProvider& operator=(const OidcProvider&) = delete;

  // "http://127.0.0.1:<port>": discovery is at issuer() + "/.well-known/openid-configuration".
  const std::string& issuer() const { return issuer_; }
  std::uint16_t port() const { return port_; }
  const OidcTestClient& client() const { return client_; }
  const OidcTestAccount& account() const { return account_; }
  std::string log() const;

 private:
  OidcTestClient client_;
  OidcTestAccount account_;
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
  std::string issuer_;
};

// Where the provider sent the browser back: the query parameters of the redirect to the redirect_uri.
struct AuthorizationRedirect {
  std::string url;                            // the whole redirect URL
  std::map<std::string, std::string> params;  // decoded: code, state, iss or error, error_description
  std::string param(const std::string& name) const;
};

// Plays the user's browser from `authorization_url` (on `provider`): follows redirects, keeps the provider's
// cookies, and stops at the first redirect to `redirect_uri`. Throws std::runtime_error if the flow ends
// anywhere else (an error page, a redirect to another host, more than 20 hops).
AuthorizationRedirect follow_authorization(const OidcProvider& provider, const std::string& authorization_url,
                                           const std::string& redirect_uri);

}  // namespace intercab::testing
