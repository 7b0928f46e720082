// Elapsed wall time for the timings that steps, benches and tools report.
#pragma once

#include <chrono>

namespace rowshard {

using SteadyClock = std::chrono::steady_clock;

// Seconds from `start` to now on the steady clock (never goes back).
inline double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

}  // namespace rowshard
