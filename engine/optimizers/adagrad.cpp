#include "rowshard/engine/optimizers/adagrad.h"

#include <algorithm>
#include <cmath>

#include "engine/cuda/cuda_backend.h"
#include "engine/optimizers/validate_options.h"

namespace rowshard {

Adagrad::Adagrad(int64_t num_rows, int64_t dim, AdagradOptions options, MemoryPlacement placement)
    : num_rows_(num_rows), dim_(dim), options_(options) {
  check_learning_rate("adagrad", options.lr);
  check_epsilon("adagrad", options.eps);
  check_weight_decay("adagrad", options.weight_decay);
  check_initial_accumulator("adagrad", options.initial_accumulator_value);
  sum_of_squares_ = RowStorage::allocate(num_rows, dim, DType::f32, placement);
  std::span<float> sums = state();
  std::fill(sums.begin(), sums.end(), options.initial_accumulator_value);
  cuda::prefetch_to_device(sum_of_squares_);
}

void Adagrad::update_row(int64_t row, std::span<float> weights, std::span<const float> gradient) {
  float* sums = sum_of_squares_.mutable_row<float>(row);
  const float decay = options_.weight_decay;
  for (int64_t d = 0; d < dim_; ++d) {
    const float g = decay > 0.0f ? gradient[d] + decay * weights[d] : gradient[d];
    sums[d] += g * g;
    weights[d] -= options_.lr * (g / (std::sqrt(sums[d]) + options_.eps));
  }
}

}  // namespace rowshard
