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
  // Mean mode: each bag's entry count to divide by, when this batch holds
  // only part of its bags (a shard's share); nullptr counts the batch's own
  // non-padding entries.
  const int64_t* entries_per_bag = nullptr;
};

class RowGradientSink;

// Every entry of all sources (padding left out), grouped by row, with what
// it adds to its row's gradient resolved: where its upstream gradient is
// and the factor it is scaled by.
class BackwardPlan {
 public:
  // With scale_grad_by_freq, a row's frequency counts its entries in all
  // sources.
  BackwardPlan(std::span<const GradientSource> sources, int64_t num_rows,
               bool scale_grad_by_freq);

  // The distinct rows that get a gradient, ascending.
  const std::vector<int64_t>& rows() const { return rows_; }
  int64_t num_rows_touched() const { return static_cast<int64_t>(rows_.size()); }

 private:
  friend void for_each_row_gradient(const BackwardPlan&, int64_t,
                                    RowGradientSink&);
  // One non-padding entry of a source. Row r's gradient is the fma-sum,
  // over its entries in order, of scale * upstream[d] (in max mode only over
  // the columns d its bag's winners give to this entry's position).
  struct Entry {
    uint32_t source;
    uint32_t bag;
    int64_t position;
  };

  std::span<const GradientSource> sources_;
  // Per source, per bag: the entry count mean divides by.
  std::vector<std::vector<int64_t>> bag_entries_;
  std::vector<Entry> entries_;  // grouped by row, see group_begin_
  bool scale_grad_by_freq_;
  std::vector<int64_t> rows_;
  std::vector<int64_t> group_begin_;  // rows_.size() + 1 entries
};

// Receives the summed gradient of group `group` (row `row`). Called once per
// group, from several threads at once for different groups.
class RowGradientSink {
 public:
  virtual ~RowGradientSink() = default;
  virtual void consume(int64_t group, int64_t row,
                       std::span<const float> gradient) = 0;
  // Called a few rows ahead of consume() for `row`, so a sink that reads
  // the row's memory can start fetching it.
  virtual void prefetch(int64_t /*row*/) {}
};

// For each row of `plan`, computes its gradient exactly as
// reference::dense_gradient defines it, summing the row's entries source by
// source in position order, and passes it to `sink`.
void for_each_row_gradient(const BackwardPlan& plan, int64_t dim,
                           RowGradientSink& sink);

}  // namespace rowshard::cpu
