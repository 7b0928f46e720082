#include "rowshard/engine/optimizers/optimizer.h"

#include <algorithm>
#include <vector>

#include "engine/cpu/prefetch.h"

namespace rowshard {

void RowOptimizer::update_rows(std::span<const int64_t> rows, float* weights,
                               const float* gradients, int64_t first_row) {
  const int64_t dim = this->dim();
  const auto count = static_cast<int64_t>(rows.size());
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  for (int64_t i = 0; i < count; ++i) {
    cpu::prefetch_update_ahead(
        rows, i, row_bytes, [&](int64_t row) { return weights + (row - first_row) * dim; },
        [&](int64_t row) { prefetch_state(row); });
    const int64_t at = (rows[i] - first_row) * dim;
    update_row(rows[i], {weights + at, static_cast<std::size_t>(dim)},
               {gradients + at, static_cast<std::size_t>(dim)});
  }
}

void RowOptimizer::update_summed_rows(std::span<const int64_t> rows,
                                      std::span<const uint32_t> sum_end,
                                      std::span<const float* const> upstream, float* weights) {
  const int64_t dim = this->dim();
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  std::vector<float> gradient(static_cast<std::size_t>(dim));
  uint32_t begin = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    cpu::prefetch_update_ahead(
        rows, i, row_bytes, [&](int64_t row) { return weights + row * dim; },
        [&](int64_t row) { prefetch_state(row); });
    std::fill(gradient.begin(), gradient.end(), 0.0f);
    for (uint32_t j = begin; j < sum_end[i]; ++j) {
      cpu::prefetch_entries_ahead(j, static_cast<int64_t>(upstream.size()), row_bytes,
                                  [&](int64_t ahead) { return upstream[ahead]; });
      for (int64_t d = 0; d < dim; ++d) gradient[d] += upstream[j][d];
    }
    begin = sum_end[i];
    update_row(rows[i], {weights + rows[i] * dim, static_cast<std::size_t>(dim)}, gradient);
  }
}

}  // namespace rowshard
