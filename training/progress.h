// What rank 0 reports while training: the training loss, a moving mean over
// the last steps, and progress lines with the rate and the time left.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "engine/stopwatch.h"

namespace rowshard {

// The reported training loss: the mean over every rank's examples of the
// last kWindowSteps steps, so that it follows the model as it learns.
class RecentLosses {
 public:
  static constexpr std::size_t kWindowSteps = 100;

  // One step's loss summed over its examples, and how many there were.
  struct Step {
    double loss_sum = 0;
    double examples = 0;
  };

  // Adds a step, forgetting the oldest beyond kWindowSteps.
  void add(Step step);

  // Unset before any example.
  std::optional<double> mean() const;

  // Oldest first, for a checkpoint to restore exactly.
  const std::deque<Step>& steps() const { return steps_; }
  void restore(std::deque<Step> steps) { steps_ = std::move(steps); }

 private:
  std::deque<Step> steps_;
};

// Rank 0's progress lines, "step 1000/3000  52000 examples/s  loss 0.51234
// eta 00:01:02": every `every_seconds` and at the last step. The clock
// starts at construction; every rank counts its examples for the rate.
class ProgressReport {
 public:
  ProgressReport(int64_t steps, int64_t batch_size, double every_seconds);

  // A step's examples, all ranks.
  void count(int64_t examples) { examples_seen_ += examples; }

  // Prints the line of step `steps_done` (counted from 1) when one is due.
  void print_if_due(int64_t steps_done, const RecentLosses& losses);

  // Examples per second since the start; 0 when no time has passed.
  double examples_per_second() const;

 private:
  int64_t steps_;
  int64_t batch_size_;
  double every_seconds_;
  SteadyClock::time_point start_ = SteadyClock::now();
  SteadyClock::time_point last_print_ = start_;
  int64_t examples_seen_ = 0;
};

}  // namespace rowshard
