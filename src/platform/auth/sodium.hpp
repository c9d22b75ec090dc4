// libsodium initialisation shared by every part of the auth library.
#pragma once

namespace intercab::auth {

// Runs sodium_init() once per process (thread-safe) before the first libsodium call; throws
// std::runtime_error if libsodium cannot start (no usable random source), which is fatal.
void ensure_sodium_initialized();

}  // namespace intercab::auth
