// Element types a table's weights can be stored in. Arithmetic is always
// done in fp32; reduced precision only halves the bytes moved per row.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace rowshard {

enum class DType { f32, f16, bf16 };

constexpr std::size_t dtype_size(DType dtype) { return dtype == DType::f32 ? 4 : 2; }

constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
  }
  return "?";
}

// The DType that dtype_name() calls `name`; nullopt for any other name.
constexpr std::optional<DType> dtype_from_name(std::string_view name) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16})
    if (name == dtype_name(dtype)) return dtype;
  return std::nullopt;
}

}  // namespace rowshard
