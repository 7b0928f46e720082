#include "rowshard/sharding/memory_limit.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <string>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

// A field of /proc/self/status in bytes ("VmSize:  123 kB"), if present.
std::optional<int64_t> process_status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with(field + ":")) return std::stoll(line.substr(field.size() + 1)) * 1024;
  return std::nullopt;
}

// What is left under a resource limit, given what the process already uses.
std::optional<int64_t> left_under(int resource, const std::string& used_field) {
  rlimit limit{};
  if (getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  const auto cap =
      static_cast<int64_t>(std::min<rlim_t>(limit.rlim_cur, std::numeric_limits<int64_t>::max()));
  return std::max<int64_t>(0, cap - process_status_bytes(used_field).value_or(0));
}

std::optional<int64_t> cgroup_memory_max() {
  std::ifstream file("/sys/fs/cgroup/memory.max");
  std::string value;
  if (!(file >> value) || value == "max") return std::nullopt;
  return std::stoll(value);
}

void lower_to(MemoryLimit& limit, std::optional<int64_t> bytes, const std::string& source) {
  if (bytes && (limit.source.empty() || *bytes < limit.bytes)) limit = {*bytes, source};
}

}  // namespace

int ranks_on_this_machine() {
  const char* local_size = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const int ranks = local_size ? std::atoi(local_size) : 1;
  return std::max(ranks, 1);
}

MemoryLimit memory_limit_per_rank(int64_t budget_bytes, int ranks_sharing_machine) {
  ROWSHARD_ASSERT(budget_bytes >= 0 && ranks_sharing_machine >= 1);
  MemoryLimit limit;
  if (budget_bytes > 0) limit = {budget_bytes, "memory_budget_mb"};
  const int64_t physical = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  const std::string shared_by =
      ranks_sharing_machine > 1
          ? message(" shared by the ", ranks_sharing_machine, " ranks on this machine")
          : std::string();
  lower_to(limit, physical / ranks_sharing_machine, "this machine's physical memory" + shared_by);
  if (const auto cgroup = cgroup_memory_max())
    lower_to(limit, *cgroup / ranks_sharing_machine, "the cgroup's memory.max" + shared_by);
  lower_to(limit, left_under(RLIMIT_AS, "VmSize"),
           "what is left of the address-space limit (ulimit -v)");
  lower_to(limit, left_under(RLIMIT_DATA, "VmData"),
           "what is left of the data-segment limit (ulimit -d)");
  return limit;
}

}  // namespace rowshard
