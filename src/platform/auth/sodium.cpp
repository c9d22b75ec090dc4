// libsodium initialisation: one call per process, guarded by a function-local static.
#include "platform/auth/sodium.hpp"

#include <sodium.h>

#include <stdexcept>

namespace intercab::auth {

void ensure_sodium_initialized() {
  // sodium_init() is itself idempotent; the static keeps later calls to one load and one compare.
  static const bool initialized = sodium_init() >= 0;
  if (!initialized) throw std::runtime_error("libsodium could not be initialised (no usable random source)");
}

}  // namespace intercab::auth
