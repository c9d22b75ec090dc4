// auth_keygen: writes a new Ed25519 signing key (PEM PKCS#8, mode 0600) — the user token key or the
// internal key (auth.internal_key_file) — and prints its kid and public JWK. Equivalent to
// `openssl genpkey -algorithm ed25519 -out PATH`, without needing the openssl tool.
#include <boost/json/serialize.hpp>
#include <exception>
#include <iostream>

#include "platform/auth/keys.hpp"

int main(int argc, char** argv) {
  if (argc != 2 || std::string_view(argv[1]).starts_with('-')) {
    std::cerr << "usage: auth_keygen PATH\n"
                 "Writes a new Ed25519 private key (PEM PKCS#8, readable by its owner only) to PATH,\n"
                 "which must not exist, and prints its key id and public JWK.\n";
    return 2;
  }
  try {
    const auto key = intercab::auth::write_new_ed25519_key_file(argv[1]);
    std::cout << "kid: " << key.kid() << "\n"
              << "jwk: " << boost::json::serialize(key.verification_key().jwk()) << "\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "auth_keygen: " << error.what() << "\n";
    return 1;
  }
}
