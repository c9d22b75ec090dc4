// The standard process_* metrics (memory, CPU, file descriptors, start time), read from /proc on Linux.
#pragma once

#include "platform/metrics/metrics.hpp"

namespace intercab::metrics {

// Registers process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
// process_open_fds, process_max_fds and process_start_time_seconds, under the names and meanings the
// Prometheus client libraries use, so that stock dashboards work. Values are read at each exposition.
// Throws std::runtime_error when /proc cannot be read, std::invalid_argument when called twice.
void register_process_metrics(Registry& registry);

}  // namespace intercab::metrics
