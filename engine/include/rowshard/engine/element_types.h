// Storage element types and their conversions to and from fp32.
//
// Loads widen exactly. Stores round to nearest, ties to even, as PyTorch's
// .half() and .bfloat16() do.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#include "rowshard/engine/dtype.h"

namespace rowshard {

struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

inline float to_float(float value) { return value; }
inline float to_float(Float16 value) {
  return static_cast<float>(std::bit_cast<_Float16>(value.bits));
}
inline float to_float(BFloat16 value) {
  return std::bit_cast<float>(static_cast<uint32_t>(value.bits) << 16);
}

template <typename Element>
Element from_float(float value);

template <>
inline float from_float<float>(float value) {
  return value;
}
template <>
inline Float16 from_float<Float16>(float value) {
  return {std::bit_cast<uint16_t>(static_cast<_Float16>(value))};
}
template <>
inline BFloat16 from_float<BFloat16>(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t round_to_even = 0x7fffu + ((bits >> 16) & 1u);
  const uint32_t rounded = (bits + round_to_even) >> 16;
  // A NaN stays a quiet NaN (rounding could carry it into infinity). A
  // select, not an early return, so that loops of this vectorise.
  const bool is_nan = (bits & 0x7fffffffu) > 0x7f800000u;
  return {static_cast<uint16_t>(is_nan ? (bits >> 16) | 0x40u : rounded)};
}

// Rounds `value` to one of its two neighbours in Element, the upper with
// probability (|value| - |lower|) / (|upper| - |lower|), so that rounding
// is unbiased on average: small optimizer updates to reduced-precision
// weights are kept in expectation instead of always being rounded away.
// `random_bits` supplies the randomness (its top 24 bits are used).
template <typename Element>
Element round_stochastically(float value, uint64_t random_bits) {
  const Element nearest = from_float<Element>(value);
  const float back = to_float(nearest);
  // Same sign on both sides: stepping the bits by one moves one ulp in
  // magnitude, toward or away from zero.
  const bool nearest_is_lower = std::fabs(back) < std::fabs(value);
  const Element lower{static_cast<uint16_t>(nearest.bits - (nearest_is_lower ? 0 : 1))};
  const Element upper{static_cast<uint16_t>(nearest.bits + (nearest_is_lower ? 1 : 0))};
  const float low = std::fabs(to_float(lower));
  const float high = std::fabs(to_float(upper));
  const float chance_of_upper = (std::fabs(value) - low) / (high - low);
  const float uniform = static_cast<float>(random_bits >> 40) * 0x1.0p-24f;
  const Element rounded = uniform < chance_of_upper ? upper : lower;
  // Exact and non-finite values keep their nearest. Selects, not early
  // returns, so that loops of this vectorise.
  const bool keep_nearest = back == value || !std::isfinite(back) || !std::isfinite(value);
  return keep_nearest ? nearest : rounded;
}

// Calls visit(Element{}) with the C++ type that stores `dtype`, so one
// template serves every storage type without the caller switching.
template <typename Visitor>
decltype(auto) visit_element_type(DType dtype, Visitor&& visit) {
  switch (dtype) {
    case DType::f16: return visit(Float16{});
    case DType::bf16: return visit(BFloat16{});
    case DType::f32: break;
  }
  return visit(float{});
}

}  // namespace rowshard
