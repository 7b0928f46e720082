#include "sharding/comm/nccl/poll.h"

#include <chrono>
#include <thread>

namespace rowshard {
namespace {

// As the MPI communicator's wait: ranks in step usually finish sooner.
constexpr double kSpinBeforeYieldingSeconds = 50e-6;

}  // namespace

double steady_clock_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool poll_until_done(const std::function<bool()>& done, double timeout_seconds,
                     const std::function<double()>& clock_seconds) {
  const double start = clock_seconds();
  while (!done()) {
    const double waited = clock_seconds() - start;
    if (waited >= timeout_seconds) return false;
    if (waited >= kSpinBeforeYieldingSeconds) std::this_thread::yield();
  }
  return true;
}

}  // namespace rowshard
