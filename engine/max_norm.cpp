#include "engine/max_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "rowshard/engine/element_types.h"

namespace rowshard {
namespace {

template <typename Element>
double row_norm(const Element* row, int64_t dim, double norm_type) {
  double total = 0.0;
  for (int64_t d = 0; d < dim; ++d) {
    const double magnitude = std::fabs(static_cast<double>(to_float(row[d])));
    if (std::isinf(norm_type))
      total = std::max(total, magnitude);
    else if (norm_type == 1.0)
      total += magnitude;
    else if (norm_type == 2.0)
      total += magnitude * magnitude;
    else
      total += std::pow(magnitude, norm_type);
  }
  if (std::isinf(norm_type) || norm_type == 1.0) return total;
  if (norm_type == 2.0) return std::sqrt(total);
  return std::pow(total, 1.0 / norm_type);
}

}  // namespace

void renormalize_rows(RowStorage& weights, std::span<const int64_t> indices, double max_norm,
                      double norm_type) {
  std::vector<int64_t> distinct(indices.begin(), indices.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const int64_t dim = weights.dim();
  const auto count = static_cast<int64_t>(distinct.size());

  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) {
      Element* row = weights.mutable_row<Element>(distinct[i]);
      // PyTorch computes the norm in the row's precision but the scale in
      // double, then multiplies in the row's precision.
      const double norm = static_cast<float>(row_norm(row, dim, norm_type));
      if (norm <= max_norm) continue;
      const auto scale = static_cast<float>(max_norm / (norm + 1e-7));
      for (int64_t d = 0; d < dim; ++d) row[d] = from_float<Element>(to_float(row[d]) * scale);
    }
  });
}

}  // namespace rowshard
