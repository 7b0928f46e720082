// The fused backward: each looked-up row's gradient, summed once, handed to
// a sink (an optimizer update, a gradient writer) and forgotten. No dense
// [rows, dim] gradient is built and no atomics are used: entries are
// bucketed by blocks of rows ("chunks"), and each chunk is summed by one
// thread, row by row in a fixed order, so results are bit-identical whatever
// the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/pooling.h"

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

// Every entry of all sources (padding left out), grouped by row.
//
// Rows are split into chunks of consecutive rows, small enough that a
// chunk's summed gradients stay in a core's L2 cache. One stable counting
// pass buckets the entries by chunk; within a chunk each entry learns its
// row's group number, so the gradient pass adds it straight into the row's
// slot of a per-thread buffer, with no second sort and no dense gradient.
class BackwardPlan {
 public:
  // With scale_grad_by_freq, a row's frequency counts its entries in all
  // sources. Every non-padding index must be in [0, num_rows).
  BackwardPlan(std::span<const GradientSource> sources, int64_t num_rows,
               int64_t dim, bool scale_grad_by_freq);

  // The distinct rows that get a gradient, ascending; group g is rows()[g].
  const std::vector<int64_t>& rows() const { return rows_; }
  int64_t num_rows_touched() const { return static_cast<int64_t>(rows_.size()); }
  int64_t dim() const { return dim_; }

 private:
  friend void for_each_row_gradient(const BackwardPlan&, RowGradientSink&);

  // One non-padding entry, in its chunk's bucket. `slot` is first the row's
  // offset in the chunk, then its group's offset among the chunk's groups,
  // with kFirstOfGroup set on the group's earliest entry.
  struct Entry {
    uint32_t slot;
    uint32_t source;
    uint32_t bag;
    uint32_t position;
  };
  static constexpr uint32_t kFirstOfGroup = uint32_t{1} << 31;

  void bucket_by_chunk(int64_t num_rows);
  void number_groups();

  std::span<const GradientSource> sources_;
  int64_t dim_;
  bool scale_grad_by_freq_;
  int chunk_shift_ = 0;  // row r is in chunk r >> chunk_shift_
  // Per source, per bag: the entry count mean divides by (mean mode only).
  std::vector<std::vector<int64_t>> bag_entries_;
  // Chunk c's entries are entries_[chunk_entry_begin_[c] ..
  // chunk_entry_begin_[c + 1]), in source, then position order: the order
  // each row's gradient is summed in.
  std::vector<Entry> entries_;
  std::vector<int64_t> chunk_entry_begin_;
  // Chunk c's groups are rows_[chunk_group_begin_[c] .. [c + 1]).
  std::vector<int64_t> chunk_group_begin_;
  std::vector<int64_t> rows_;
  std::vector<uint32_t> frequency_;  // per group; scale_grad_by_freq only
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
void for_each_row_gradient(const BackwardPlan& plan, RowGradientSink& sink);

}  // namespace rowshard::cpu
