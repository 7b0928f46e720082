#include "rowshard/engine/optimizers/adagrad.h"

#include <cmath>

#include "engine/optimizers/validate_options.h"

namespace rowshard {

Adagrad::Adagrad(int64_t num_rows, int64_t dim, AdagradOptions options)
    : num_rows_(num_rows), dim_(dim), options_(options) {
  check_learning_rate("adagrad", options.lr);
  check_epsilon("adagrad", options.eps);
  check_weight_decay("adagrad", options.weight_decay);
  check_initial_accumulator("adagrad", options.initial_accumulator_value);
  sum_of_squares_.assign(static_cast<std::size_t>(num_rows * dim),
                         options.initial_accumulator_value);
}

void Adagrad::update_row(int64_t row, std::span<float> weights, std::span<const float> gradient) {
  float* sums = &sum_of_squares_[row * dim_];
  const float decay = options_.weight_decay;
  for (int64_t d = 0; d < dim_; ++d) {
    const float g = decay > 0.0f ? gradient[d] + decay * weights[d] : gradient[d];
    sums[d] += g * g;
    weights[d] -= options_.lr * (g / (std::sqrt(sums[d]) + options_.eps));
  }
}

}  // namespace rowshard
