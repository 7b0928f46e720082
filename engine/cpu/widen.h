// Widening a stored row to fp32, vectorised (at the CPU level in use): the
// compiler turns the element-wise conversions of Float16 into scalar
// instructions, which makes an fp16 lookup slower than an fp32 one instead
// of twice as fast. The counterpart of narrow.h.
#pragma once

#include <cstdint>
#include <cstring>

#include "rowshard/engine/element_types.h"

namespace rowshard::cpu {

inline void widen(const float* row, float* out, int64_t dim) {
  std::memcpy(out, row, static_cast<std::size_t>(dim) * sizeof(float));
}
void widen(const Float16* row, float* out, int64_t dim);
void widen(const BFloat16* row, float* out, int64_t dim);

}  // namespace rowshard::cpu
