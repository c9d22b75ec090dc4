// `intercab serve`: start the selected modules on the shared runtime and run until SIGINT/SIGTERM.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "platform/config/config.hpp"

namespace intercab::app {

struct ServeOptions {
  std::string targets = "all";
  std::optional<std::filesystem::path> ports_file;  // JSON {"user": 8001, ...} written once all are bound
};

// Blocks SIGINT and SIGTERM for the whole process; call before any thread is started.
void block_shutdown_signals();

// Returns the process exit code: 0 after a clean drain, 1 when start-up failed.
int serve(const config::Config& config, const ServeOptions& options);

}  // namespace intercab::app
