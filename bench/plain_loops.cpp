#include "bench/plain_loops.h"

#include <omp.h>

#include <vector>

#include "engine/cpu/prefetch.h"

namespace rowshard::bench {

float gather_rows(std::span<const float> values, int64_t dim, std::span<const int64_t> rows) {
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  const auto count = static_cast<int64_t>(rows.size());
  float total = 0.0f;
#pragma omp parallel reduction(+ : total)
  {
    const int threads = omp_get_num_threads();
    const int t = omp_get_thread_num();
    const int64_t first = count * t / threads;
    const int64_t end = count * (t + 1) / threads;
    std::vector<float> sum(static_cast<std::size_t>(dim), 0.0f);
    for (int64_t i = first; i < end; ++i) {
      cpu::prefetch_entries_ahead(i, end, row_bytes,
                                  [&](int64_t ahead) { return &values[rows[ahead] * dim]; });
      const float* row = &values[rows[i] * dim];
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) sum[d] += row[d];
    }
    for (const float value : sum) total += value;
  }
  return total;
}

void rewrite_rows(std::span<float> values, int64_t dim, std::span<const int64_t> rows) {
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
#pragma omp parallel
  {
    const int threads = omp_get_num_threads();
    const int t = omp_get_thread_num();
    const std::span<const int64_t> mine = rows.subspan(
        rows.size() * t / threads, rows.size() * (t + 1) / threads - rows.size() * t / threads);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      cpu::prefetch_update_ahead(
          mine, i, row_bytes, [&](int64_t row) { return &values[row * dim]; }, [](int64_t) {});
      float* row = &values[mine[i] * dim];
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) row[d] = row[d] * 0.5f + 1.0f;
    }
  }
}

}  // namespace rowshard::bench
