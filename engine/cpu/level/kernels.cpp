#include "engine/cpu/level/level_kernels.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

extern const Kernels kKernels;
const Kernels kKernels = {
    .checked_pooled_forward = &checked_pooled_forward,
    .gather_rows = &gather_rows,
    .widen_f16 = &widen_row,
    .widen_bf16 = &widen_row,
    .narrow_f16 = &narrow,
    .narrow_bf16 = &narrow,
    .narrow_stochastically_f16 = &narrow_stochastically,
    .narrow_stochastically_bf16 = &narrow_stochastically,
    .add_scaled_row = &add_scaled_row,
    .add_scaled_winners = &add_scaled_winners,
    .rowwise_adagrad_square_sum = &rowwise_adagrad_square_sum,
    .rowwise_adagrad_step_row = &rowwise_adagrad_step_row,
    .rowwise_adagrad_update_rows = &rowwise_adagrad_update_rows,
    .rowwise_adagrad_sum_and_update_rows = &rowwise_adagrad_sum_and_update_rows,
};

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
