// Whether a rank's OpenMP threads have CPUs to run on. mpirun binds each
// rank to one core by default (Open MPI, up to 2 ranks), so `threads: 2` at
// one rank would run both threads on that one core: slower than one thread,
// and silently so. The job warns instead.
#pragma once

#include <optional>
#include <string>

namespace rowshard {

// How many CPUs this process may run on (its affinity mask).
int allowed_cpus();

// The warning for `threads` OpenMP threads on `cpus` allowed CPUs, or none
// when every thread has a CPU of its own.
std::optional<std::string> thread_binding_warning(int rank, int threads, int cpus);

}  // namespace rowshard
