#include "bench/fbgemm/fbgemm_kernels.h"

#include <omp.h>

#include <atomic>

#include "rowshard/engine/error.h"

namespace rowshard::bench {
namespace {

// FBGEMM's default, and what PyTorch asks for: rows this many ids ahead are
// prefetched.
constexpr int kPrefetch = 16;

struct BagRange {
  int64_t first, end;
};

// This thread's contiguous share of `batch` bags (static schedule).
BagRange this_threads_bags(int64_t batch) {
  const int64_t threads = omp_get_num_threads();
  const int64_t thread = omp_get_thread_num();
  return {batch * thread / threads, batch * (thread + 1) / threads};
}

// Runs kernel(range) on every thread's range of bags; the kernels report
// bad input (an id out of range, offsets past the ids) by returning false.
template <typename Kernel>
void over_bag_ranges(int64_t batch, const char* kernel_name, Kernel kernel) {
  std::atomic<bool> ok = true;
#pragma omp parallel
  {
    const BagRange range = this_threads_bags(batch);
    if (range.end > range.first && !kernel(range)) ok = false;
  }
  if (!ok) throw InvalidArgument(message("FBGEMM's ", kernel_name, " refused the batch"));
}

}  // namespace

FbgemmKernels::FbgemmKernels(int64_t dim, int64_t row_stride)
    : row_stride_(row_stride),
      forward_(fbgemm::GenerateEmbeddingSpMDMWithStrides<float, int64_t, int64_t>(
          dim, /*has_weight=*/false, /*normalize_by_lengths=*/false, kPrefetch,
          /*is_weight_positional=*/false, /*use_offsets=*/true, /*output_stride=*/row_stride)),
      step_(fbgemm::GenerateRowWiseSparseAdaGradFused<int64_t, int64_t, float>(
          static_cast<int>(dim), kPrefetch, /*use_offsets=*/true,
          /*use_stochastic_rounding=*/false, /*grad_stride=*/static_cast<int>(row_stride))) {}

// The kernels read only offset differences, so a thread's range is passed as
// its own slice of ids, offsets and outputs.
void FbgemmKernels::forward(const float* table, int64_t rows, const FixedBags& bags,
                            float* output) const {
  over_bag_ranges(bags.batch, "EmbeddingSpMDM", [&](BagRange range) {
    return forward_(range.end - range.first, (range.end - range.first) * bags.pooling_factor, rows,
                    table, bags.ids.data() + range.first * bags.pooling_factor,
                    bags.offsets.data() + range.first, /*weights=*/nullptr,
                    output + range.first * row_stride_);
  });
}

void FbgemmKernels::fused_adagrad_step(float* table, float* state, int64_t rows,
                                       const FixedBags& bags, const float* grad_output, float lr,
                                       float eps) const {
  // The kernel adds lr * g / (sqrt(h) + eps) (caffe2 passes a negative
  // rate); descent, as in rowshard, takes -lr.
  over_bag_ranges(bags.batch, "rowwise_sparse_adagrad_fused", [&](BagRange range) {
    return step_(range.end - range.first, (range.end - range.first) * bags.pooling_factor, rows,
                 table, grad_output + range.first * row_stride_, state,
                 bags.ids.data() + range.first * bags.pooling_factor,
                 bags.offsets.data() + range.first, eps, -lr);
  });
}

}  // namespace rowshard::bench
