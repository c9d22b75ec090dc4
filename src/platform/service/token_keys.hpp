// The signing and verification keys of the process, from configuration: access tokens (users) and
// service tokens (/internal/v1 calls between services). Every module of a process shares the same
// key sets, so tokens the user service issues pass the gateway in the same process.
#pragma once

#include <memory>

#include "platform/auth/keys.hpp"
#include "platform/config/config.hpp"

namespace intercab::service {

// Access tokens: the Ed25519 key file (auth.ed25519_key_file) when configured, else the HS256
// JWT_SECRET, else a random secret made once per process (logged as a warning: tokens then die with
// the process and no other process accepts them). `need_signing_key` false keeps only the public
// half of an Ed25519 key (verifiers such as the gateway). Throws std::invalid_argument naming the key.
std::shared_ptr<const auth::KeySet> access_token_keys(const config::Config& config, bool need_signing_key);

// Service tokens: auth.internal_key_file (Ed25519) or INTERNAL_JWT_SECRET (HS256), else a random
// secret made once per process. Always distinct from the access token keys.
std::shared_ptr<const auth::KeySet> internal_token_keys(const config::Config& config);

// The issuer name of service tokens ("<auth.issuer>-internal").
std::string internal_token_issuer(const config::Config& config);

}  // namespace intercab::service
