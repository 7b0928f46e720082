// The NCCL communicator's wait: NCCL runs non-blocking, so the host asks
// whether the work is done until it is, or until the watchdog's limit.
#pragma once

#include <functional>

namespace rowshard {

// Seconds on a monotonic clock.
double steady_clock_seconds();

// Calls `done` until it answers true (then returns true) or until
// `timeout_seconds` have passed on `clock_seconds` (then returns false: the
// caller gives up on the work). What `done` throws, an error the work
// reported, passes through. Polls flat out briefly, then yields the core
// between polls, as a long wait leaves it to ranks that share it.
bool poll_until_done(const std::function<bool()>& done, double timeout_seconds,
                     const std::function<double()>& clock_seconds = steady_clock_seconds);

}  // namespace rowshard
