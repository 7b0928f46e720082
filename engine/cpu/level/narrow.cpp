#include <immintrin.h>

#include <limits>

#include "engine/counter_hash.h"
#include "engine/cpu/level/level_kernels.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

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
void round_columns_stochastically(const float* values, Element* row, int64_t dim, uint64_t key,
                                  uint64_t first_counter) {
#pragma omp simd
  for (int64_t d = 0; d < dim; ++d)
    row[d] = round_stochastically<Element>(
        values[d], counter_hash(key, first_counter + static_cast<uint64_t>(d)));
}

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// GCC 12 has no vector type for _Float16, so the fp16 loop above stays
// scalar. This is round_stochastically for eight columns at a time, step
// for step: the nearest fp16, its two neighbours, the chance of the upper
// one and the uniform draw from the column's counter_hash bits. (Masked
// shifts and converts: GCC 12 warns that the unmasked ones read an
// uninitialised register.)
int64_t round_eight_at_a_time(const float* values, Float16* row, int64_t dim, uint64_t key,
                              uint64_t first_counter) {
  constexpr int kNearestEven = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m256 infinity = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m128i one = _mm_set1_epi16(1);
  // counter_hash(key, c) for eight counters: mix64(mix64(key) ^ c).
  using Words = uint64_t __attribute__((vector_size(64)));
  const __m512i stream = _mm512_set1_epi64(static_cast<long long>(mix64(key)));
  auto mix = [](__m512i x) { return reinterpret_cast<__m512i>(mix64(reinterpret_cast<Words>(x))); };
  const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    const __m256 value = _mm256_loadu_ps(values + d);
    const __m128i nearest = _mm256_cvtps_ph(value, kNearestEven);
    const __m256 back = _mm256_cvtph_ps(nearest);
    const __m256 magnitude = _mm256_andnot_ps(sign, value);
    const __mmask8 nearest_is_lower =
        _mm256_cmp_ps_mask(_mm256_andnot_ps(sign, back), magnitude, _CMP_LT_OQ);
    const __m128i lower =
        _mm_mask_sub_epi16(nearest, static_cast<__mmask8>(~nearest_is_lower), nearest, one);
    const __m128i upper = _mm_mask_add_epi16(nearest, nearest_is_lower, nearest, one);
    const __m256 low = _mm256_andnot_ps(sign, _mm256_cvtph_ps(lower));
    const __m256 high = _mm256_andnot_ps(sign, _mm256_cvtph_ps(upper));
    const __m256 chance_of_upper =
        _mm256_div_ps(_mm256_sub_ps(magnitude, low), _mm256_sub_ps(high, low));
    const __m512i counters = _mm512_add_epi64(
        _mm512_set1_epi64(static_cast<long long>(first_counter + static_cast<uint64_t>(d))), lane);
    const __m512i bits = mix(_mm512_xor_si512(stream, counters));
    const __m256 uniform =
        _mm256_mul_ps(_mm512_maskz_cvtepu64_ps(0xff, _mm512_maskz_srli_epi64(0xff, bits, 40)),
                      _mm256_set1_ps(0x1.0p-24f));
    const __m128i rounded =
        _mm_mask_mov_epi16(lower, _mm256_cmp_ps_mask(uniform, chance_of_upper, _CMP_LT_OQ), upper);
    const __mmask8 finite = _mm256_cmp_ps_mask(_mm256_andnot_ps(sign, back), infinity, _CMP_LT_OQ) &
                            _mm256_cmp_ps_mask(magnitude, infinity, _CMP_LT_OQ);
    const __mmask8 keep_nearest =
        _mm256_cmp_ps_mask(back, value, _CMP_EQ_OQ) | static_cast<__mmask8>(~finite);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + d),
                     _mm_mask_mov_epi16(rounded, keep_nearest, nearest));
  }
  return d;
}
#endif

}  // namespace

void narrow_stochastically(const float* values, Float16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter) {
  int64_t done = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  done = round_eight_at_a_time(values, row, dim, key, first_counter);
#endif
  round_columns_stochastically(values + done, row + done, dim - done, key,
                               first_counter + static_cast<uint64_t>(done));
}

void narrow_stochastically(const float* values, BFloat16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter) {
  round_columns_stochastically(values, row, dim, key, first_counter);
}

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
