// The files behind /docs/, compiled into the binary by the embedded_files.cpp that CMakeLists.txt generates.
#pragma once

#include <span>
#include <string_view>

namespace intercab::gateway::docs {

struct EmbeddedFile {
  std::string_view name;   // as served under /docs/: "swagger-ui-bundle.js"
  std::string_view bytes;  // the file's content, followed by a '\0' that is not part of it
};

std::span<const EmbeddedFile> embedded_files();

}  // namespace intercab::gateway::docs
