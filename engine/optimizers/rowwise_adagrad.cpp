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
  // Sixteen running sums (column d into lane d % 16), added up in a fixed
  // order at the end: one long chain of dependent adds would make this loop
  // wait on latency, and the fixed order keeps the result the same on every
  // run and thread count.
  constexpr std::size_t kLanes = 16;
  float lanes[kLanes] = {};
  const float decay = options_.weight_decay;
  // Weight decay only when asked: 0 * w is not 0 for an infinite weight.
  auto decayed = [&](std::size_t d) {
    return decay > 0.0f ? gradient[d] + decay * weights[d] : gradient[d];
  };
  const std::size_t dim = weights.size();
  std::size_t d = 0;
  for (; d + kLanes <= dim; d += kLanes) {
#pragma omp simd
    for (std::size_t lane = 0; lane < kLanes; ++lane) {
      const float g = decayed(d + lane);
      lanes[lane] += g * g;
    }
  }
  for (std::size_t lane = 0; d < dim; ++d, ++lane) {
    const float g = decayed(d);
    lanes[lane] += g * g;
  }
  float sum_of_squares = 0.0f;
  for (float lane : lanes) sum_of_squares += lane;
  return sum_of_squares;
}

void RowWiseAdagrad::update_row_slice(int64_t row, std::span<float> weights,
                                      std::span<const float> gradient,
                                      float square_sum, int64_t full_dim) {
  const float decay = options_.weight_decay;
  float& accumulator = mean_squares_[row];
  accumulator += square_sum / static_cast<float>(full_dim);
  const float step = options_.lr / (std::sqrt(accumulator) + options_.eps);
  if (decay > 0.0f) {
#pragma omp simd
    for (std::size_t d = 0; d < weights.size(); ++d)
      weights[d] -= step * (gradient[d] + decay * weights[d]);
  } else {
#pragma omp simd
    for (std::size_t d = 0; d < weights.size(); ++d) weights[d] -= step * gradient[d];
  }
}

void RowWiseAdagrad::update_row(int64_t row, std::span<float> weights,
                                std::span<const float> gradient) {
  update_row_slice(row, weights, gradient, slice_square_sum(weights, gradient),
                   dim_);
}

}  // namespace rowshard
