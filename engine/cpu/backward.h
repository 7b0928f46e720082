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

#include "engine/cpu/scratch_buffer.h"
#include "rowshard/engine/gradient_source.h"
#include "rowshard/engine/pooling.h"

namespace rowshard::cpu {

class RowGradientSink;
class RowUpstreamSink;

// Every entry of all sources (padding left out), grouped by row.
//
// Rows are split into chunks of consecutive rows, small enough that a
// chunk's summed gradients stay in a core's L2 cache. One stable counting
// pass buckets the entries by chunk; the gradient pass then adds each entry
// straight into its row's slot of a per-thread, per-chunk buffer, with no
// second sort and no dense [rows, dim] gradient.
//
// A plan keeps its memory between build() calls, so a table that steps
// every batch does not allocate (and page-fault) tens of megabytes a step.
class BackwardPlan {
 public:
  BackwardPlan() = default;
  BackwardPlan(std::span<const GradientSource> sources, int64_t num_rows, int64_t dim,
               bool scale_grad_by_freq) {
    build(sources, num_rows, dim, scale_grad_by_freq);
  }

  // Groups `sources`' entries for a table of [num_rows, dim]; the sources'
  // arrays must outlive the plan's use. With scale_grad_by_freq, a row's
  // frequency counts its entries in all sources. Every non-padding index
  // must be in [0, num_rows).
  void build(std::span<const GradientSource> sources, int64_t num_rows, int64_t dim,
             bool scale_grad_by_freq);

  // The distinct rows that get a gradient, ascending. Worked out on each
  // call: the optimizer path does not need the whole list, only each
  // chunk's rows, which the gradient pass finds as it goes.
  std::vector<int64_t> touched_rows() const;
  int64_t dim() const { return dim_; }
  // Whether every entry's gradient is its bag's upstream row as it is (sum
  // pooling, no per-sample weights, no frequency scaling), so that
  // for_each_row_upstream applies.
  bool plain_sums() const;

  // One non-padding entry in its chunk's bucket, packed so that bucketing,
  // whose cost is its scattered stores, writes one 8-byte word per entry.
  struct ChunkEntry {
    uint32_t bag;
    uint32_t offset;  // of the entry's row in the chunk
  };

 private:
  friend void for_each_row_gradient(const BackwardPlan&, RowGradientSink&);
  friend void for_each_row_upstream(const BackwardPlan&, RowUpstreamSink&);

  void bucket_by_chunk();
  int64_t num_chunks() const { return static_cast<int64_t>(chunk_entry_begin_.size()) - 1; }
  int64_t rows_per_chunk() const { return int64_t{1} << chunk_shift_; }
  std::span<const ChunkEntry> chunk_entries(int64_t chunk) const {
    return {entries_.data() + chunk_entry_begin_[chunk],
            static_cast<std::size_t>(chunk_entry_begin_[chunk + 1] - chunk_entry_begin_[chunk])};
  }

  std::span<const GradientSource> sources_;
  int64_t num_rows_ = 0;
  int64_t dim_ = 0;
  bool scale_grad_by_freq_ = false;
  int chunk_shift_ = 0;  // row r is in chunk r >> chunk_shift_
  // Bags are numbered across sources: source s's bag b is bag_offset_[s] + b.
  std::vector<int64_t> bag_offset_;
  // Mean mode: per bag, the entry count its gradient is divided by.
  ScratchBuffer<int64_t> bag_entries_;
  // Chunk c's entries are [chunk_entry_begin_[c], chunk_entry_begin_[c + 1])
  // of entries_ (and entry_positions_), in source, then position order: the
  // order each row's gradient is summed in. Positions in the sources'
  // indices are kept only when a source needs them (max mode, per-sample
  // weights).
  std::vector<int64_t> chunk_entry_begin_;
  ScratchBuffer<ChunkEntry> entries_;
  ScratchBuffer<uint32_t> entry_positions_;
  bool needs_positions_ = false;
};

// One chunk's rows and their summed gradients: row rows[i]'s gradient is
// dim floats at sums + (rows[i] - first_row) * dim.
struct RowGradientBlock {
  std::span<const int64_t> rows;  // ascending
  const float* sums;
  int64_t first_row;
  int64_t dim;

  std::span<const float> gradient(std::size_t i) const {
    return {sums + (rows[i] - first_row) * dim, static_cast<std::size_t>(dim)};
  }
};

// Receives the summed gradients, a block of rows at a time, so that the
// per-row work (an optimizer update, prefetching the rows ahead) is not
// behind a virtual call. Called once per block, from several threads at
// once for different blocks, in no particular order.
class RowGradientSink {
 public:
  virtual ~RowGradientSink() = default;
  virtual void consume(const RowGradientBlock& block) = 0;
};

// For each row of `plan`, computes its gradient exactly as
// reference::dense_gradient defines it, summing the row's entries source by
// source in position order, and passes it to `sink` in its chunk's block.
void for_each_row_gradient(const BackwardPlan& plan, RowGradientSink& sink);

// One chunk's rows and, for each, the upstream rows its gradient is the sum
// of: row rows[i]'s gradient is 0 + upstream[b] + ... + upstream[e - 1],
// added in that order (source, then position), for b = sum_end[i - 1] (0
// for i = 0) and e = sum_end[i], each upstream row dim floats. Summing them
// is left to the sink, so that it can do it in registers, row by row, in
// the same pass that updates the row.
struct RowUpstreamBlock {
  std::span<const int64_t> rows;  // ascending
  std::span<const uint32_t> sum_end;
  std::span<const float* const> upstream;
  int64_t dim;
};

// As RowGradientSink, for row upstream blocks.
class RowUpstreamSink {
 public:
  virtual ~RowUpstreamSink() = default;
  virtual void consume(const RowUpstreamBlock& block) = 0;
};

// for_each_row_gradient for a plan of plain_sums(), leaving the summing to
// `sink`: each chunk's entries are only grouped by row (in L1, a counting
// sort of the chunk), so no row's gradient goes through a buffer.
void for_each_row_upstream(const BackwardPlan& plan, RowUpstreamSink& sink);

}  // namespace rowshard::cpu
