// Row-wise Adagrad (FBGEMM's EXACT_ROWWISE_ADAGRAD): one float of state per
// row instead of one per weight, for row r with summed gradient g of length D:
//
//   g   = g + weight_decay * w_r           (only when weight_decay > 0)
//   G_r = G_r + mean(g * g)                (mean over the D columns)
//   w_r = w_r - lr * g / (sqrt(G_r) + eps)
//
// State: [rows], starting at initial_accumulator_value.
#pragma once

#include <vector>

#include "rowshard/engine/optimizers/optimizer.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard {

struct RowWiseAdagradOptions {
  float lr = 0.01f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  float initial_accumulator_value = 0.0f;
};

class RowWiseAdagrad final : public RowOptimizer {
 public:
  // The state is placed as the table's weights are (Table::placement()).
  RowWiseAdagrad(int64_t num_rows, int64_t dim, RowWiseAdagradOptions options,
                 MemoryPlacement placement = MemoryPlacement::host);
  // A copy would share the state's memory (RowStorage), so there is none.
  RowWiseAdagrad(const RowWiseAdagrad&) = delete;
  RowWiseAdagrad& operator=(const RowWiseAdagrad&) = delete;

  std::string_view name() const override { return "rowwise_adagrad"; }
  void update_row(int64_t row, std::span<float> weights, std::span<const float> gradient) override;

  // update_row in two halves, for a row whose columns are split across
  // shards (column-wise sharding): each shard computes its slice's
  // sum of (g + weight_decay * w)^2, the shards add them up, and each
  // updates its slice with the total over all `full_dim` columns, so the
  // state is exactly what the unsplit row would have.
  float slice_square_sum(std::span<const float> weights, std::span<const float> gradient) const;
  void update_row_slice(int64_t row, std::span<float> weights, std::span<const float> gradient,
                        float square_sum, int64_t full_dim);
  void update_rows(std::span<const int64_t> rows, float* weights, const float* gradients,
                   int64_t first_row) override;
  void update_summed_rows(std::span<const int64_t> rows, std::span<const uint32_t> sum_end,
                          std::span<const float* const> upstream, float* weights) override;
  void prefetch_state(int64_t row) const override {
    __builtin_prefetch(mean_squares_.row<float>(row));
  }
  std::span<float> state() override {
    return {mean_squares_.mutable_row<float>(0), static_cast<std::size_t>(num_rows_)};
  }
  std::span<const float> state() const override {
    return {mean_squares_.row<float>(0), static_cast<std::size_t>(num_rows_)};
  }
  Shape state_shape() const override { return {num_rows_}; }
  MemoryPlacement state_placement() const override { return mean_squares_.placement(); }
  int64_t num_rows() const override { return num_rows_; }
  int64_t dim() const override { return dim_; }
  const RowWiseAdagradOptions& options() const { return options_; }

 private:
  int64_t num_rows_;
  int64_t dim_;
  RowWiseAdagradOptions options_;
  // [rows, 1]: a RowStorage, so a big table's state gets huge pages too
  // (its reads are as random as the rows').
  RowStorage mean_squares_;
};

}  // namespace rowshard
