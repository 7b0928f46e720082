// Row-wise Adagrad on a column shard: the row's mean of g*g must be taken
// over all D columns (TorchRec takes it over each shard's slice, which
// changes the math). Each shard's square sums are added up across shards
// first; this adapter then applies the update to the shard's slice with the
// row's total.
#pragma once

#include <algorithm>
#include <span>
#include <utility>

#include "rowshard/engine/optimizers/rowwise_adagrad.h"

namespace rowshard {

class ColumnSliceRowWiseAdagrad final : public RowOptimizer {
 public:
  // rows: ascending; square_sums[i]: row rows[i]'s sum over all columns.
  ColumnSliceRowWiseAdagrad(RowWiseAdagrad& slice_optimizer, std::span<const int64_t> rows,
                            std::span<const float> square_sums, int64_t full_dim)
      : slice_optimizer_(slice_optimizer),
        rows_(rows),
        square_sums_(square_sums),
        full_dim_(full_dim) {}

  std::string_view name() const override { return slice_optimizer_.name(); }
  void update_row(int64_t row, std::span<float> weights, std::span<const float> gradient) override {
    const auto at = std::lower_bound(rows_.begin(), rows_.end(), row) - rows_.begin();
    slice_optimizer_.update_row_slice(row, weights, gradient, square_sums_[at], full_dim_);
  }
  std::span<float> state() override { return slice_optimizer_.state(); }
  std::span<const float> state() const override { return std::as_const(slice_optimizer_).state(); }
  Shape state_shape() const override { return slice_optimizer_.state_shape(); }
  int64_t num_rows() const override { return slice_optimizer_.num_rows(); }
  int64_t dim() const override { return slice_optimizer_.dim(); }

 private:
  RowWiseAdagrad& slice_optimizer_;
  std::span<const int64_t> rows_;
  std::span<const float> square_sums_;
  int64_t full_dim_;
};

}  // namespace rowshard
