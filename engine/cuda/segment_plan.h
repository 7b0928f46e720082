// How the CUDA fused backward groups a step's entries and sums them, as
// host-and-device functions: the kernels (fused_backward.cu) call them one
// entry, partial or row per thread or warp, and the CPU suite calls the
// same functions in plain loops to check them against engine/reference.
//
// The plan, for a step's sources:
//   1. Every position of every source, numbered source by source
//      (global position g), is located: its bag, and its row as a sort key,
//      or no_gradient_key (num_rows) for padding and positions in no bag.
//   2. A stable radix sort by key groups the entries by row, each row's in
//      g order: source, then position, the CPU engine's summation order.
//   3. Each row's run of entries is a segment. A segment of at most
//      kEntriesPerPartial entries is summed by one warp in that order, with
//      the CPU's arithmetic (fma of each entry's scale and upstream, from
//      zero), so its sum is the CPU's bit for bit. A longer ("hot") segment
//      is cut into partials of kEntriesPerPartial entries, summed in
//      parallel, then added in partial order: the same bits on every run,
//      but not the CPU's (within float rounding of the exact sum).
// No atomics decide any sum.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/host_device.h"
#include "engine/row_update_arithmetic.h"
#include "rowshard/engine/pooling.h"

namespace rowshard::cuda {

// Entries a warp sums on its own; a row with more is split into partials.
inline constexpr int64_t kEntriesPerPartial = 1024;

ROWSHARD_HOST_DEVICE constexpr bool is_hot(int64_t entries) { return entries > kEntriesPerPartial; }
// How many partials a row of `entries` entries is summed in (0 when cold).
ROWSHARD_HOST_DEVICE constexpr int64_t partials_of(int64_t entries) {
  return is_hot(entries) ? (entries + kEntriesPerPartial - 1) / kEntriesPerPartial : 0;
}
// At least the partials of all hot rows of a step with `entries` entries:
// a hot row of c entries has ceil(c / K) < 2c / K of them.
constexpr int64_t max_partials(int64_t entries) { return 2 * entries / kEntriesPerPartial + 1; }

// Launch geometry: 256 threads a block, one warp per row or partial.
inline constexpr int kThreadsPerBlock = 256;
inline constexpr int kWarpSize = 32;
inline constexpr int kWarpsPerBlock = kThreadsPerBlock / kWarpSize;
constexpr int64_t blocks_for_threads(int64_t threads) {
  return (threads + kThreadsPerBlock - 1) / kThreadsPerBlock;
}
constexpr int64_t blocks_for_warps(int64_t warps) {
  return (warps + kWarpsPerBlock - 1) / kWarpsPerBlock;
}

// One source's arrays as the kernels read them (device copies, or the
// host's own arrays when the CPU suite runs these functions).
struct StagedSource {
  const int64_t* indices = nullptr;        // num_positions
  const int64_t* bounds = nullptr;         // num_bags + 1
  const float* weights = nullptr;          // per position; nullptr without weights
  const float* grad_output = nullptr;      // bag b at grad_output + b * stride
  const int64_t* max_positions = nullptr;  // same layout; max mode only
  int64_t num_positions = 0;
  int64_t num_bags = 0;
  int64_t stride = 0;
  int64_t padding_idx = kNoPadding;
  PoolingMode mode = PoolingMode::sum;
  // Where the source starts in the step's numbering of positions and bags.
  int64_t first_position = 0;
  int64_t first_bag = 0;
};

struct StagedStep {
  const StagedSource* sources = nullptr;
  int64_t num_sources = 0;
  int64_t num_rows = 0;
  // Mean mode: per bag of the step, the entry count it is divided by.
  const int64_t* bag_entries = nullptr;
  bool scale_grad_by_freq = false;

