// How much memory one rank may use before anything is allocated: the
// smallest of the job's own budget and what this machine can give.
//
// A plan that needs more than this is refused by name before its tables
// exist, instead of ending in a std::bad_alloc, or in the kernel's OOM killer
// (Linux overcommits, so a too-large table often "allocates" and dies later).
#pragma once

#include <cstdint>
#include <string>

namespace rowshard {

struct MemoryLimit {
  int64_t bytes = 0;
  // What sets it, for the refusal: "memory_budget_mb", "physical memory
  // (... shared by N ranks)", "the address-space limit (ulimit -v)", ...
  std::string source{};
};

// The ranks of this job that run on this machine and so share its memory:
// Open MPI's mpirun says so in OMPI_COMM_WORLD_LOCAL_SIZE; 1 without it.
int ranks_on_this_machine();

// The smallest of `budget_bytes` (0: none of its own), this machine's
// physical memory divided by `ranks_sharing_machine`, a cgroup's memory.max,
// and what is left of this process's address-space (RLIMIT_AS) and data
// (RLIMIT_DATA) limits.
MemoryLimit memory_limit_per_rank(int64_t budget_bytes, int ranks_sharing_machine);

}  // namespace rowshard
