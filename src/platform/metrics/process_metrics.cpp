// Reads the process_* metrics from /proc/self and /proc/stat at exposition time.
#include "platform/metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::metrics {

namespace {

std::string read_proc_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  // /proc files report a size of 0, so read through the stream buffer rather than by size.
  if (!in || !(text << in.rdbuf())) throw std::runtime_error(std::string("cannot read ") + path);
  return text.str();
}

double clock_ticks_per_second() {
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return ticks;
}

double page_size_bytes() {
  static const double bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  return bytes;
}

// The fields of /proc/self/stat we expose (see proc(5)).
struct SelfStat {
  double cpu_ticks = 0;  // utime + stime
  double start_ticks_after_boot = 0;
  double virtual_memory_bytes = 0;
  double resident_pages = 0;
};

SelfStat read_self_stat() {
  const std::string text = read_proc_file("/proc/self/stat");
  // Field 2 is the command name in parentheses, which may itself contain spaces and ')'; the fields
  // we need are counted from the last ')'.
  const auto comm_end = text.rfind(')');
  if (comm_end == std::string::npos) throw std::runtime_error("unexpected format of /proc/self/stat");
  std::istringstream fields(text.substr(comm_end + 1));
  std::vector<std::string> after_comm;  // after_comm[0] is field 3 (state)
  for (std::string field; fields >> field;) after_comm.push_back(field);
  auto field = [&](std::size_t number) {
    const std::size_t index = number - 3;
    double value = 0;
    if (index >= after_comm.size()) throw std::runtime_error("unexpected format of /proc/self/stat");
    const std::string& token = after_comm[index];
    auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (error != std::errc{}) throw std::runtime_error("unexpected format of /proc/self/stat");
    return value;
  };
  return SelfStat{.cpu_ticks = field(14) + field(15),
                  .start_ticks_after_boot = field(22),
                  .virtual_memory_bytes = field(23),
                  .resident_pages = field(24)};
}

double boot_time_seconds() {
  std::istringstream lines(read_proc_file("/proc/stat"));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("btime ")) return std::stod(line.substr(6));
  }
  throw std::runtime_error("no btime line in /proc/stat");
}

double open_fds() {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc/self/fd"), closedir);
  if (!dir) throw std::runtime_error("cannot list /proc/self/fd");
  // The listing itself holds a descriptor; it is not one of the process's own, so leave it out.
  const std::string listing_fd = std::to_string(dirfd(dir.get()));
  double count = 0;
  while (const dirent* entry = readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != ".." && name != listing_fd) ++count;
  }
  return count;
}

double max_fds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw std::runtime_error("getrlimit(RLIMIT_NOFILE) failed");
  if (limit.rlim_cur == RLIM_INFINITY) return std::numeric_limits<double>::infinity();
  return static_cast<double>(limit.rlim_cur);
}

}  // namespace

void register_process_metrics(Registry& registry) {
  // The start time never changes: compute it once, and fail at start-up rather than at the first scrape.
  const double start_time = boot_time_seconds() + read_self_stat().start_ticks_after_boot / clock_ticks_per_second();

  registry.gauge_callback("process_resident_memory_bytes", "Resident memory size in bytes.",
                          [] { return read_self_stat().resident_pages * page_size_bytes(); });
  registry.gauge_callback("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                          [] { return read_self_stat().virtual_memory_bytes; });
  registry.counter_callback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                            [] { return read_self_stat().cpu_ticks / clock_ticks_per_second(); });
  registry.gauge_callback("process_open_fds", "Number of open file descriptors.", open_fds);
  registry.gauge_callback("process_max_fds", "Maximum number of open file descriptors.", max_fds);
  registry.gauge_callback("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                          [start_time] { return start_time; });
}

}  // namespace intercab::metrics