  ROWSHARD_HOST_DEVICE uint64_t no_gradient_key() const { return static_cast<uint64_t>(num_rows); }
};

// The last i in [0, n) with at(i) <= value, or -1: at is ascending.
template <typename At>
ROWSHARD_HOST_DEVICE int64_t last_at_most(int64_t n, int64_t value, At at) {
  int64_t low = 0, high = n;  // the answer + 1 is in [low, high]
  while (low < high) {
    const int64_t middle = low + (high - low) / 2;
    if (at(middle) <= value)
      low = middle + 1;
    else
      high = middle;
  }
  return low - 1;
}

// The source holding global position g (sources with no positions are
// passed over: a later one starts at the same g).
ROWSHARD_HOST_DEVICE inline int64_t source_of_position(const StagedStep& step, int64_t g) {
  const StagedSource* sources = step.sources;
  return last_at_most(step.num_sources, g,
                      [sources](int64_t s) { return sources[s].first_position; });
}

// A position's place in the step: its sort key and its bag (the step's
// numbering), and whether its row was outside [0, num_rows) (which the
// forward has ruled out; such an entry gets no gradient).
struct LocatedEntry {
  uint64_t key;
  int64_t bag;
  bool row_out_of_range;
};

ROWSHARD_HOST_DEVICE inline LocatedEntry locate_entry(const StagedStep& step, int64_t g) {
  const StagedSource& source = step.sources[source_of_position(step, g)];
  const int64_t p = g - source.first_position;
  const int64_t* bounds = source.bounds;
  const int64_t b = last_at_most(source.num_bags + 1, p, [bounds](int64_t i) { return bounds[i]; });
  if (b < 0 || b >= source.num_bags) return {step.no_gradient_key(), -1, false};
  const int64_t row = source.indices[p];
  if (row == source.padding_idx) return {step.no_gradient_key(), -1, false};
  if (row < 0 || row >= step.num_rows) return {step.no_gradient_key(), -1, true};
  return {static_cast<uint64_t>(row), source.first_bag + b, false};
}

// Source bag b's non-padding entries (mean's divisor when the source does
// not give it).
ROWSHARD_HOST_DEVICE inline int64_t count_bag_entries(const StagedSource& source, int64_t b) {
  int64_t entries = 0;
  for (int64_t p = source.bounds[b]; p < source.bounds[b + 1]; ++p)
    entries += source.indices[p] != source.padding_idx;
  return entries;
}

// What one entry adds to its row: scale * upstream, in max mode only in
// the columns where winners[d] == position.
struct EntryTerm {
  const float* upstream;
  const int64_t* winners;  // nullptr unless max mode
  int64_t position;
  float scale;
};

// The term of the entry at global position g, in step bag `bag`, whose row
// has `frequency` entries in the step.
ROWSHARD_HOST_DEVICE inline EntryTerm make_term(const StagedStep& step, int64_t g, int64_t bag,
                                                int64_t frequency) {
  const StagedSource& source = step.sources[source_of_position(step, g)];
  const int64_t p = g - source.first_position;
  const int64_t b = bag - source.first_bag;
  const bool mean = source.mode == PoolingMode::mean;
  const float scale = entry_scale(mean, mean ? step.bag_entries[bag] : 1,
                                  source.weights != nullptr ? source.weights + p : nullptr,
                                  step.scale_grad_by_freq ? frequency : 1);
  const int64_t* winners =
      source.mode == PoolingMode::max ? source.max_positions + b * source.stride : nullptr;
  return {source.grad_output + b * source.stride, winners, p, scale};
}

// Column d of terms [begin, end) summed in order from zero, each added with
// one fused multiply-add, as the CPU engine and reference::dense_gradient
// add them (for an unscaled term, fma(1, u, a) is a + u).
ROWSHARD_HOST_DEVICE inline float column_sum(const EntryTerm* terms, int64_t begin, int64_t end,
                                             int64_t d) {
  float sum = 0.0f;
  for (int64_t i = begin; i < end; ++i) {
    const EntryTerm& term = terms[i];
    if (term.winners != nullptr && term.winners[d] != term.position) continue;
    sum = fmaf(term.scale, term.upstream[d], sum);
  }
  return sum;
}

// A row's run of sorted entries, and where its partials go when it is hot.
struct Segment {
  int64_t first_entry;
  int64_t entries;
  int64_t first_partial;
};

// Column d of partial j of a hot segment.
ROWSHARD_HOST_DEVICE inline float partial_column_sum(const EntryTerm* terms, const Segment& segment,
                                                     int64_t j, int64_t d) {
  const int64_t begin = segment.first_entry + j * kEntriesPerPartial;
  const int64_t end = segment.first_entry + segment.entries;
  return column_sum(terms, begin,
                    begin + kEntriesPerPartial < end ? begin + kEntriesPerPartial : end, d);
}

// Column d of a segment's gradient: its entries summed directly, or, when
// hot, its partials ([partial][dim] in `partials`) added in order.
ROWSHARD_HOST_DEVICE inline float row_column_sum(const EntryTerm* terms, const float* partials,
                                                 const Segment& segment, int64_t dim, int64_t d) {
  if (!is_hot(segment.entries))
    return column_sum(terms, segment.first_entry, segment.first_entry + segment.entries, d);
  float sum = 0.0f;
  const int64_t end = segment.first_partial + partials_of(segment.entries);
  for (int64_t j = segment.first_partial; j < end; ++j) sum += partials[j * dim + d];
  return sum;
}

}  // namespace rowshard::cuda
