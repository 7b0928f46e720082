// The fused backward: each looked-up row's gradient, summed once, handed to
// a sink (an optimizer update, a gradient writer) and forgotten. No dense
// [rows, dim] gradient is built and no atomics are used: entries are
// grouped by row first, and each row is summed by one thread in a fixed
// order, so results are bit-identical whatever the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/pooling.h"
#include "engine/row_groups.h"

namespace rowshard::cpu {

// One lookup's share of a table's gradient: its bags, and where their
// upstream gradient (and, in max mode, their winning positions) are. A
// collection passes one source per feature of a table; a lone table one.
struct GradientSource {
  PooledBatch batch;
  const float* grad_output = nullptr;  // bag b at grad_output + b * stride
  const int64_t* max_positions = nullptr;  // same layout; max mode only
  int64_t stride = 0;
};

// The entries of all sources (padding left out), grouped by row.
class BackwardPlan {
 public:
  BackwardPlan(std::span<const GradientSource> sources, int64_t num_rows);

  // The distinct rows that get a gradient, ascending.
  const std::vector<int64_t>& rows() const { return groups_.rows; }
  int64_t num_rows_touched() const { return groups_.num_groups(); }

 private:
  friend void for_each_row_gradient(const BackwardPlan&, int64_t, bool,
                                    class RowGradientSink&);
  struct Entry {
    uint32_t source;
    int64_t bag;
    int64_t position;
  };

  std::span<const GradientSource> sources_;
  std::vector<Entry> entries_;
  // Per source, per bag: the non-padding entry count (mean divides by it).
  std::vector<std::vector<int64_t>> bag_entries_;
  RowGroups groups_;  // positions are indices into entries_
};

// Receives the summed gradient of group `group` (row `row`). Called once per
// group, from several threads at once for different groups.
class RowGradientSink {
 public:
  virtual ~RowGradientSink() = default;
  virtual void consume(int64_t group, int64_t row,
                       std::span<const float> gradient) = 0;
};

// For each row of `plan`, computes its gradient exactly as
// reference::dense_gradient defines it, summing the row's entries source by
// source in position order, and passes it to `sink`. With
// scale_grad_by_freq, a row's frequency counts its entries in all sources.
void for_each_row_gradient(const BackwardPlan& plan, int64_t dim,
                           bool scale_grad_by_freq, RowGradientSink& sink);

}  // namespace rowshard::cpu
