#include <cmath>

#include "engine/cpu/level/level_kernels.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

void add_scaled_row(float scale, const float* upstream, const float* running, float* sum,
                    int64_t dim) {
#pragma omp simd
  for (int64_t d = 0; d < dim; ++d) sum[d] = std::fma(scale, upstream[d], running[d]);
}

void add_scaled_winners(float scale, const float* upstream, const float* running, float* sum,
                        const int64_t* winners, int64_t position, int64_t dim) {
  for (int64_t d = 0; d < dim; ++d)
    sum[d] = winners[d] == position ? std::fma(scale, upstream[d], running[d]) : running[d];
}

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
