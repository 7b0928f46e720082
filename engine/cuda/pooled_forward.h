// The pooled lookup on the GPU (Backend::pooled_forward, gather_rows).
#pragma once

#include <span>

#include "engine/pooling_task.h"

namespace rowshard::cuda {

// Backend::pooled_forward: every task pooled in one launch.
[[nodiscard]] bool pooled_forward(std::span<const PoolingTask> tasks);
void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output);

}  // namespace rowshard::cuda
