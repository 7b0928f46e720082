// Stochastic gradient descent on the looked-up rows:
//
//   g   = g + weight_decay * w_r     (only when weight_decay > 0)
//   w_r = w_r - lr * g
//
// As torch.optim.SGD (no momentum) on a sparse gradient. PyTorch refuses
// weight decay with sparse gradients; here it is L2 on the touched rows only.
#pragma once

#include "rowshard/engine/optimizers/optimizer.h"

namespace rowshard {

struct SgdOptions {
  float lr = 0.01f;
  float weight_decay = 0.0f;
};

class Sgd final : public RowOptimizer {
 public:
  Sgd(int64_t num_rows, int64_t dim, SgdOptions options);

  std::string_view name() const override { return "sgd"; }
  void update_row(int64_t row, std::span<float> weights, std::span<const float> gradient) override;
  std::span<float> state() override { return {}; }
  std::span<const float> state() const override { return {}; }
  Shape state_shape() const override { return {0}; }
  int64_t num_rows() const override { return num_rows_; }
  int64_t dim() const override { return dim_; }
  const SgdOptions& options() const { return options_; }

 private:
  int64_t num_rows_;
  int64_t dim_;
  SgdOptions options_;
};

}  // namespace rowshard
