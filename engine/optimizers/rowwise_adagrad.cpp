#include "engine/optimizers/rowwise_adagrad.h"

#include <cmath>

#include "engine/optimizers/validate_options.h"

namespace rowshard {

RowWiseAdagrad::RowWiseAdagrad(int64_t num_rows, int64_t dim,
                               RowWiseAdagradOptions options)
    : num_rows_(num_rows), dim_(dim), options_(options) {
  check_learning_rate("rowwise_adagrad", options.lr);
  check_epsilon("rowwise_adagrad", options.eps);
  check_weight_decay("rowwise_adagrad", options.weight_decay);
  check_initial_accumulator("rowwise_adagrad",
                            options.initial_accumulator_value);
  mean_squares_.assign(static_cast<std::size_t>(num_rows),
                       options.initial_accumulator_value);
}

float RowWiseAdagrad::slice_square_sum(std::span<const float> weights,
                                       std::span<const float> gradient) const {
  const float decay = options_.weight_decay;
  float sum_of_squares = 0.0f;
  for (std::size_t d = 0; d < weights.size(); ++d) {
    const float g = decay > 0.0f ? gradient[d] + decay * weights[d] : gradient[d];
    sum_of_squares += g * g;
  }
  return sum_of_squares;
}

void RowWiseAdagrad::update_row_slice(int64_t row, std::span<float> weights,
                                      std::span<const float> gradient,
                                      float square_sum, int64_t full_dim) {
  const float decay = options_.weight_decay;
  float& accumulator = mean_squares_[row];
  accumulator += square_sum / static_cast<float>(full_dim);
  const float step = options_.lr / (std::sqrt(accumulator) + options_.eps);
  for (std::size_t d = 0; d < weights.size(); ++d) {
    const float g = decay > 0.0f ? gradient[d] + decay * weights[d] : gradient[d];
    weights[d] -= step * g;
  }
}

void RowWiseAdagrad::update_row(int64_t row, std::span<float> weights,
                                std::span<const float> gradient) {
  update_row_slice(row, weights, gradient, slice_square_sum(weights, gradient),
                   dim_);
}

}  // namespace rowshard
