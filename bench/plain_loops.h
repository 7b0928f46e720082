// Plain loops that move a training step's bytes and do nothing else. Timed
// next to the step's phases, they show how much of each phase is the
// memory traffic it cannot avoid and how much is its own work: a phase that
// takes about as long as the loop moving its bytes is memory-bound, and
// only moving fewer bytes would make it faster.
#pragma once

#include <cstdint>
#include <span>

namespace rowshard::bench {

// Reads rows[i] of the fp32 array `values` ([n, dim], row-major) for every
// i, in order, prefetched as the lookup kernels prefetch, on all OpenMP
// threads. The forward's gather of table rows, or the gradient pass's of
// upstream rows, without the pooling or summing. Returns a sum of what was
// read, so the reads cannot be optimised away.
float gather_rows(std::span<const float> values, int64_t dim, std::span<const int64_t> rows);

// Reads and rewrites each of `rows` (ascending, distinct) of `values` once,
// prefetched as the optimizer prefetches: an update's memory traffic
// without the optimizer's arithmetic or state. Changes the rows' values.
void rewrite_rows(std::span<float> values, int64_t dim, std::span<const int64_t> rows);

}  // namespace rowshard::bench
