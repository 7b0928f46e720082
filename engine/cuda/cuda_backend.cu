// The CUDA backend: the Backend interface over the kernels of
// pooled_forward.cu and fused_backward.cu.
#include "engine/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include "engine/cuda/fused_backward.h"
#include "engine/cuda/pooled_forward.h"
#include "rowshard/engine/error.h"

namespace rowshard::cuda {
namespace {

class CudaBackend final : public Backend {
 public:
  Device device() const override { return Device::cuda; }
  bool pooled_forward(std::span<const PoolingTask> tasks) const override {
    return cuda::pooled_forward(tasks);
  }
  void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                   std::span<float> output) const override {
    cuda::gather_rows(weights, indices, output);
  }
  std::unique_ptr<StepWorkspace> make_step_workspace() const override {
    return cuda::make_step_workspace();
  }
  void fused_step(RowStorage& weights, std::span<const GradientSource> sources,
                  RowOptimizer& optimizer, const StepSettings& settings,
                  StepWorkspace& workspace) const override {
    cuda::fused_step(weights, sources, optimizer, settings, workspace);
  }
  SparseGradient sparse_gradient(int64_t num_rows, int64_t dim,
                                 std::span<const GradientSource> sources,
                                 bool scale_grad_by_freq) const override {
    return cuda::sparse_gradient(num_rows, dim, sources, scale_grad_by_freq);
  }
  void dense_gradient(int64_t num_rows, int64_t dim, std::span<const GradientSource> sources,
                      bool scale_grad_by_freq, std::span<float> gradient) const override {
    cuda::dense_gradient(num_rows, dim, sources, scale_grad_by_freq, gradient);
  }
  void apply_gradients(RowStorage& weights, std::span<const int64_t> rows,
                       std::span<const float> gradients, RowOptimizer& optimizer,
                       const StepSettings& settings) const override {
    cuda::apply_gradients(weights, rows, gradients, optimizer, settings);
  }
};

}  // namespace

bool is_built() { return true; }

std::string unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess)
    return message("no CUDA device answers (cudaGetDeviceCount: error ", static_cast<int>(status),
                   ", ", cudaGetErrorString(status), ")");
  if (count == 0) return "no CUDA device answers (cudaGetDeviceCount: 0 devices)";
  return {};
}

const Backend& backend(std::string_view owner) {
  static const std::string reason = unavailable_reason();
  if (!reason.empty()) throw InvalidArgument(message(owner, ": device cuda: ", reason));
  static const CudaBackend cuda_backend;
  return cuda_backend;
}

}  // namespace rowshard::cuda
