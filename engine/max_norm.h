// max_norm: looked-up rows whose norm exceeds max_norm are scaled down in
// place before the lookup reads them, as torch.embedding_renorm_ does:
//
//   for each distinct r in indices (padding_idx included):
//     n = norm_type-norm of W[r]            (norm_type may be +inf: max |x|)
//     if n > max_norm:  W[r] *= max_norm / (n + 1e-7)
#pragma once

#include <cstdint>
#include <span>

#include "rowshard/engine/row_storage.h"

namespace rowshard {

// `indices` must all be in [0, weights.num_rows()); weights must be writable.
void renormalize_rows(RowStorage& weights, std::span<const int64_t> indices, double max_norm,
                      double norm_type);

}  // namespace rowshard
