#include "engine/reference/pooling.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rowshard/engine/element_types.h"

namespace rowshard::reference {

void pooled_forward(const RowStorage& weights, const PooledBatch& batch, std::span<float> output,
                    std::span<int64_t> max_positions) {
  const int64_t dim = weights.dim();
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    for (int64_t b = 0; b < batch.num_bags(); ++b) {
      float* out = &output[b * dim];
      std::fill(out, out + dim, 0.0f);
      int64_t entries = 0;
      for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
        const int64_t r = batch.indices[p];
        if (r == batch.padding_idx) continue;
        const Element* row = weights.row<Element>(r);
        for (int64_t d = 0; d < dim; ++d) {
          const float value = to_float(row[d]);
          switch (batch.mode) {
            case PoolingMode::sum:
              out[d] +=
                  batch.per_sample_weights.empty() ? value : batch.per_sample_weights[p] * value;
              break;
            case PoolingMode::mean: out[d] += value; break;
            case PoolingMode::max:
              if (entries == 0 || value > out[d]) {
                out[d] = value;
                max_positions[b * dim + d] = p;
              }
              break;
          }
        }
        ++entries;
      }
      if (batch.mode == PoolingMode::mean && entries > 0) {
        for (int64_t d = 0; d < dim; ++d) out[d] /= static_cast<float>(entries);
      }
      if (batch.mode == PoolingMode::max && entries == 0)
        std::fill_n(&max_positions[b * dim], dim, int64_t{-1});
    }
  });
}

void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output) {
  const int64_t dim = weights.dim();
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    for (std::size_t p = 0; p < indices.size(); ++p) {
      const Element* row = weights.row<Element>(indices[p]);
      for (int64_t d = 0; d < dim; ++d) output[p * dim + d] = to_float(row[d]);
    }
  });
}

void dense_gradient(const PooledBatch& batch, std::span<const int64_t> max_positions,
                    std::span<const float> grad_output, int64_t num_rows, int64_t dim,
                    bool scale_grad_by_freq, std::span<float> gradient) {
  std::fill(gradient.begin(), gradient.end(), 0.0f);
  std::vector<int64_t> occurrences(num_rows, 0);
  for (int64_t r : batch.indices) ++occurrences[r];

  for (int64_t b = 0; b < batch.num_bags(); ++b) {
    int64_t entries = 0;
    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p)
      if (batch.indices[p] != batch.padding_idx) ++entries;
    const float* upstream = &grad_output[b * dim];

    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
      const int64_t r = batch.indices[p];
      if (r == batch.padding_idx) continue;
      const float scale =
          occurrence_scale(batch, p, entries, scale_grad_by_freq ? occurrences[r] : 1);
      float* row_gradient = &gradient[r * dim];
      for (int64_t d = 0; d < dim; ++d) {
        if (batch.mode == PoolingMode::max && max_positions[b * dim + d] != p) continue;
        row_gradient[d] = std::fma(scale, upstream[d], row_gradient[d]);
      }
    }
  }
}

}  // namespace rowshard::reference
