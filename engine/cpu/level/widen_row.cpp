#include "engine/cpu/level/level_kernels.h"
#include "engine/cpu/level/widen_vectors.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

void widen_row(const Float16* row, float* out, int64_t dim) { widen(row, out, dim); }
void widen_row(const BFloat16* row, float* out, int64_t dim) { widen(row, out, dim); }

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
