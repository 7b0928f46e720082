// Widening a stored row to fp32, vectorised: the compiler turns the
// element-wise conversions of Float16 into scalar instructions, which makes
// an fp16 lookup slower than an fp32 one instead of twice as fast.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/element_types.h"

namespace rowshard::cpu {

inline void widen(const float* row, float* out, int64_t dim) {
  std::memcpy(out, row, static_cast<std::size_t>(dim) * sizeof(float));
}

inline void widen(const Float16* row, float* out, int64_t dim) {
  int64_t d = 0;
#if defined(__AVX512F__)
  // The masked form with a zero source: GCC 12 warns that the unmasked
  // one reads an uninitialised register.
  for (; d + 16 <= dim; d += 16)
    _mm512_storeu_ps(out + d, _mm512_maskz_cvtph_ps(
                                  0xffff, _mm256_loadu_si256(reinterpret_cast<
                                              const __m256i*>(row + d))));
#elif defined(__F16C__)
  for (; d + 8 <= dim; d += 8)
    _mm256_storeu_ps(out + d, _mm256_cvtph_ps(_mm_loadu_si128(
                                  reinterpret_cast<const __m128i*>(row + d))));
#endif
  for (; d < dim; ++d) out[d] = to_float(row[d]);
}

inline void widen(const BFloat16* row, float* out, int64_t dim) {
  // bf16 is the top half of an fp32: a shift, which compilers vectorise.
  for (int64_t d = 0; d < dim; ++d) out[d] = to_float(row[d]);
}

}  // namespace rowshard::cpu
