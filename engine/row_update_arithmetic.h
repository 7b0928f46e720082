// The per-entry and per-row arithmetic of the fused backward, written once
// for the host and the CUDA kernels. Each function computes what its CPU
// counterpart does, operation for operation, so that the GPU's results are
// the CPU engine's bits; the CPU suite checks each one against it
// (occurrence_scale, Sgd, Adagrad, RowWiseAdagrad).
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace rowshard {

// occurrence_scale (rowshard/engine/pooling.h) from its parts: the factor
// by which an entry scales its bag's upstream gradient, in double and
// rounded once.
ROWSHARD_HOST_DEVICE inline float entry_scale(bool mean, int64_t bag_entries,
                                              const float* per_sample_weight, int64_t frequency) {
  double scale = 1.0 / static_cast<double>(frequency);
  if (mean) scale /= static_cast<double>(bag_entries);
  if (per_sample_weight != nullptr) scale *= *per_sample_weight;
  return static_cast<float>(scale);
}

// The gradient with L2 weight decay; none asked, none added (0 * w is not 0
// for an infinite weight).
ROWSHARD_HOST_DEVICE inline float decayed_gradient(float gradient, float weight, float decay) {
  return decay > 0.0f ? gradient + decay * weight : gradient;
}

// Sgd::update_row for one column.
ROWSHARD_HOST_DEVICE inline float sgd_column(float weight, float gradient, float lr, float decay) {
  return weight - lr * decayed_gradient(gradient, weight, decay);
}

// Adagrad::update_row for one column and its sum of squares.
ROWSHARD_HOST_DEVICE inline float adagrad_column(float weight, float gradient,
                                                 float& sum_of_squares, float lr, float eps,
                                                 float decay) {
  const float g = decayed_gradient(gradient, weight, decay);
  sum_of_squares += g * g;
  return weight - lr * (g / (sqrtf(sum_of_squares) + eps));
}

// Row-wise Adagrad's sum over the columns of (g + decay * w)^2, as the CPU
// kernels take it (engine/cpu/level/rowwise_adagrad.cpp): column d into
// running sum d % 16, from zero, in column order; then the sixteen sums
// added pairwise, lane l + 8 into lane l, then l + 4, l + 2, l + 1.
inline constexpr int kRowWiseLanes = 16;

ROWSHARD_HOST_DEVICE inline float rowwise_square(float gradient, float weight, float decay) {
  const float g = decayed_gradient(gradient, weight, decay);
  return g * g;
}

ROWSHARD_HOST_DEVICE inline float add_lanes_pairwise(float (&lanes)[kRowWiseLanes]) {
  for (int width = kRowWiseLanes / 2; width > 0; width /= 2)
    for (int lane = 0; lane < width; ++lane) lanes[lane] += lanes[lane + width];
  return lanes[0];
}

// The whole square sum for a row in one thread (the host's way; a GPU warp
// computes the sixteen lanes in sixteen threads, then calls
// add_lanes_pairwise).
ROWSHARD_HOST_DEVICE inline float rowwise_square_sum(const float* weights, const float* gradient,
                                                     int64_t dim, float decay) {
  float lanes[kRowWiseLanes] = {};
  for (int64_t d = 0; d < dim; ++d)
    lanes[d % kRowWiseLanes] += rowwise_square(gradient[d], weights[d], decay);
  return add_lanes_pairwise(lanes);
}

// The row's accumulator after this step, and the step every column takes:
//   G_r += square_sum / dim;  step = lr / (sqrt(G_r) + eps)
struct RowWiseStep {
  float accumulator;
  float step;
};
ROWSHARD_HOST_DEVICE inline RowWiseStep rowwise_adagrad_step(float accumulator, float square_sum,
                                                             int64_t dim, float lr, float eps) {
  const float updated = accumulator + square_sum / static_cast<float>(dim);
  return {updated, lr / (sqrtf(updated) + eps)};
}

ROWSHARD_HOST_DEVICE inline float rowwise_adagrad_column(float weight, float gradient, float step,
                                                         float decay) {
  return weight - step * decayed_gradient(gradient, weight, decay);
}

}  // namespace rowshard
