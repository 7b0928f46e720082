// Optimizers applied by the fused backward, one row at a time.
//
// An optimizer belongs to one table: it is built for the table's shape and
// holds that table's state. The fused backward calls update_row() once per
// distinct looked-up row (padding excluded) with the row's summed gradient;
// no other row, and no other state entry, changes in that step.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "rowshard/engine/lookup_input.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard {

class RowOptimizer {
 public:
  virtual ~RowOptimizer() = default;

  virtual std::string_view name() const = 0;

  // Updates `weights` (the row's current fp32 values) given its summed
  // gradient, both of the table's dim. Safe to call concurrently for
  // distinct rows.
  virtual void update_row(int64_t row, std::span<float> weights,
                          std::span<const float> gradient) = 0;

  // Starts fetching row `row`'s state; the fused backward calls it a few
  // rows before update_row() so the update does not wait on memory.
  virtual void prefetch_state(int64_t /*row*/) const {}

  // update_row() for each of `rows` (distinct, ascending, none below
  // first_row): row r's fp32 weights at weights + (r - first_row) * dim(),
  // its gradient at gradients + (r - first_row) * dim(). The weights are an
  // fp32 table's own rows, or a reduced-precision block's rows widened. The
  // fused backward hands a block of rows at a time, so the per-row work is
  // not behind a virtual call; this default loops over update_row(),
  // prefetching rows ahead.
  virtual void update_rows(std::span<const int64_t> rows, float* weights, const float* gradients,
                           int64_t first_row);

  // update_rows() for rows whose gradients are sums of upstream rows, each
  // dim() floats: row rows[i]'s gradient is 0 + upstream[b] + ... +
  // upstream[e - 1], added in that order, for b = sum_end[i - 1] (0 for
  // i = 0) and e = sum_end[i]. `weights` is an fp32 table's row 0. The fused
  // backward of plain sums hands it its rows so, letting each row's sum be
  // formed in the pass that updates the row; this default sums each row
  // into a buffer and calls update_row().
  virtual void update_summed_rows(std::span<const int64_t> rows, std::span<const uint32_t> sum_end,
                                  std::span<const float* const> upstream, float* weights);

  // The optimizer's state, row-major with shape state_shape(); empty for
  // stateless optimizers. Exposed read-only; the mutable one is for
  // checkpoint restore.
  virtual std::span<float> state() = 0;
  virtual std::span<const float> state() const = 0;
  virtual Shape state_shape() const = 0;
  // Where the state lives: a cuda table steps only with an optimizer whose
  // state the GPU can read (make_optimizer with the table's placement).
  virtual MemoryPlacement state_placement() const { return MemoryPlacement::host; }

  // The table shape this optimizer was built for.
  virtual int64_t num_rows() const = 0;
  virtual int64_t dim() const = 0;
};

}  // namespace rowshard
