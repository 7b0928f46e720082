// Element-wise Adagrad on the looked-up rows, as torch.optim.Adagrad on a
// sparse gradient (lr_decay 0):
//
//   g      = g + weight_decay * w_r        (only when weight_decay > 0)
//   S_r    = S_r + g * g                   (element-wise; S starts at
//                                           initial_accumulator_value)
//   w_r    = w_r - lr * (g / (sqrt(S_r) + eps))
//
// State: one float per weight, [rows, dim]. PyTorch refuses weight decay
// with sparse gradients; here it is L2 on the touched rows only.
#pragma once

#include "rowshard/engine/optimizers/optimizer.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard {

struct AdagradOptions {
  float lr = 0.01f;
  float eps = 1e-10f;  // torch.optim.Adagrad's default
  float weight_decay = 0.0f;
  float initial_accumulator_value = 0.0f;
};

class Adagrad final : public RowOptimizer {
 public:
  // The state is placed as the table's weights are (Table::placement()).
  Adagrad(int64_t num_rows, int64_t dim, AdagradOptions options,
          MemoryPlacement placement = MemoryPlacement::host);
  // A copy would share the state's memory (RowStorage), so there is none.
  Adagrad(const Adagrad&) = delete;
  Adagrad& operator=(const Adagrad&) = delete;

  std::string_view name() const override { return "adagrad"; }
  void update_row(int64_t row, std::span<float> weights, std::span<const float> gradient) override;
  void prefetch_state(int64_t row) const override {
    __builtin_prefetch(sum_of_squares_.row<float>(row));
  }
  std::span<float> state() override {
    return {sum_of_squares_.mutable_row<float>(0), static_cast<std::size_t>(num_rows_ * dim_)};
  }
  std::span<const float> state() const override {
    return {sum_of_squares_.row<float>(0), static_cast<std::size_t>(num_rows_ * dim_)};
  }
  Shape state_shape() const override { return {num_rows_, dim_}; }
  MemoryPlacement state_placement() const override { return sum_of_squares_.placement(); }
  int64_t num_rows() const override { return num_rows_; }
  int64_t dim() const override { return dim_; }
  const AdagradOptions& options() const { return options_; }

 private:
  int64_t num_rows_;
  int64_t dim_;
  AdagradOptions options_;
  RowStorage sum_of_squares_;  // [rows, dim]
};

}  // namespace rowshard
