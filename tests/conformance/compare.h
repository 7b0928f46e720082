// Comparing computed arrays with a case's expected ones.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tests/conformance/conformance_case.h"

namespace rowshard::conformance {

// Thrown inside a case to stop it at its first mismatch; detail reads
// "array, flat index, expected, got".
struct Mismatch {
  std::string detail;
};

struct Tolerance {
  double rtol;
  double atol;
};

// Throws a Mismatch at the first element where |got - expected| exceeds
// atol + rtol * |expected| (NumPy's allclose; NaN matches NaN), or when the
// shapes differ. Nothing to compare when `expected` is absent.
void compare(std::string_view array, const std::optional<FloatArray>& expected,
             const Shape& got_shape, std::span<const float> got, Tolerance tolerance);

// The same for selected elements: got[i] against expected->values[at[i]].
void compare_at(std::string_view array, const std::optional<FloatArray>& expected,
                std::span<const int64_t> at, std::span<const float> got, Tolerance tolerance);

}  // namespace rowshard::conformance
