// Placeholder until the forward kernels land.
#include "engine/cuda/pooled_forward.h"
#include "rowshard/engine/error.h"

namespace rowshard::cuda {

bool pooled_forward(std::span<const PoolingTask>) {
  throw Error("device cuda: the pooled forward kernel is not built yet");
}
void gather_rows(const RowStorage&, std::span<const int64_t>, std::span<float>) {
  throw Error("device cuda: the row gather kernel is not built yet");
}

}  // namespace rowshard::cuda
