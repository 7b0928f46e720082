// A test-only hook, not a setting: ROWSHARD_TEST_STALL="rank=R step=S
// seconds=T" makes rank R sleep T seconds inside training step S (counted
// from 1, as progress lines count), before the step's input exchange, the
// way a rank stopped or stuck on a slow disk would stall. Tests use it to
// check that the other ranks' collective watchdog ends the job.
#pragma once

#include <cstdint>
#include <optional>

namespace rowshard {

struct TestStall {
  int rank = 0;
  int64_t step = 1;
  double seconds = 0;

  // Sleeps when this is the rank and step to stall.
  void stall_if_due(int this_rank, int64_t this_step) const;
};

// The hook from the environment: none when ROWSHARD_TEST_STALL is unset;
// InvalidArgument naming the variable when it is set but malformed.
std::optional<TestStall> test_stall_from_environment();

}  // namespace rowshard
