#include "rowshard/engine/optimizers/rowwise_adagrad.h"

#include <algorithm>

#include "engine/cpu/kernel_table.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/optimizers/validate_options.h"

namespace rowshard {

RowWiseAdagrad::RowWiseAdagrad(int64_t num_rows, int64_t dim, RowWiseAdagradOptions options,
                               MemoryPlacement placement)
    : num_rows_(num_rows), dim_(dim), options_(options) {
  check_learning_rate("rowwise_adagrad", options.lr);
  check_epsilon("rowwise_adagrad", options.eps);
  check_weight_decay("rowwise_adagrad", options.weight_decay);
  check_initial_accumulator("rowwise_adagrad", options.initial_accumulator_value);
  mean_squares_ = RowStorage::allocate(num_rows, 1, DType::f32, placement);
  std::span<float> accumulators = state();
  std::fill(accumulators.begin(), accumulators.end(), options.initial_accumulator_value);
  cuda::prefetch_to_device(mean_squares_);
}

float RowWiseAdagrad::slice_square_sum(std::span<const float> weights,
                                       std::span<const float> gradient) const {
  return cpu::kernels().rowwise_adagrad_square_sum(
      weights.data(), gradient.data(), static_cast<int64_t>(weights.size()), options_.weight_decay);
}

void RowWiseAdagrad::update_row_slice(int64_t row, std::span<float> weights,
                                      std::span<const float> gradient, float square_sum,
                                      int64_t full_dim) {
  cpu::kernels().rowwise_adagrad_step_row(*mean_squares_.mutable_row<float>(row), weights.data(),
                                          gradient.data(), static_cast<int64_t>(weights.size()),
                                          square_sum, full_dim, options_);
}

void RowWiseAdagrad::update_row(int64_t row, std::span<float> weights,
                                std::span<const float> gradient) {
  update_row_slice(row, weights, gradient, slice_square_sum(weights, gradient), dim_);
}

void RowWiseAdagrad::update_rows(std::span<const int64_t> rows, float* weights,
                                 const float* gradients, int64_t first_row) {
  cpu::kernels().rowwise_adagrad_update_rows(rows, weights, gradients, first_row, dim_,
                                             state().data(), options_);
}

void RowWiseAdagrad::update_summed_rows(std::span<const int64_t> rows,
                                        std::span<const uint32_t> sum_end,
                                        std::span<const float* const> upstream, float* weights) {
  cpu::kernels().rowwise_adagrad_sum_and_update_rows(rows, sum_end, upstream, weights, dim_,
                                                     state().data(), options_);
}

}  // namespace rowshard
