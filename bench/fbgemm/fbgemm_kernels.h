// FBGEMM's fp32 sum-pooling kernels over one table, driven as PyTorch's CPU
// embedding bag drives them: OpenMP threads, each over its own contiguous
// range of bags. Bags are of fixed length, as in rowshard-bench's workload.
#pragma once

#include <cstdint>
#include <span>

#include <fbgemm/FbgemmEmbedding.h>

namespace rowshard::bench {

// One table's bags: `batch` bags of `pooling_factor` ids each, in order.
struct FixedBags {
  std::span<const int64_t> ids;      // batch * pooling_factor
  std::span<const int64_t> offsets;  // batch + 1, offsets[b] = b * pooling_factor
  int64_t batch;
  int64_t pooling_factor;
};

// The two JIT kernels for one row width, generated once and shared by the
// threads (their code is read-only).
class FbgemmKernels {
 public:
  // `row_stride`: floats between consecutive bags' outputs and gradients
  // (T * dim when T tables share one [batch, T * dim] output).
  FbgemmKernels(int64_t dim, int64_t row_stride);

  // output[b * row_stride + c] = sum of table[id * dim + c] over bag b's ids.
  void forward(const float* table, int64_t rows, const FixedBags& bags, float* output) const;

  // rowwise_sparse_adagrad_fused with the bags' output gradients: for every
  // id of bag b, state[id] += mean(grad_b^2) and the row moves by
  // -lr * grad_b / (sqrt(state[id]) + eps). Threads that share a row race on
  // it, as FBGEMM's callers accept.
  void fused_adagrad_step(float* table, float* state, int64_t rows, const FixedBags& bags,
                          const float* grad_output, float lr, float eps) const;

 private:
  int64_t row_stride_;
  fbgemm::EmbeddingSpMDMKernelSignature<float, int64_t, int64_t>::Type forward_;
  fbgemm::RowWiseSparseAdaGradFusedSignature<int64_t, int64_t, float>::Type step_;
};

}  // namespace rowshard::bench
