// Version, git sha, build type and time of this binary (generated at build time).
#pragma once

#include "platform/service/service.hpp"

namespace intercab::app {

service::BuildInfo build_info();

}  // namespace intercab::app
