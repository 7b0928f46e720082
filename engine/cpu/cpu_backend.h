// The CPU backend: OpenMP kernels, compiled per instruction-set level and
// chosen at run time (rowshard/engine/cpu_level.h).
#pragma once

#include "engine/backend.h"

namespace rowshard::cpu {

class CpuBackend final : public Backend {
 public:
  Device device() const override;
  bool pooled_forward(std::span<const PoolingTask> tasks) const override;
  void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                   std::span<float> output) const override;
  std::unique_ptr<StepWorkspace> make_step_workspace() const override;
  void fused_step(RowStorage& weights, std::span<const GradientSource> sources,
                  RowOptimizer& optimizer, const StepSettings& settings,
                  StepWorkspace& workspace) const override;
  SparseGradient sparse_gradient(int64_t num_rows, int64_t dim,
                                 std::span<const GradientSource> sources,
                                 bool scale_grad_by_freq) const override;
  void dense_gradient(int64_t num_rows, int64_t dim, std::span<const GradientSource> sources,
                      bool scale_grad_by_freq, std::span<float> gradient) const override;
  void apply_gradients(RowStorage& weights, std::span<const int64_t> rows,
                       std::span<const float> gradients, RowOptimizer& optimizer,
                       const StepSettings& settings) const override;
};

}  // namespace rowshard::cpu
