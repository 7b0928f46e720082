#include "rowshard/engine/optimizers/optimizer.h"

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

}  // namespace rowshard
