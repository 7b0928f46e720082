// fp16 and bf16 conversions on raw 16-bit patterns, written once for the
// host and the CUDA kernels: integer arithmetic only, so both sides give
// the same bits as element_types.h's to_float, from_float and
// round_stochastically (the CPU suite checks that, value for value).
// element_types.h's versions use _Float16, which device code has not.
#pragma once

#include <cstdint>
#include <cstring>

#include "engine/host_device.h"

namespace rowshard::bits {

ROWSHARD_HOST_DEVICE inline uint32_t of_float(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
ROWSHARD_HOST_DEVICE inline float to_float32(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
ROWSHARD_HOST_DEVICE inline float magnitude(float value) {
  return to_float32(of_float(value) & 0x7fffffffu);
}
ROWSHARD_HOST_DEVICE inline bool is_finite(float value) {
  return (of_float(value) & 0x7f800000u) != 0x7f800000u;
}

// IEEE half precision: 1 sign, 5 exponent, 10 mantissa bits.
struct Half {
  // Exact. A NaN stays a NaN, made quiet, as x86's conversion does.
  ROWSHARD_HOST_DEVICE static float widen(uint16_t half) {
    const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
    const uint32_t exponent = (half >> 10) & 0x1fu;
    const uint32_t mantissa = half & 0x3ffu;
    if (exponent == 0x1f)
      return to_float32(sign | 0x7f800000u | (mantissa << 13) | (mantissa != 0 ? 0x400000u : 0u));
    if (exponent == 0)  // zero or subnormal: mantissa * 2^-24, exact in fp32
      return to_float32(sign | of_float(static_cast<float>(mantissa) * 0x1p-24f));
    return to_float32(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }

  // Round to nearest, ties to even; past the largest half, infinity. A NaN
  // keeps its sign and top payload bits and is made quiet (x86's rule).
  ROWSHARD_HOST_DEVICE static uint16_t nearest(float value) {
    const uint32_t word = of_float(value);
    const uint32_t sign = (word >> 16) & 0x8000u;
    const uint32_t bits = word & 0x7fffffffu;
    if (bits > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((bits >> 13) & 0x3ffu));
    if (bits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520
    if (bits >= 0x38800000u) {                                              // a normal half
      const uint32_t odd = (bits >> 13) & 1u;
      return static_cast<uint16_t>(sign | ((bits - 0x38000000u + 0x0fffu + odd) >> 13));
    }
    if (bits <= 0x33000000u) return static_cast<uint16_t>(sign);  // <= 2^-25: ties to zero
    // A subnormal half: the 24-bit significand shifted to units of 2^-24.
    const uint32_t significand = (bits & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - (bits >> 23);
    const uint32_t rest = significand & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    uint32_t rounded = significand >> shift;
    if (rest > halfway || (rest == halfway && (rounded & 1u) != 0)) ++rounded;
    return static_cast<uint16_t>(sign | rounded);
  }
};

// bfloat16: the top 16 bits of an fp32.
struct BFloat {
  ROWSHARD_HOST_DEVICE static float widen(uint16_t value) {
    return to_float32(static_cast<uint32_t>(value) << 16);
  }
  // from_float<BFloat16>'s arithmetic.
  ROWSHARD_HOST_DEVICE static uint16_t nearest(float value) {
    const uint32_t word = of_float(value);
    const uint32_t round_to_even = 0x7fffu + ((word >> 16) & 1u);
    const bool is_nan = (word & 0x7fffffffu) > 0x7f800000u;
    return static_cast<uint16_t>(is_nan ? (word >> 16) | 0x40u : (word + round_to_even) >> 16);
  }
};

// round_stochastically (element_types.h), step for step, for Format Half or
// BFloat: the upper neighbour with probability
// (|value| - |lower|) / (|upper| - |lower|), drawn from the top 24 of
// `random_bits`; exact and non-finite values keep their nearest.
template <typename Format>
ROWSHARD_HOST_DEVICE uint16_t round_stochastically(float value, uint64_t random_bits) {
  const uint16_t nearest = Format::nearest(value);
  const float back = Format::widen(nearest);
  const bool nearest_is_lower = magnitude(back) < magnitude(value);
  const auto lower = static_cast<uint16_t>(nearest - (nearest_is_lower ? 0 : 1));
  const auto upper = static_cast<uint16_t>(nearest + (nearest_is_lower ? 1 : 0));
  const float low = magnitude(Format::widen(lower));
  const float high = magnitude(Format::widen(upper));
  const float chance_of_upper = (magnitude(value) - low) / (high - low);
  const float uniform = static_cast<float>(random_bits >> 40) * 0x1.0p-24f;
  const uint16_t rounded = uniform < chance_of_upper ? upper : lower;
  const bool keep_nearest = back == value || !is_finite(back) || !is_finite(value);
  return keep_nearest ? nearest : rounded;
}

}  // namespace rowshard::bits
