// Placeholder until the backward kernels land.
#include "engine/cuda/fused_backward.h"
#include "rowshard/engine/error.h"

namespace rowshard::cuda {
namespace {
[[noreturn]] void not_built() {
  throw Error("device cuda: the fused backward kernels are not built yet");
}
}  // namespace

std::unique_ptr<StepWorkspace> make_step_workspace() { not_built(); }
void fused_step(RowStorage&, std::span<const GradientSource>, RowOptimizer&, const StepSettings&,
                StepWorkspace&) {
  not_built();
}
SparseGradient sparse_gradient(int64_t, int64_t, std::span<const GradientSource>, bool) {
  not_built();
}
void dense_gradient(int64_t, int64_t, std::span<const GradientSource>, bool, std::span<float>) {
  not_built();
}
void apply_gradients(RowStorage&, std::span<const int64_t>, std::span<const float>, RowOptimizer&,
                     const StepSettings&) {
  not_built();
}

}  // namespace rowshard::cuda
