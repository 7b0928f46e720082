// Rounding fp32 values into a stored row, vectorised: the counterpart of
// widen.h. Each column rounds to nearest, ties to even, exactly as
// from_float does, or stochastically. Written one element at a time, fp16
// rounding compiles to a scalar convert and a 2-byte store per column,
// which made an fp16 training step slower than an fp32 one.
//
// Compiled in the engine once per CPU level (engine/cpu_level.h), not
// inline, so that callers built for any target, tests included, run the
// same code, vectorised for the CPU they run on.
#pragma once

#include <cstdint>

#include "rowshard/engine/element_types.h"

namespace rowshard::cpu {

void narrow(const float* values, Float16* row, int64_t dim);
void narrow(const float* values, BFloat16* row, int64_t dim);

// Rounds column d stochastically (round_stochastically) with the random
// bits counter_hash(key, first_counter + d), as one element at a time
// would, only vectorised: one at a time, it made stochastically rounded
// training ~9x slower than rounding to nearest.
void narrow_stochastically(const float* values, Float16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter);
void narrow_stochastically(const float* values, BFloat16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter);

}  // namespace rowshard::cpu
