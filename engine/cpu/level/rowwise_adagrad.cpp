#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/level/level_kernels.h"
#include "engine/cpu/prefetch.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {
namespace {

// The kernels below take kDim > 0 to fix the dim at compile time (the
// common sizes: whole vectors, no loop overhead) or 0 for any dim. Both
// compute the same operations in the same order, so results are identical.

#if defined(__AVX512F__)
// Dims that are a multiple of 16, in AVX-512 registers: the same operations
// in the same order as the loops below (lane l of a vector is lane l of
// their `lanes`). Left to the compiler, the lanes went through the stack
// and the row update carried an aliasing check: updating rows already in
// cache (an fp16 table's rows, widened) took ~70 cycles a row, twice what
// these take.

// (gradient + decay * weights)^2 for 16 columns, or gradient^2.
inline __m512 decayed_squares(const float* weights, const float* gradient, float decay) {
  __m512 g = _mm512_loadu_ps(gradient);
  if (decay > 0.0f)
    g = _mm512_add_ps(g, _mm512_mul_ps(_mm512_set1_ps(decay), _mm512_loadu_ps(weights)));
  return _mm512_mul_ps(g, g);
}

// Lane l + 8 into lane l, then l + 4, l + 2, l + 1. All in 512-bit
// registers and with masked shuffles: GCC 12 warns that its extracts,
// casts to narrower vectors and unmasked shuffles read an uninitialised
// register.
inline float add_lanes_pairwise(__m512 lanes) {
  const __m512 eight = _mm512_add_ps(
      lanes, _mm512_maskz_shuffle_f32x4(0xffff, lanes, lanes, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 four = _mm512_add_ps(
      eight, _mm512_maskz_shuffle_f32x4(0xffff, eight, eight, _MM_SHUFFLE(1, 1, 1, 1)));
  const __m512 two =
      _mm512_add_ps(four, _mm512_maskz_permute_ps(0xffff, four, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 one =
      _mm512_add_ps(two, _mm512_maskz_permute_ps(0xffff, two, _MM_SHUFFLE(1, 1, 1, 1)));
  return _mm512_cvtss_f32(one);
}
#endif

// Sum over the columns of (g + weight_decay * w)^2: sixteen running sums
// (column d into lane d % 16), added up pairwise at the end (lane l + 8
// into lane l, then l + 4, l + 2, l + 1). One long chain of dependent adds
// would make the update wait on latency, and the fixed order keeps the
// result the same on every run and thread count.
template <int64_t kDim>
float square_sum(const float* weights, const float* gradient, int64_t runtime_dim, float decay) {
#if defined(__AVX512F__)
  if constexpr (kDim > 0 && kDim % 16 == 0) {
    __m512 lanes = _mm512_setzero_ps();
    for (int64_t d = 0; d < kDim; d += 16)
      lanes = _mm512_add_ps(lanes, decayed_squares(weights + d, gradient + d, decay));
    return add_lanes_pairwise(lanes);
  }
#endif
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
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t lane = 0; lane < width; ++lane) lanes[lane] += lanes[lane + width];
  return lanes[0];
}

// Adds the row's share to its accumulator and steps the row's columns.
template <int64_t kDim>
void step_row(float& accumulator, float* weights, const float* gradient, int64_t runtime_dim,
              float square_sum_part, int64_t full_dim, const RowWiseAdagradOptions& options) {
  const int64_t dim = kDim > 0 ? kDim : runtime_dim;
  const float decay = options.weight_decay;
  accumulator += square_sum_part / static_cast<float>(full_dim);
  const float step = options.lr / (std::sqrt(accumulator) + options.eps);
#if defined(__AVX512F__)
  if constexpr (kDim > 0 && kDim % 16 == 0) {
    const __m512 steps = _mm512_set1_ps(step);
    for (int64_t d = 0; d < kDim; d += 16) {
      const __m512 w = _mm512_loadu_ps(weights + d);
      __m512 g = _mm512_loadu_ps(gradient + d);
      if (decay > 0.0f) g = _mm512_add_ps(g, _mm512_mul_ps(_mm512_set1_ps(decay), w));
      _mm512_storeu_ps(weights + d, _mm512_sub_ps(w, _mm512_mul_ps(steps, g)));
    }
    return;
  }
#endif
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
    prefetch_update_ahead(
        rows, i, row_bytes, [&](int64_t row) { return weights + (row - first_row) * dim; },
        [&](int64_t row) { prefetch_row(accumulators + row, sizeof(float)); });
    const int64_t row = rows[i];
    float* row_weights = weights + (row - first_row) * dim;
    const float* gradient = gradients + (row - first_row) * dim;
    step_row<kDim>(accumulators[row], row_weights, gradient, dim,
                   square_sum<kDim>(row_weights, gradient, dim, options.weight_decay), dim,
                   options);
  }
}

// Row r's gradient: 0 + upstream[0] + ... + upstream[count - 1], into
// `gradient`, prefetching the upstream rows ahead of upstream[0] among the
// block's `end` (upstream[end - 1] is the block's last).
template <int64_t kDim>
void sum_upstream(const float* const* upstream, int64_t count, int64_t end, float* gradient,
                  int64_t runtime_dim) {
  const int64_t dim = kDim > 0 ? kDim : runtime_dim;
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  auto prefetch = [&](int64_t j) {
    prefetch_entries_ahead(j, end, row_bytes, [&](int64_t ahead) { return upstream[ahead]; });
  };
#if defined(__AVX512F__)
  if constexpr (kDim > 0 && kDim % 16 == 0) {
    constexpr int64_t kVectors = kDim / 16;
    __m512 sum[kVectors];
    for (int64_t k = 0; k < kVectors; ++k) sum[k] = _mm512_setzero_ps();
    for (int64_t j = 0; j < count; ++j) {
      prefetch(j);
      for (int64_t k = 0; k < kVectors; ++k)
        sum[k] = _mm512_add_ps(sum[k], _mm512_loadu_ps(upstream[j] + 16 * k));
    }
    for (int64_t k = 0; k < kVectors; ++k) _mm512_storeu_ps(gradient + 16 * k, sum[k]);
    return;
  }
#endif
  std::fill(gradient, gradient + dim, 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    prefetch(j);
    const float* row = upstream[j];
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d) gradient[d] += row[d];
  }
}

template <int64_t kDim>
void sum_and_update_block(std::span<const int64_t> rows, std::span<const uint32_t> sum_end,
                          std::span<const float* const> upstream, float* weights,
                          int64_t runtime_dim, float* accumulators,
                          const RowWiseAdagradOptions& options) {
  const int64_t dim = kDim > 0 ? kDim : runtime_dim;
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  alignas(64) float fixed_gradient[kDim > 0 ? kDim : 1];
  std::vector<float> any_dim_gradient(kDim > 0 ? 0 : dim);
  float* const gradient = kDim > 0 ? fixed_gradient : any_dim_gradient.data();
  uint32_t begin = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    prefetch_update_ahead(
        rows, i, row_bytes, [&](int64_t row) { return weights + row * dim; },
        [&](int64_t row) { prefetch_row(accumulators + row, sizeof(float)); });
    const uint32_t end = sum_end[i];
    // Each row's upstream rows lie on the remaining ones' path: the
    // prefetch runs over the whole block, not the row's own rows.
    sum_upstream<kDim>(upstream.data() + begin, end - begin,
                       static_cast<int64_t>(upstream.size()) - begin, gradient, dim);
    begin = end;
    float* row_weights = weights + rows[i] * dim;
    step_row<kDim>(accumulators[rows[i]], row_weights, gradient, dim,
                   square_sum<kDim>(row_weights, gradient, dim, options.weight_decay), dim,
                   options);
  }
}

}  // namespace

