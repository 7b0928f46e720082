#include "engine/cpu/pooling.h"

#include <algorithm>

#include "engine/cpu/prefetch.h"
#include "engine/element_types.h"

namespace rowshard::cpu {
namespace {

template <typename Element, PoolingMode mode, bool weighted>
void pool_bags(const RowStorage& weights, const PooledBatch& batch,
               std::span<float> output, std::span<int64_t> max_positions) {
  const int64_t dim = weights.dim();
  const int64_t num_indices = static_cast<int64_t>(batch.indices.size());
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(Element);

#pragma omp parallel for schedule(dynamic, 32)
  for (int64_t b = 0; b < batch.num_bags(); ++b) {
    float* __restrict out = &output[b * dim];
    std::fill(out, out + dim, 0.0f);
    int64_t entries = 0;
    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
      if (p + kPrefetchDistance < num_indices)
        prefetch_row(weights.row<Element>(batch.indices[p + kPrefetchDistance]),
                     row_bytes);
      const int64_t r = batch.indices[p];
      if (r == batch.padding_idx) continue;
      const Element* __restrict row = weights.row<Element>(r);
      if constexpr (mode == PoolingMode::max) {
        int64_t* positions = &max_positions[b * dim];
        if (entries == 0) {
          for (int64_t d = 0; d < dim; ++d) {
            out[d] = to_float(row[d]);
            positions[d] = p;
          }
        } else {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d) {
            const float value = to_float(row[d]);
            // Strictly greater: the first entry reaching the maximum keeps it.
            if (value > out[d]) {
              out[d] = value;
              positions[d] = p;
            }
          }
        }
      } else if constexpr (weighted) {
        const float scale = batch.per_sample_weights[p];
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) out[d] += scale * to_float(row[d]);
      } else {
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) out[d] += to_float(row[d]);
      }
      ++entries;
    }
    if constexpr (mode == PoolingMode::mean) {
      if (entries > 0) {
        const auto count = static_cast<float>(entries);
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) out[d] /= count;
      }
    }
    if constexpr (mode == PoolingMode::max) {
      if (entries == 0) std::fill_n(&max_positions[b * dim], dim, int64_t{-1});
    }
  }
}

}  // namespace

void pooled_forward(const RowStorage& weights, const PooledBatch& batch,
                    std::span<float> output,
                    std::span<int64_t> max_positions) {
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    switch (batch.mode) {
      case PoolingMode::sum:
        if (batch.per_sample_weights.empty())
          pool_bags<Element, PoolingMode::sum, false>(weights, batch, output,
                                                      max_positions);
        else
          pool_bags<Element, PoolingMode::sum, true>(weights, batch, output,
                                                     max_positions);
        break;
      case PoolingMode::mean:
        pool_bags<Element, PoolingMode::mean, false>(weights, batch, output,
                                                     max_positions);
        break;
      case PoolingMode::max:
        pool_bags<Element, PoolingMode::max, false>(weights, batch, output,
                                                    max_positions);
        break;
    }
  });
}

void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output) {
  const int64_t dim = weights.dim();
  const int64_t count = static_cast<int64_t>(indices.size());
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(Element);
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < count; ++p) {
      if (p + kPrefetchDistance < count)
        prefetch_row(weights.row<Element>(indices[p + kPrefetchDistance]),
                     row_bytes);
      const Element* row = weights.row<Element>(indices[p]);
      float* out = &output[p * dim];
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) out[d] = to_float(row[d]);
    }
  });
}

}  // namespace rowshard::cpu
