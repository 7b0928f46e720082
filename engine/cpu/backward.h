// The fused backward: each looked-up row's gradient, summed once, handed to
// a sink (an optimizer update, a sparse-gradient writer) and forgotten.
#pragma once

#include <cstdint>
#include <span>

#include "engine/pooling.h"
#include "engine/row_groups.h"

namespace rowshard::cpu {

// Receives the summed gradient of group `group` (row `row`). Called once per
// group, from several threads at once for different groups.
class RowGradientSink {
 public:
  virtual ~RowGradientSink() = default;
  virtual void consume(int64_t group, int64_t row,
                       std::span<const float> gradient) = 0;
};

// For each group of `groups` (made from batch.indices), computes the row's
// gradient exactly as reference::dense_gradient defines it for that row,
// summing its entries in ascending position order, and passes it to `sink`.
// `grad_output` is [num_bags, dim]; `max_positions` as the forward left it.
void for_each_row_gradient(const PooledBatch& batch, const RowGroups& groups,
                           std::span<const int64_t> max_positions,
                           std::span<const float> grad_output, int64_t dim,
                           bool scale_grad_by_freq, RowGradientSink& sink);

}  // namespace rowshard::cpu
