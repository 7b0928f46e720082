// OpenMP kernels for pooled lookup. Each has the semantics of its namesake
// in engine/reference/pooling.h and is tested against it.
//
// Every bag is reduced by one thread in entry order, so results are
// bit-identical whatever the thread count. Rows a few entries ahead are
// prefetched: a random row gather waits on memory, not on arithmetic.
#pragma once

#include <cstdint>
#include <span>

#include "engine/pooling.h"
#include "engine/row_storage.h"

namespace rowshard::cpu {

void pooled_forward(const RowStorage& weights, const PooledBatch& batch,
                    std::span<float> output,
                    std::span<int64_t> max_positions);

void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output);

}  // namespace rowshard::cpu
