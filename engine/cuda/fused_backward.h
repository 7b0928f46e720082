// The exact fused backward on the GPU: entries grouped by row with a stable
// radix sort, each row's gradient summed once in a fixed order (no
// atomics), the optimizer applied in the same pass.
#pragma once

#include <memory>
#include <span>

#include "engine/backend.h"

namespace rowshard::cuda {

std::unique_ptr<StepWorkspace> make_step_workspace();
void fused_step(RowStorage& weights, std::span<const GradientSource> sources,
                RowOptimizer& optimizer, const StepSettings& settings, StepWorkspace& workspace);
SparseGradient sparse_gradient(int64_t num_rows, int64_t dim,
                               std::span<const GradientSource> sources, bool scale_grad_by_freq);
void dense_gradient(int64_t num_rows, int64_t dim, std::span<const GradientSource> sources,
                    bool scale_grad_by_freq, std::span<float> gradient);
void apply_gradients(RowStorage& weights, std::span<const int64_t> rows,
                     std::span<const float> gradients, RowOptimizer& optimizer,
                     const StepSettings& settings);

}  // namespace rowshard::cuda
