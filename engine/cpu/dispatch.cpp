// The public kernel functions, each a call through the table of the CPU
// level in use (kernel_table.h).
#include "engine/cpu/kernel_table.h"
#include "engine/cpu/narrow.h"
#include "engine/cpu/pooling.h"
#include "engine/cpu/widen.h"
#include "rowshard/engine/error.h"

namespace rowshard::cpu {

bool checked_pooled_forward(std::span<const PoolingTask> tasks) {
  return kernels().checked_pooled_forward(tasks);
}

void pooled_forward(std::span<const PoolingTask> tasks) {
  const bool all_in_range = checked_pooled_forward(tasks);
  ROWSHARD_ASSERT(all_in_range);  // callers without unchecked ids
}

void pooled_forward(const RowStorage& weights, const PooledBatch& batch, std::span<float> output,
                    std::span<int64_t> max_positions) {
  const PoolingTask task{&weights, batch, output.data(),
                         max_positions.empty() ? nullptr : max_positions.data(), weights.dim()};
  pooled_forward({&task, 1});
}

void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output) {
  kernels().gather_rows(weights, indices, output);
}

void widen(const Float16* row, float* out, int64_t dim) { kernels().widen_f16(row, out, dim); }
void widen(const BFloat16* row, float* out, int64_t dim) { kernels().widen_bf16(row, out, dim); }

void narrow(const float* values, Float16* row, int64_t dim) {
  kernels().narrow_f16(values, row, dim);
}
void narrow(const float* values, BFloat16* row, int64_t dim) {
  kernels().narrow_bf16(values, row, dim);
}

void narrow_stochastically(const float* values, Float16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter) {
  kernels().narrow_stochastically_f16(values, row, dim, key, first_counter);
}
void narrow_stochastically(const float* values, BFloat16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter) {
  kernels().narrow_stochastically_bf16(values, row, dim, key, first_counter);
}

}  // namespace rowshard::cpu
