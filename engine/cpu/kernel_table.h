// The kernels compiled once per CpuLevel (see engine/cpu_level.h), as a
// table of entry points per level. The public functions (cpu::pooled_forward,
// cpu::narrow, RowWiseAdagrad::update_rows, ...) call the table of the level
// in use, so their callers are built for the baseline and never test the CPU.
#pragma once

#include <cstdint>
#include <span>

#include "engine/cpu/pooling.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard::cpu {

struct Kernels {
  bool (*checked_pooled_forward)(std::span<const PoolingTask> tasks);
  void (*gather_rows)(const RowStorage& weights, std::span<const int64_t> indices,
                      std::span<float> output);
  void (*widen_f16)(const Float16* row, float* out, int64_t dim);
  void (*widen_bf16)(const BFloat16* row, float* out, int64_t dim);
  void (*narrow_f16)(const float* values, Float16* row, int64_t dim);
  void (*narrow_bf16)(const float* values, BFloat16* row, int64_t dim);
  void (*narrow_stochastically_f16)(const float* values, Float16* row, int64_t dim, uint64_t key,
                                    uint64_t first_counter);
  void (*narrow_stochastically_bf16)(const float* values, BFloat16* row, int64_t dim, uint64_t key,
                                     uint64_t first_counter);
  // The backward's scaled rows (backward.cpp): sum = fma(scale, upstream,
  // running), in every column or, in max mode, in the columns whose winner
  // is `position` (the others copy running).
  void (*add_scaled_row)(float scale, const float* upstream, const float* running, float* sum,
                         int64_t dim);
  void (*add_scaled_winners)(float scale, const float* upstream, const float* running, float* sum,
                             const int64_t* winners, int64_t position, int64_t dim);
  // Row-wise Adagrad (see rowwise_adagrad.h): a row slice's sum of
  // (g + decay * w)^2, one row's step given its square sum over full_dim
  // columns, and a block of rows' steps.
  float (*rowwise_adagrad_square_sum)(const float* weights, const float* gradient, int64_t dim,
                                      float decay);
  void (*rowwise_adagrad_step_row)(float& accumulator, float* weights, const float* gradient,
                                   int64_t dim, float square_sum, int64_t full_dim,
                                   const RowWiseAdagradOptions& options);
  void (*rowwise_adagrad_update_rows)(std::span<const int64_t> rows, float* weights,
                                      const float* gradients, int64_t first_row, int64_t dim,
                                      float* accumulators, const RowWiseAdagradOptions& options);
  // ... and the steps of rows whose gradients are sums of upstream rows
  // (cpu::RowUpstreamBlock), each row's summed in registers as it is
  // updated. `weights` is the table's row 0.
  void (*rowwise_adagrad_sum_and_update_rows)(std::span<const int64_t> rows,
                                              std::span<const uint32_t> sum_end,
                                              std::span<const float* const> upstream,
                                              float* weights, int64_t dim, float* accumulators,
                                              const RowWiseAdagradOptions& options);
};

// The table of the level in use (rowshard::cpu_level()).
const Kernels& kernels();

// Each level's table, defined by that level's compilation of
// engine/cpu/level/kernels.cpp.
namespace baseline {
extern const Kernels kKernels;
}
namespace avx2 {
extern const Kernels kKernels;
}
namespace avx512 {
extern const Kernels kKernels;
}

}  // namespace rowshard::cpu
