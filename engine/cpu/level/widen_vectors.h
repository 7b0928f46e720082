// Widening a stored row to fp32, vectorised: the compiler turns the
// element-wise conversions of Float16 into scalar instructions, which makes
// an fp16 lookup slower than an fp32 one instead of twice as fast.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/cpu/level/level_kernels.h"
#include "rowshard/engine/element_types.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

#if defined(__AVX512F__)
// Sixteen stored values as fp32, in one register: what widen() does a
// vector at a time, and what the fixed-dim kernels add up in registers.
inline __m512 load16(const float* values) { return _mm512_loadu_ps(values); }
inline __m512 load16(const Float16* values) {
  // The masked form with a zero source: GCC 12 warns that the unmasked one
  // reads an uninitialised register.
  return _mm512_maskz_cvtph_ps(0xffff,
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values)));
}
inline __m512 load16(const BFloat16* values) {
  // bf16 is the top half of an fp32: zero-extend each to 32 bits, shift
  // up. Masked forms again, for the same warning.
  const __m512i widened = _mm512_maskz_cvtepu16_epi32(
      0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values)));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xffff, widened, 16));
}
#endif

inline void widen(const float* row, float* out, int64_t dim) {
  std::memcpy(out, row, static_cast<std::size_t>(dim) * sizeof(float));
}

inline void widen(const Float16* row, float* out, int64_t dim) {
  int64_t d = 0;
#if defined(__AVX512F__)
  for (; d + 16 <= dim; d += 16) _mm512_storeu_ps(out + d, load16(row + d));
#elif defined(__F16C__)
  for (; d + 8 <= dim; d += 8)
    _mm256_storeu_ps(out + d,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + d))));
#endif
  for (; d < dim; ++d) out[d] = to_float(row[d]);
}

inline void widen(const BFloat16* row, float* out, int64_t dim) {
  // bf16 is the top half of an fp32: a shift, which compilers vectorise.
  for (int64_t d = 0; d < dim; ++d) out[d] = to_float(row[d]);
}

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
