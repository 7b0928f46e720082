// Sum and mean pooling for the common dims (16, 32, 64, 128) with AVX-512:
// a bag's running sum stays in registers instead of going back to memory
// after every row, and fp16 and bf16 rows are widened sixteen at a time. The
// arithmetic is exactly the generic kernel's (a float add per element per
// row, in entry order; a multiply then an add for weighted rows; a divide
// for mean), so the results are bit-identical to it and to the reference.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "engine/cpu/level/level_kernels.h"
#include "engine/cpu/level/widen_vectors.h"
#include "engine/cpu/pooling.h"
#include "engine/cpu/prefetch.h"
#include "rowshard/engine/element_types.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

#if defined(__AVX512F__)

// Bags [first_bag, end_bag) of `task` whose table has exactly `kDim` columns.
template <typename Element, int kDim, bool weighted, bool mean>
void pool_bags_fixed_dim(const PoolingTask& task, int64_t first_bag, int64_t end_bag) {
  constexpr int kVectors = kDim / 16;
  const PooledBatch& batch = task.batch;
  // Locals the compiler can keep in registers: through `task` it would
  // reload the table's address and row width for every lookup.
  const Element* const table = task.weights->row<Element>(0);
  const int64_t* const ids = batch.indices.data();
  const int64_t padding_idx = batch.padding_idx;
  const auto row_of_entry = [table, ids](int64_t q) { return table + ids[q] * kDim; };
  const int64_t prefetch_end = batch.bounds[end_bag];
  for (int64_t b = first_bag; b < end_bag; ++b) {
    __m512 sum[kVectors];
    for (int k = 0; k < kVectors; ++k) sum[k] = _mm512_setzero_ps();
    int64_t entries = 0;
    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
      prefetch_entries_ahead(p, prefetch_end, kDim * sizeof(Element), row_of_entry);
      if (ids[p] == padding_idx) continue;
      const Element* row = row_of_entry(p);
      if constexpr (weighted) {
        const __m512 scale = _mm512_set1_ps(batch.per_sample_weights[p]);
        for (int k = 0; k < kVectors; ++k)
          sum[k] = _mm512_add_ps(sum[k], _mm512_mul_ps(scale, load16(row + 16 * k)));
      } else {
        for (int k = 0; k < kVectors; ++k) sum[k] = _mm512_add_ps(sum[k], load16(row + 16 * k));
      }
      ++entries;
    }
    if (mean && entries > 0) {
      const __m512 count = _mm512_set1_ps(static_cast<float>(entries));
      for (int k = 0; k < kVectors; ++k) sum[k] = _mm512_div_ps(sum[k], count);
    }
    float* out = task.output + b * task.output_stride;
    for (int k = 0; k < kVectors; ++k) _mm512_storeu_ps(out + 16 * k, sum[k]);
  }
}

// Runs the fixed-dim kernel when one fits the task; false otherwise (the
// caller then uses the generic kernel).
template <typename Element, bool weighted, bool mean>
bool pool_bags_at_fixed_dim(const PoolingTask& task, int64_t first_bag, int64_t end_bag) {
  switch (task.weights->dim()) {
    case 16:
      pool_bags_fixed_dim<Element, 16, weighted, mean>(task, first_bag, end_bag);
      return true;
    case 32:
      pool_bags_fixed_dim<Element, 32, weighted, mean>(task, first_bag, end_bag);
      return true;
    case 64:
      pool_bags_fixed_dim<Element, 64, weighted, mean>(task, first_bag, end_bag);
      return true;
    case 128:
      pool_bags_fixed_dim<Element, 128, weighted, mean>(task, first_bag, end_bag);
      return true;
    default: return false;
  }
}

#else

template <typename Element, bool weighted, bool mean>
bool pool_bags_at_fixed_dim(const PoolingTask&, int64_t, int64_t) {
  return false;
}

#endif

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
