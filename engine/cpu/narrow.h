// Rounding fp32 values into a stored row, vectorised: the counterpart of
// widen.h. Each column rounds to nearest, ties to even, exactly as
// from_float does. Written one element at a time, fp16 rounding compiles to
// a scalar convert and a 2-byte store per column, which made an fp16
// training step slower than an fp32 one.
//
// Compiled in the engine (with its target's instruction set), not inline,
// so that callers built for any target, tests included, run the same code.
#pragma once

#include <cstdint>

#include "engine/element_types.h"

namespace rowshard::cpu {

void narrow(const float* values, Float16* row, int64_t dim);
void narrow(const float* values, BFloat16* row, int64_t dim);

}  // namespace rowshard::cpu
