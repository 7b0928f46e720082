#include "tests/conformance/compare.h"

#include <cmath>

#include "rowshard/engine/error.h"

namespace rowshard::conformance {
namespace {

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += message(i ? ", " : "", shape[i]);
  return text + "]";
}

void check_element(std::string_view array, int64_t index, double want, double have,
                   Tolerance tolerance) {
  const bool both_nan = std::isnan(want) && std::isnan(have);
  if (!both_nan && !(std::fabs(have - want) <= tolerance.atol + tolerance.rtol * std::fabs(want)))
    throw Mismatch{message(array, ", ", index, ", ", want, ", ", have)};
}

}  // namespace

void compare(std::string_view array, const std::optional<FloatArray>& expected,
             const Shape& got_shape, std::span<const float> got, Tolerance tolerance) {
  if (!expected) return;
  if (expected->shape != got_shape)
    throw Mismatch{message(array, ", shape, expected ", shape_text(expected->shape), ", got ",
                           shape_text(got_shape))};
  for (std::size_t i = 0; i < got.size(); ++i)
    check_element(array, static_cast<int64_t>(i), expected->values[i], got[i], tolerance);
}

void compare_at(std::string_view array, const std::optional<FloatArray>& expected,
                std::span<const int64_t> at, std::span<const float> got, Tolerance tolerance) {
  if (!expected) return;
  for (std::size_t i = 0; i < got.size(); ++i)
    check_element(array, at[i], expected->values[at[i]], got[i], tolerance);
}

}  // namespace rowshard::conformance
