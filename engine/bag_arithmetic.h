// The per-bag arithmetic of the pooled lookup, written once for the CUDA
// kernel (engine/cuda/pooled_forward.cu) and tested on the host against
// engine/reference: how a stored element widens to fp32, how an entry
// joins a bag's column, and how a column is finished.
//
// A bag's column is pooled entry by entry in position order, as the CPU
// engine does (engine/cpu/level/pooling.cpp): one fp32 add per entry,
// after an fp32 multiply by the entry's weight (never fused: the library
// builds with -ffp-contract=off and nvcc with --fmad=false), a divide by
// the count for mean, a strict > for max. In that order the results are
// the CPU engine's, bit for bit.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "engine/host_device.h"
#include "rowshard/engine/dtype.h"
#include "rowshard/engine/pooling.h"

namespace rowshard {

// What a row element of `kDType` is stored as: fp32, or the 16 bits of an
// fp16 or bf16.
template <DType kDType>
using StorageOf = std::conditional_t<kDType == DType::f32, float, uint16_t>;

ROWSHARD_HOST_DEVICE inline float float_from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// fp16 bits as the fp32 of the same value (exact: subnormals, infinities
// and NaN payloads kept).
ROWSHARD_HOST_DEVICE inline float widen_f16_bits(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1fu) return float_from_bits(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return float_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return float_from_bits(sign);
  // Subnormal, mantissa * 2^-24: normalised by shifting its top bit to
  // the implicit one's place.
  uint32_t shift = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shift;
  }
  return float_from_bits(sign | ((113 - shift) << 23) | ((mantissa & 0x3ffu) << 13));
}

ROWSHARD_HOST_DEVICE inline float widen_bf16_bits(uint16_t bits) {
  return float_from_bits(static_cast<uint32_t>(bits) << 16);
}

template <DType kDType>
ROWSHARD_HOST_DEVICE inline float widen_element(StorageOf<kDType> stored) {
  if constexpr (kDType == DType::f32)
    return stored;
  else if constexpr (kDType == DType::f16)
    return widen_f16_bits(stored);
  else
    return widen_bf16_bits(stored);
}

// Whether `id` names a row of a table of `num_rows` (a negative id counts
// as huge).
ROWSHARD_HOST_DEVICE inline bool id_in_range(int64_t id, int64_t num_rows) {
  return static_cast<uint64_t>(id) < static_cast<uint64_t>(num_rows);
}

// Whether an entry reading row `id` is part of its bag: padding_idx
// entries are left out (and out of mean's count).
ROWSHARD_HOST_DEVICE inline bool entry_is_pooled(int64_t id, int64_t padding_idx) {
  return id != padding_idx;
}

// One column of one bag while its entries come in.
struct PooledColumn {
  float value = 0.0f;
  int64_t position = -1;  // max mode: the winning entry's position
};

// Entry `position` of the bag, the `entries_before`-th pooled one, with
// the row's value `value` in this column and per-sample weight `weight`
// (1 without per-sample weights: 1 * value is value, bit for bit).
ROWSHARD_HOST_DEVICE inline void pool_entry(PoolingMode mode, PooledColumn& column, float value,
                                            float weight, int64_t position,
                                            int64_t entries_before) {
  if (mode == PoolingMode::max) {
    // Strictly greater: the first entry reaching the maximum keeps it.
    if (entries_before == 0 || value > column.value) {
      column.value = value;
      column.position = position;
    }
    return;
  }
  const float weighted = weight * value;
  column.value += weighted;
}

// The column's result once all `entries` pooled entries are in: zero for
// an empty bag, the sum divided by the count for mean.
ROWSHARD_HOST_DEVICE inline float finished_value(PoolingMode mode, const PooledColumn& column,
                                                 int64_t entries) {
  if (entries == 0) return 0.0f;
  if (mode == PoolingMode::mean) return column.value / static_cast<float>(entries);
  return column.value;
}

}  // namespace rowshard
