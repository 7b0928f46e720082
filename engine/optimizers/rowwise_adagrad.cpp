#include "engine/optimizers/rowwise_adagrad.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/prefetch.h"
#include "engine/optimizers/validate_options.h"

namespace rowshard {
namespace {

// The kernels below take kDim > 0 to fix the dim at compile time (the
// common sizes: whole vectors, no loop overhead) or 0 for any dim. Both
// compute the same operations in the same order, so results are identical.

// Sum over the columns of (g + weight_decay * w)^2: sixteen running sums
// (column d into lane d % 16), added up in lane order at the end. One long
// chain of dependent adds would make this loop wait on latency, and the
// fixed order keeps the result the same on every run and thread count.
template <int64_t kDim>
float square_sum(const float* weights, const float* gradient, int64_t runtime_dim,
                 float decay) {
  const int64_t dim = kDim > 0 ? kDim : runtime_dim;
  constexpr int64_t kLanes = 16;
  float lanes[kLanes] = {};
  // Weight decay only when asked: 0 * w is not 0 for an infinite weight.
  auto decayed = [&](int64_t d) {
    return decay > 0.0f ? gradient[d] + decay * weights[d] : gradient[d];
  };
  int64_t d = 0;
  for (; d + kLanes <= dim; d += kLanes) {
#pragma omp simd
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      const float g = decayed(d + lane);
      lanes[lane] += g * g;
    }
  }
  if constexpr (kDim == 0 || kDim % kLanes != 0) {
    for (int64_t lane = 0; d < dim; ++d, ++lane) {
      const float g = decayed(d);
      lanes[lane] += g * g;
    }
  }
  float sum_of_squares = 0.0f;
  for (float lane : lanes) sum_of_squares += lane;
  return sum_of_squares;
}

// Adds the row's share to its accumulator and steps the row's columns.
template <int64_t kDim>
void step_row(float& accumulator, float* weights, const float* gradient,
              int64_t runtime_dim, float square_sum_part, int64_t full_dim,
              const RowWiseAdagradOptions& options) {
  const int64_t dim = kDim > 0 ? kDim : runtime_dim;
  const float decay = options.weight_decay;
  accumulator += square_sum_part / static_cast<float>(full_dim);
  const float step = options.lr / (std::sqrt(accumulator) + options.eps);
  if (decay > 0.0f) {
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d) weights[d] -= step * (gradient[d] + decay * weights[d]);
  } else {
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d) weights[d] -= step * gradient[d];
  }
}

template <int64_t kDim>
void update_block(std::span<const int64_t> rows, float* weights, const float* gradients,
                  int64_t first_row, int64_t runtime_dim, float* accumulators,
                  const RowWiseAdagradOptions& options) {
  const int64_t dim = kDim > 0 ? kDim : runtime_dim;
  const auto count = static_cast<int64_t>(rows.size());
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  for (int64_t i = 0; i < count; ++i) {
    cpu::prefetch_update_ahead(
        rows, i, row_bytes, [&](int64_t row) { return weights + (row - first_row) * dim; },
        [&](int64_t row) { cpu::prefetch_row(accumulators + row, sizeof(float)); });
    const int64_t row = rows[i];
    float* row_weights = weights + (row - first_row) * dim;
    const float* gradient = gradients + (row - first_row) * dim;
    step_row<kDim>(accumulators[row], row_weights, gradient, dim,
                   square_sum<kDim>(row_weights, gradient, dim, options.weight_decay), dim,
                   options);
  }
}

}  // namespace

RowWiseAdagrad::RowWiseAdagrad(int64_t num_rows, int64_t dim,
                               RowWiseAdagradOptions options)
    : num_rows_(num_rows), dim_(dim), options_(options) {
  check_learning_rate("rowwise_adagrad", options.lr);
  check_epsilon("rowwise_adagrad", options.eps);
  check_weight_decay("rowwise_adagrad", options.weight_decay);
  check_initial_accumulator("rowwise_adagrad",
                            options.initial_accumulator_value);
  mean_squares_ = RowStorage::allocate(num_rows, 1, DType::f32);
  std::span<float> accumulators = state();
  std::fill(accumulators.begin(), accumulators.end(), options.initial_accumulator_value);
}

float RowWiseAdagrad::slice_square_sum(std::span<const float> weights,
                                       std::span<const float> gradient) const {
  return square_sum<0>(weights.data(), gradient.data(),
                       static_cast<int64_t>(weights.size()), options_.weight_decay);
}

void RowWiseAdagrad::update_row_slice(int64_t row, std::span<float> weights,
                                      std::span<const float> gradient,
                                      float square_sum, int64_t full_dim) {
  step_row<0>(*mean_squares_.mutable_row<float>(row), weights.data(), gradient.data(),
              static_cast<int64_t>(weights.size()), square_sum, full_dim, options_);
}

void RowWiseAdagrad::update_row(int64_t row, std::span<float> weights,
                                std::span<const float> gradient) {
  update_row_slice(row, weights, gradient, slice_square_sum(weights, gradient),
                   dim_);
}

void RowWiseAdagrad::update_rows(std::span<const int64_t> rows, float* weights,
                                 const float* gradients, int64_t first_row) {
  switch (dim_) {
    case 64:
      update_block<64>(rows, weights, gradients, first_row, dim_, state().data(), options_);
      return;
    case 128:
      update_block<128>(rows, weights, gradients, first_row, dim_, state().data(), options_);
      return;
    default:
      update_block<0>(rows, weights, gradients, first_row, dim_, state().data(), options_);
      return;
  }
}

}  // namespace rowshard
