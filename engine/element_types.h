// Storage element types and their conversions to and from fp32.
//
// Loads widen exactly. Stores round to nearest, ties to even, as PyTorch's
// .half() and .bfloat16() do.
#pragma once

#include <bit>
#include <cstdint>

#include "engine/dtype.h"

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
  if ((bits & 0x7fffffffu) > 0x7f800000u)  // NaN: keep it a quiet NaN
    return {static_cast<uint16_t>((bits >> 16) | 0x40u)};
  const uint32_t round_to_even = 0x7fffu + ((bits >> 16) & 1u);
  return {static_cast<uint16_t>((bits + round_to_even) >> 16)};
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