float rowwise_adagrad_square_sum(const float* weights, const float* gradient, int64_t dim,
                                 float decay) {
  return square_sum<0>(weights, gradient, dim, decay);
}

void rowwise_adagrad_step_row(float& accumulator, float* weights, const float* gradient,
                              int64_t dim, float square_sum, int64_t full_dim,
                              const RowWiseAdagradOptions& options) {
  step_row<0>(accumulator, weights, gradient, dim, square_sum, full_dim, options);
}

void rowwise_adagrad_update_rows(std::span<const int64_t> rows, float* weights,
                                 const float* gradients, int64_t first_row, int64_t dim,
                                 float* accumulators, const RowWiseAdagradOptions& options) {
  switch (dim) {
    case 64:
      update_block<64>(rows, weights, gradients, first_row, dim, accumulators, options);
      return;
    case 128:
      update_block<128>(rows, weights, gradients, first_row, dim, accumulators, options);
      return;
    default:
      update_block<0>(rows, weights, gradients, first_row, dim, accumulators, options);
      return;
  }
}

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

void rowwise_adagrad_sum_and_update_rows(std::span<const int64_t> rows,
                                         std::span<const uint32_t> sum_end,
                                         std::span<const float* const> upstream, float* weights,
                                         int64_t dim, float* accumulators,
                                         const RowWiseAdagradOptions& options) {
  switch (dim) {
    case 64:
      sum_and_update_block<64>(rows, sum_end, upstream, weights, dim, accumulators, options);
      return;
    case 128:
      sum_and_update_block<128>(rows, sum_end, upstream, weights, dim, accumulators, options);
      return;
    default:
      sum_and_update_block<0>(rows, sum_end, upstream, weights, dim, accumulators, options);
      return;
  }
}

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
