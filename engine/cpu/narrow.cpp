#include "engine/cpu/narrow.h"

#include <immintrin.h>

#include "engine/counter_hash.h"

namespace rowshard::cpu {

void narrow(const float* values, Float16* row, int64_t dim) {
  int64_t d = 0;
#if defined(__AVX512F__)
  // The masked form, as in widen(): GCC 12 warns that the unmasked one
  // reads an uninitialised register.
  for (; d + 16 <= dim; d += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + d),
                        _mm512_maskz_cvtps_ph(0xffff, _mm512_loadu_ps(values + d),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#elif defined(__F16C__)
  for (; d + 8 <= dim; d += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + d),
                     _mm256_cvtps_ph(_mm256_loadu_ps(values + d),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  for (; d < dim; ++d) row[d] = from_float<Float16>(values[d]);
}

void narrow(const float* values, BFloat16* row, int64_t dim) {
  // Integer arithmetic on the bits (from_float's), which compilers
  // vectorise; AVX512-BF16's convert would flush subnormals to zero.
#pragma omp simd
  for (int64_t d = 0; d < dim; ++d) row[d] = from_float<BFloat16>(values[d]);
}

namespace {

template <typename Element>
void round_columns_stochastically(const float* values, Element* row, int64_t dim,
                                  uint64_t key, uint64_t first_counter) {
#pragma omp simd
  for (int64_t d = 0; d < dim; ++d)
    row[d] = round_stochastically<Element>(
        values[d], counter_hash(key, first_counter + static_cast<uint64_t>(d)));
}

}  // namespace

void narrow_stochastically(const float* values, Float16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter) {
  round_columns_stochastically(values, row, dim, key, first_counter);
}

void narrow_stochastically(const float* values, BFloat16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter) {
  round_columns_stochastically(values, row, dim, key, first_counter);
}

}  // namespace rowshard::cpu
