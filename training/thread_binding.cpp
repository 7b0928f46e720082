#include "training/thread_binding.h"

#include <sched.h>

#include "rowshard/engine/error.h"

namespace rowshard {

int allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return CPU_SETSIZE;  // unknown: no warning
  return CPU_COUNT(&set);
}

std::optional<std::string> thread_binding_warning(int rank, int threads, int cpus) {
  if (threads <= cpus) return std::nullopt;
  return message("warning: rank ", rank, " runs ", threads, " threads on ", cpus,
                 " CPU(s) of its affinity mask, so they take turns; mpirun binds each rank to "
                 "one core unless started with --bind-to none (or --map-by slot:PE=",
                 threads, ")");
}

}  // namespace rowshard
